// limelight-scale-bench: the CPU at catalogue scale, each figure beside its
// baseline measured in the same process (docs/benchmarks.md, "Catalogue
// scale"; "Reduced-precision item table"). Sections, chosen with
// --sections (default all):
//   adam     dense Adam and the gradient zeroing over a (V, D) table, 1 thread
//            against N, beside the same memory traffic with no arithmetic
//            (the floor); model initialisation (all tables and Adam moments)
//            at V items, 1 thread against N.
//   train    train_step on random sequences (B 256, length 50) at each --items
//            catalogue size, dense and --sparse, median step time (--modes
//            dense,sparse chooses which; a skipped one prints as "-"); then
//            --sparse at the largest against the smallest size, steps of the
//            two models alternated.
//   serve    one-sequence recommend (k 10, 199 items of history) over each
//            --serve-items size, against the unfused single-threaded path
//            (score every item into a buffer on one thread, then a heap pass
//            over it: the serving path before the fused one); and a batch of
//            64 sequences through recommend_batch against cblas_sgemm alone at
//            the same shape (64 x V x D) on N threads.
//   int8     the int8 item table (ServingPrecision::int8) against float32 on
//            the same model, alternated round by round: one-sequence
//            recommend (k 10, 199 items of history) and recommend_batch of 64
//            sequences of 50 (k 10, exclude seen) over each --serve-items
//            size; every answer checked identical (items and score bits).
// Every figure is the median of --repeats runs; ratios are of medians.
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "backend/backend.hpp"
#include "backend/cpu/parallel.hpp"
#include "limelight/error.hpp"
#include "limelight/model.hpp"
#include "limelight/random.hpp"
#include "limelight/tape.hpp"

namespace {

using namespace limelight;
using Clock = std::chrono::steady_clock;

struct Options {
  std::vector<std::int64_t> items{10'000, 100'000, 1'000'000, 10'000'000};
  std::vector<std::int64_t> serve_items{1'683, 100'000, 1'000'000};
  std::int64_t adam_items = 10'000'000;
  int threads = 2, repeats = 5, steps = 8;
  std::string sections = "adam,train,serve,int8";
  std::string modes = "dense,sparse";
  std::vector<std::string> representations{"pooling", "lstm"};
};

std::vector<std::int64_t> parse_list(const std::string& s) {
  std::vector<std::int64_t> out;
  std::size_t at = 0;
  while (at <= s.size()) {
    const std::size_t comma = std::min(s.find(',', at), s.size());
    out.push_back(std::stoll(s.substr(at, comma - at)));
    at = comma + 1;
  }
  return out;
}

std::vector<std::string> parse_names(const std::string& s) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at <= s.size()) {
    const std::size_t comma = std::min(s.find(',', at), s.size());
    out.push_back(s.substr(at, comma - at));
    at = comma + 1;
  }
  return out;
}

double seconds_of(const std::function<void()>& fn) {
  const auto t0 = Clock::now();
  fn();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double median_seconds(int repeats, const std::function<void()>& fn) {
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) t.push_back(seconds_of(fn));
  return median(t);
}

void set_threads(int n) { backend::get(Device::cpu).set_threads(n); }

ModelConfig config_for(const std::string& representation, int threads, bool sparse) {
  ModelConfig c;
  c.representation = parse_representation(representation);
  c.loss = "bpr";
  c.embedding_dim = 32;
  c.batch_size = 256;
  c.learning_rate = 1e-2;
  c.sparse = sparse;
  c.seed = 42;
  c.threads = threads;
  return c;
}

// The memory traffic of a dense Adam step with almost none of its arithmetic:
// four arrays read, three written, split over `threads` threads. It is the
// floor a memory-bound update can reach on this machine.
void adam_shaped_span(float* __restrict w, const float* __restrict g, float* __restrict m, float* __restrict v,
                      std::int64_t n) {
  for (std::int64_t k = 0; k < n; ++k) {
    const float x = g[k];
    m[k] += x;
    v[k] += x;
    w[k] += 0.5f * x;
  }
}

void adam_shaped_traffic(float* w, const float* g, float* m, float* v, std::int64_t n, int threads) {
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([=] {
      const std::int64_t k0 = n * t / threads, k1 = n * (t + 1) / threads;
      adam_shaped_span(w + k0, g + k0, m + k0, v + k0, k1 - k0);
    });
  for (std::thread& t : pool) t.join();
}

void bench_adam(const Options& o) {
  const std::int64_t D = 32, n = o.adam_items * D;
  std::printf("== adam, zeroing and initialisation at %lld items x %lld (median of %d) ==\n",
              static_cast<long long>(o.adam_items), static_cast<long long>(D), o.repeats);
  std::vector<float> w(n), g(n), m(n, 0.0f), v(n, 0.0f);
  Rng rng(1);
  for (std::int64_t i = 0; i < n; ++i) {
    w[i] = static_cast<float>(rng.uniform() - 0.5);
    g[i] = static_cast<float>(rng.uniform() - 0.5);
  }
  backend::Backend& be = backend::get(Device::cpu);
  const auto step = backend::AdamStep::make(1e-2, 0.9, 0.999, 1e-8, 0.0, 1);
  double adam[2], zero[2], floor[2];
  const int counts[2] = {1, o.threads};
  for (int t = 0; t < 2; ++t) {
    set_threads(counts[t]);
    be.adam_dense(step, w.data(), g.data(), m.data(), v.data(), n);  // warm
    // Adam and its floor alternate, so that both see the same machine.
    std::vector<double> adam_times, floor_times;
    for (int r = 0; r < o.repeats; ++r) {
      adam_times.push_back(seconds_of([&] { be.adam_dense(step, w.data(), g.data(), m.data(), v.data(), n); }));
      floor_times.push_back(
          seconds_of([&] { adam_shaped_traffic(w.data(), g.data(), m.data(), v.data(), n, counts[t]); }));
    }
    adam[t] = median(adam_times);
    floor[t] = median(floor_times);
    zero[t] = median_seconds(o.repeats, [&] { be.fill(m.data(), n, 0.0f); });
  }
  std::printf("dense adam step:    1 thread %8.1f ms   %d threads %8.1f ms   x%.2f\n", adam[0] * 1e3, o.threads,
              adam[1] * 1e3, adam[0] / adam[1]);
  std::printf("memory floor (adam-shaped traffic, 28 bytes an element): 1 thread %6.1f ms   %d threads %6.1f ms   "
              "x%.2f\n", floor[0] * 1e3, o.threads, floor[1] * 1e3, floor[0] / floor[1]);
  std::printf("  adam at %.0f%% (1 thread) and %.0f%% (%d threads) of the floor's rate\n", 100.0 * floor[0] / adam[0],
              100.0 * floor[1] / adam[1], o.threads);
  std::printf("gradient zeroing:   1 thread %8.1f ms   %d threads %8.1f ms   x%.2f\n", zero[0] * 1e3, o.threads,
              zero[1] * 1e3, zero[0] / zero[1]);
  w = {}; g = {}; m = {}; v = {};
  double init[2];
  for (int t = 0; t < 2; ++t) {
    std::vector<double> times;
    for (int r = 0; r < std::max(3, o.repeats / 2); ++r) {
      ImplicitSequenceModel model(config_for("pooling", counts[t], false));
      times.push_back(seconds_of([&] { model.initialize(static_cast<std::int32_t>(o.adam_items)); }));
    }
    init[t] = median(times);
  }
  std::printf("initialize (pooling): 1 thread %6.0f ms   %d threads %8.0f ms   x%.2f\n", init[0] * 1e3, o.threads,
              init[1] * 1e3, init[0] / init[1]);
}

// Random (B, L) windows of items in [1, V) and uniform negatives, like fit's.
void random_batch(Rng& rng, std::int64_t V, std::vector<std::int32_t>& seq, std::vector<std::int32_t>& neg) {
  for (auto& x : seq) x = static_cast<std::int32_t>(1 + rng.uniform_int(V - 1));
  for (auto& x : neg) x = static_cast<std::int32_t>(rng.uniform_int(V));
}

void bench_train(const Options& o) {
  const std::int64_t B = 256, L = 50;
  std::printf("== train_step, B %lld, length %lld, bpr, %d threads (median of %d steps after 2) ==\n",
              static_cast<long long>(B), static_cast<long long>(L), o.threads, o.steps);
  std::printf("%-10s %10s %12s %12s %10s\n", "model", "items", "dense ms", "sparse ms", "sparse/dense");
  for (const std::string& rep : o.representations)
    for (std::int64_t V : o.items) {
      double ms[2] = {0.0, 0.0};
      for (int sparse = 0; sparse < 2; ++sparse) {
        if (o.modes.find(sparse ? "sparse" : "dense") == std::string::npos) continue;
        ImplicitSequenceModel model(config_for(rep, o.threads, sparse != 0));
        model.initialize(static_cast<std::int32_t>(V));
        Rng rng(7);
        std::vector<std::int32_t> seq(B * L), neg(B * L);
        std::vector<double> times;
        for (int s = 0; s < o.steps + 2; ++s) {
          random_batch(rng, V, seq, neg);
          const Tensor st = Tensor::borrow(seq.data(), Shape{B, L}, DType::i32);
          const Tensor nt = Tensor::borrow(neg.data(), Shape{B, L}, DType::i32);
          const double t = seconds_of([&] { model.train_step(st, nt); });
          if (s >= 2) times.push_back(t);
        }
        ms[sparse] = median(times) * 1e3;
      }
      auto cell = [](double v) {
        char text[32] = "-";
        if (v > 0.0) std::snprintf(text, sizeof text, "%.2f", v);
        return std::string(text);
      };
      std::printf("%-10s %10lld %12s %12s %10s\n", rep.c_str(), static_cast<long long>(V), cell(ms[0]).c_str(),
                  cell(ms[1]).c_str(), cell(ms[0] > 0.0 ? ms[1] / ms[0] : 0.0).c_str());
      std::fflush(stdout);
    }
}

// The memory a row-sparse step cannot avoid at a big catalogue: for each
// distinct row of the batch (sorted, as the step lists them), the table row
// and its bias read and written, and the two Adam moments of each read and
// written, with no arithmetic but an addition, on both threads, prefetching
// a few rows ahead as lazy Adam does. The arrays are the bench's own, of the
// model's sizes, so the model is not touched.
struct RowTrafficFloor {
  std::int64_t V, D;
  std::vector<float> w, m, v, bw, bm, bv;
  RowTrafficFloor(std::int64_t V_, std::int64_t D_)
      : V(V_), D(D_), w(V_ * D_, 1.0f), m(V_ * D_, 0.0f), v(V_ * D_, 0.0f), bw(V_, 1.0f), bm(V_, 0.0f), bv(V_, 0.0f) {}
  void touch(const std::vector<std::int32_t>& rows, int threads) {
    cpu::parallel_chunks(threads, static_cast<std::int64_t>(rows.size()), 2, [&](int, std::int64_t r0, std::int64_t r1) {
      for (std::int64_t r = r0; r < r1; ++r) {
        if (r + 8 < r1) {
          const std::int64_t next = rows[static_cast<std::size_t>(r + 8)];
          for (std::int64_t d = 0; d < D; d += 16)
            for (std::vector<float>* a : {&w, &m, &v}) __builtin_prefetch(a->data() + next * D + d, 1);
          for (std::vector<float>* a : {&bw, &bm, &bv}) __builtin_prefetch(a->data() + next, 1);
        }
        const std::int64_t row = rows[static_cast<std::size_t>(r)];
        for (std::int64_t d = 0; d < D; ++d) {
          const float g = w[row * D + d];
          m[row * D + d] += g;
          v[row * D + d] += g;
          w[row * D + d] = g + 0.0f;
        }
        bm[row] += bw[row];
        bv[row] += bw[row];
      }
    });
  }
};

// --sparse at the largest catalogue against the smallest, steps alternated
// one for one between the two models, so that both see the same machine: on
// a shared guest single runs of the table above move by 1.5x between runs.
void bench_sparse_span(const Options& o) {
  if (o.modes.find("sparse") == std::string::npos || o.items.size() < 2) return;
  const std::int64_t B = 256, L = 50;
  const std::int64_t small = *std::min_element(o.items.begin(), o.items.end());
  const std::int64_t large = *std::max_element(o.items.begin(), o.items.end());
  std::printf("--sparse at %lld against %lld items, steps alternated (median of %d each after 2):\n",
              static_cast<long long>(large), static_cast<long long>(small), o.steps);
  for (const std::string& rep : o.representations) {
    ImplicitSequenceModel a(config_for(rep, o.threads, true)), b(config_for(rep, o.threads, true));
    a.initialize(static_cast<std::int32_t>(small));
    b.initialize(static_cast<std::int32_t>(large));
    Rng rng(7);
    std::vector<std::int32_t> seq(B * L), neg(B * L);
    RowTrafficFloor traffic(large, 32);
    std::vector<double> times[3];
    for (int s = 0; s < o.steps + 2; ++s)
      for (int which = 0; which < 2; ++which) {
        random_batch(rng, which == 0 ? small : large, seq, neg);
        const Tensor st = Tensor::borrow(seq.data(), Shape{B, L}, DType::i32);
        const Tensor nt = Tensor::borrow(neg.data(), Shape{B, L}, DType::i32);
        ImplicitSequenceModel& model = which == 0 ? a : b;
        const double t = seconds_of([&] { model.train_step(st, nt); });
        if (s >= 2) times[which].push_back(t);
        if (which == 1) {
          std::vector<std::int32_t> rows(seq);
          rows.insert(rows.end(), neg.begin(), neg.end());
          std::sort(rows.begin(), rows.end());
          rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
          const double f = seconds_of([&] { traffic.touch(rows, o.threads); });
          if (s >= 2) times[2].push_back(f);
        }
      }
    const double ms_small = median(times[0]) * 1e3, ms_large = median(times[1]) * 1e3;
    const double ms_floor = median(times[2]) * 1e3;
    std::printf("  %-10s %8.2f ms against %8.2f ms   x%.2f   (the large step's row traffic alone: %.2f ms)\n",
                rep.c_str(), ms_large, ms_small, ms_large / ms_small, ms_floor);
    std::fflush(stdout);
  }
}

// n item ids drawn from [1, V) (no padding): the serving benches' histories.
std::vector<std::int32_t> random_ids(Rng& rng, std::int64_t n, std::int64_t V) {
  std::vector<std::int32_t> ids(static_cast<std::size_t>(n));
  for (auto& x : ids) x = static_cast<std::int32_t>(1 + rng.uniform_int(V - 1));
  return ids;
}

// The floor of a one-sequence recommend: the item table and biases read once,
// split over `threads` chunks by the backend's own parallel_chunks (so the
// same fork and join), with additions only. Eight lanes of independent sums
// keep the loop vectorised and bound by memory.
typedef float ReadLanes __attribute__((vector_size(32)));

#if defined(__x86_64__)
__attribute__((target("avx2")))  // as wide as the scoring kernel's loads
#endif
float read_span(const float* p, std::int64_t n) {
  ReadLanes a[4] = {};
  std::int64_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int j = 0; j < 4; ++j) {
      ReadLanes x;
      std::memcpy(&x, p + i + 8 * j, sizeof x);
      a[j] += x;
    }
  float total = 0.0f;
  for (; i < n; ++i) total += p[i];
  for (int j = 0; j < 8; ++j) total += (a[0][j] + a[1][j]) + (a[2][j] + a[3][j]);
  return total;
}

float read_table_once(const float* table, const float* bias, std::int64_t V, std::int64_t D, int threads) {
  std::vector<float> sums(static_cast<std::size_t>(threads), 0.0f);
  cpu::parallel_chunks(threads, V, 2, [&](int chunk, std::int64_t v0, std::int64_t v1) {
    sums[static_cast<std::size_t>(chunk)] = read_span(table + v0 * D, (v1 - v0) * D) + read_span(bias + v0, v1 - v0);
  });
  float total = 0.0f;
  for (float s : sums) total += s;
  return total;
}

// One-sequence calls per round: about the same time a round at every size.
int one_sequence_calls(std::int64_t V) { return V >= 1'000'000 ? 20 : V >= 100'000 ? 200 : 2000; }

void bench_serve(const Options& o) {
  std::printf("== serving, %d threads (median of %d rounds) ==\n", o.threads, o.repeats);
  std::printf("%-10s %10s %14s %14s %8s %14s %10s\n", "model", "items", "unfused 1t ms", "recommend ms", "x",
              "read floor ms", "of floor");
  for (const std::string& rep : o.representations)
    for (std::int64_t V : o.serve_items) {
      ImplicitSequenceModel model(config_for(rep, o.threads, false));
      model.initialize(static_cast<std::int32_t>(V));
      Rng rng(3);
      const std::vector<std::int32_t> history = random_ids(rng, 199, V);
      const int calls = one_sequence_calls(V);
      std::vector<float> scores(static_cast<std::size_t>(V));
      std::vector<unsigned char> seen(static_cast<std::size_t>(V), 0);
      std::vector<backend::ScoredItem> top(10);
      std::vector<Recommendation> recs(10);
      auto unfused = [&] {
        model.score_batch(history.data(), 1, 199, scores.data());
        seen[0] = 1;
        backend::get(Device::cpu).top_k(scores.data(), V, seen.data(), 10, top.data());
      };
      auto fused = [&] { model.recommend_into(history, 10, false, recs); };
      const float* table = model.parameter("item_embeddings.weight").value.f32();
      const float* bias = model.parameter("item_biases.weight").value.f32();
      volatile float sink = 0.0f;
      auto floor = [&] { sink = sink + read_table_once(table, bias, V, 32, o.threads); };
      unfused();
      fused();
      double base, ours, least;
      {
        std::vector<double> a, b, f;
        for (int r = 0; r < o.repeats; ++r) {
          set_threads(1);
          a.push_back(seconds_of([&] { for (int i = 0; i < calls; ++i) unfused(); }) / calls);
          set_threads(o.threads);
          b.push_back(seconds_of([&] { for (int i = 0; i < calls; ++i) fused(); }) / calls);
          f.push_back(seconds_of([&] { for (int i = 0; i < calls; ++i) floor(); }) / calls);
        }
        base = median(a);
        ours = median(b);
        least = median(f);
      }
      // The two paths must agree.
      for (int i = 0; i < 10; ++i)
        LL_CHECK(top[static_cast<std::size_t>(i)].item == recs[static_cast<std::size_t>(i)].item,
                 "scale-bench: fused and unfused recommend disagree at rank ", i);
      std::printf("%-10s %10lld %14.3f %14.3f %8.2f %14.3f %9.0f%%\n", rep.c_str(), static_cast<long long>(V),
                  base * 1e3, ours * 1e3, base / ours, least * 1e3, 100.0 * least / ours);
      std::fflush(stdout);
    }
  // A batch of 64 over the largest catalogue against cblas_sgemm alone at that shape.
  const std::int64_t V = o.serve_items.back(), D = 32, R = 64, L = 50;
  ImplicitSequenceModel model(config_for("pooling", o.threads, false));
  model.initialize(static_cast<std::int32_t>(V));
  Rng rng(5);
  const std::vector<std::int32_t> seqs = random_ids(rng, R * L, V);
  std::vector<Recommendation> out(R * 10);
  std::vector<std::size_t> counts(R);
  const Parameter& E = model.parameter("item_embeddings.weight");
  std::vector<float> states(R * D), C(R * V);
  for (auto& x : states) x = static_cast<float>(rng.uniform() - 0.5);
  auto sgemm = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, R, static_cast<blasint>(V), D, 1.0f, states.data(), D,
                E.value.f32(), D, 0.0f, C.data(), static_cast<blasint>(V));
  };
  auto batch = [&] { model.recommend_batch(seqs.data(), R, L, 10, true, out.data(), counts.data()); };
  set_threads(o.threads);  // also puts OpenBLAS in single-threaded mode; the baseline sets its own
  batch();
  std::vector<double> a, b;
  for (int r = 0; r < o.repeats; ++r) {
    openblas_set_num_threads(o.threads);
    sgemm();
    a.push_back(seconds_of(sgemm));
    openblas_set_num_threads(1);
    b.push_back(seconds_of(batch));
  }
  const double flops = 2.0 * R * V * D;
  std::printf("batch of %lld over %lld items: sgemm alone (%d threads) %.2f ms = %.1f GFLOP/s; recommend_batch "
              "(k 10, exclude seen) %.2f ms = %.1f GFLOP/s = %.0f%% of sgemm\n",
              static_cast<long long>(R), static_cast<long long>(V), o.threads, median(a) * 1e3,
              flops / median(a) * 1e-9, median(b) * 1e3, flops / median(b) * 1e-9, 100.0 * median(a) / median(b));
}

bool same_answers(const std::vector<Recommendation>& a, const std::vector<Recommendation>& b) {
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].item != b[i].item || std::memcmp(&a[i].score, &b[i].score, sizeof(float)) != 0) return false;
  return true;
}

void bench_int8(const Options& o) {
  std::printf("== int8 item table against float32, %d threads (median of %d rounds) ==\n", o.threads, o.repeats);
  std::printf("%-10s %10s %12s %12s %8s %14s %14s %8s\n", "model", "items", "one f32 ms", "one int8 ms", "x",
              "batch f32 ms", "batch int8 ms", "x");
  set_threads(o.threads);
  for (const std::string& rep : o.representations)
    for (std::int64_t V : o.serve_items) {
      ImplicitSequenceModel model(config_for(rep, o.threads, false));
      model.initialize(static_cast<std::int32_t>(V));
      Rng rng(3);
      const std::vector<std::int32_t> history = random_ids(rng, 199, V);
      const std::int64_t R = 64, L = 50;
      const std::vector<std::int32_t> seqs = random_ids(rng, R * L, V);
      const int calls = one_sequence_calls(V);
      const int batch_calls = V >= 1'000'000 ? 2 : V >= 100'000 ? 10 : 100;
      std::vector<Recommendation> one[2], batch[2];
      std::vector<std::size_t> counts[2];
      std::vector<double> t_one[2], t_batch[2];
      for (int p = 0; p < 2; ++p) {
        one[p].resize(10);
        batch[p].resize(R * 10);
        counts[p].resize(R);
      }
      auto precision = [&](int p) {
        model.set_serving_precision(p == 0 ? ServingPrecision::f32 : ServingPrecision::int8);
        model.recommend_into(history, 10, false, one[p]);  // builds the int8 copy outside the timing
      };
      for (int r = 0; r < o.repeats; ++r)
        for (int p = 0; p < 2; ++p) {
          precision(p);
          t_one[p].push_back(seconds_of([&] {
                               for (int i = 0; i < calls; ++i) model.recommend_into(history, 10, false, one[p]);
                             }) / calls);
          t_batch[p].push_back(seconds_of([&] {
                                 for (int i = 0; i < batch_calls; ++i)
                                   model.recommend_batch(seqs.data(), R, L, 10, true, batch[p].data(),
                                                         counts[p].data());
                               }) / batch_calls);
        }
      LL_CHECK(same_answers(one[0], one[1]), "scale-bench: int8 and f32 recommend differ (", rep, ", ", V, ")");
      LL_CHECK(counts[0] == counts[1] && same_answers(batch[0], batch[1]),
               "scale-bench: int8 and f32 recommend_batch differ (", rep, ", ", V, ")");
      const double a = median(t_one[0]), b = median(t_one[1]), c = median(t_batch[0]), d = median(t_batch[1]);
      std::printf("%-10s %10lld %12.3f %12.3f %8.2f %14.2f %14.2f %8.2f\n", rep.c_str(), static_cast<long long>(V),
                  a * 1e3, b * 1e3, a / b, c * 1e3, d * 1e3, c / d);
      std::fflush(stdout);
    }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto value = [&]() -> std::string {
        LL_CHECK(i + 1 < argc, "limelight-scale-bench: ", a, " needs a value");
        return argv[++i];
      };
      if (a == "--items") o.items = parse_list(value());
      else if (a == "--serve-items") o.serve_items = parse_list(value());
      else if (a == "--adam-items") o.adam_items = std::stoll(value());
      else if (a == "--threads") o.threads = std::stoi(value());
      else if (a == "--repeats") o.repeats = std::stoi(value());
      else if (a == "--steps") o.steps = std::stoi(value());
      else if (a == "--sections") o.sections = value();
      else if (a == "--modes") o.modes = value();
      else if (a == "--representations") o.representations = parse_names(value());
      else {
        std::printf("usage: limelight-scale-bench [--sections adam,train,serve,int8] [--items LIST] [--serve-items LIST]\n"
                    "  [--adam-items N] [--threads N] [--repeats N] [--steps N] [--representations LIST]\n"
                    "  [--modes dense,sparse]\n");
        return a == "--help" ? 0 : 2;
      }
    }
    if (o.sections.find("adam") != std::string::npos) bench_adam(o);
    if (o.sections.find("train") != std::string::npos) {
      bench_train(o);
      bench_sparse_span(o);
    }
    if (o.sections.find("serve") != std::string::npos) bench_serve(o);
    if (o.sections.find("int8") != std::string::npos) bench_int8(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
