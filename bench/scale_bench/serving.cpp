// limelight-scale-bench's serve and int8 sections: one-sequence recommend
// against the unfused path and the table's read floor, a batch against
// cblas_sgemm alone, and the int8 item table against float32.
#include <cblas.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "backend/cpu/parallel.hpp"
#include "bench_common.hpp"
#include "limelight/error.hpp"
#include "limelight/random.hpp"
#include "limelight/tape.hpp"
#include "scale_bench/scale_bench.hpp"

namespace limelight::bench {
namespace {

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

// What a row of the serve and int8 tables starts from: a model initialised at
// V items, the 199-item history it answers (the first draws of `rng`, which
// the int8 section goes on drawing its batch from), and the calls of a round.
struct ServingSetup {
  ImplicitSequenceModel model;
  Rng rng{3};
  std::vector<std::int32_t> history;
  int calls;
  ServingSetup(const std::string& representation, std::int64_t V, int threads)
      : model(config_for(representation, threads, false)) {
    model.initialize(static_cast<std::int32_t>(V));
    history = random_ids(rng, 199, V);
    calls = one_sequence_calls(V);
  }
};

}  // namespace

void bench_serve(const Options& o) {
  std::printf("== serving, %d threads (median of %d rounds) ==\n", o.threads, o.repeats);
  std::printf("%-10s %10s %14s %14s %8s %14s %10s\n", "model", "items", "unfused 1t ms", "recommend ms", "x",
              "read floor ms", "of floor");
  for (const std::string& rep : o.representations)
    for (std::int64_t V : o.serve_items) {
      ServingSetup setup(rep, V, o.threads);
      auto& [model, rng, history, calls] = setup;
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


void bench_int8(const Options& o) {
  std::printf("== int8 item table against float32, %d threads (median of %d rounds) ==\n", o.threads, o.repeats);
  std::printf("%-10s %10s %12s %12s %8s %14s %14s %8s\n", "model", "items", "one f32 ms", "one int8 ms", "x",
              "batch f32 ms", "batch int8 ms", "x");
  set_threads(o.threads);
  for (const std::string& rep : o.representations)
    for (std::int64_t V : o.serve_items) {
      ServingSetup setup(rep, V, o.threads);
      auto& [model, rng, history, calls] = setup;
      const std::int64_t R = 64, L = 50;
      const std::vector<std::int32_t> seqs = random_ids(rng, R * L, V);
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
      LL_CHECK(same_recommendations(one[0].data(), one[1].data(), one[0].size()),
               "scale-bench: int8 and f32 recommend differ (", rep, ", ", V, ")");
      LL_CHECK(counts[0] == counts[1] && same_recommendations(batch[0].data(), batch[1].data(), batch[0].size()),
               "scale-bench: int8 and f32 recommend_batch differ (", rep, ", ", V, ")");
      const double a = median(t_one[0]), b = median(t_one[1]), c = median(t_batch[0]), d = median(t_batch[1]);
      std::printf("%-10s %10lld %12.3f %12.3f %8.2f %14.2f %14.2f %8.2f\n", rep.c_str(), static_cast<long long>(V),
                  a * 1e3, b * 1e3, a / b, c * 1e3, d * 1e3, c / d);
      std::fflush(stdout);
    }
}

}  // namespace limelight::bench
