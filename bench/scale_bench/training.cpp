// limelight-scale-bench's adam and train sections: dense Adam, gradient
// zeroing and initialisation over a (V, D) table beside their memory floor,
// and train steps at growing catalogues, dense against --sparse.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "backend/cpu/parallel.hpp"
#include "bench_common.hpp"
#include "limelight/random.hpp"
#include "limelight/tape.hpp"
#include "scale_bench/scale_bench.hpp"

namespace limelight::bench {
namespace {

double median_seconds(int repeats, const std::function<void()>& fn) {
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) t.push_back(seconds_of(fn));
  return median(t);
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


// Random (B, L) windows of items in [1, V) and uniform negatives, like fit's.
void random_batch(Rng& rng, std::int64_t V, std::vector<std::int32_t>& seq, std::vector<std::int32_t>& neg) {
  for (auto& x : seq) x = static_cast<std::int32_t>(1 + rng.uniform_int(V - 1));
  for (auto& x : neg) x = static_cast<std::int32_t>(rng.uniform_int(V));
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

}  // namespace

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

}  // namespace limelight::bench
