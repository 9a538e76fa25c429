// limelight-gpu-bench: a short benchmark of the GPU primitives, run by
// bench/gpu_check.sh on the GPU machine. Each figure is the mean of timed
// repetitions between CUDA events after warm-up, and bandwidth-bound
// kernels are set beside a device-to-device cudaMemcpy measured in the same
// process: scoring with top-k over a 1M-item catalogue, the embedding
// gather and its deterministic sparse backward at a training batch, and
// lazy against dense Adam on a 10M x 32 table, and the layers of a training
// step (the causal convolution; the LSTM as the hand-written kernel against
// cuDNN's RNN, alternated in this process), and one-sequence predict and
// recommend through the model on device "cuda" at 1.7K, 1M and 10M items
// (host wall time per call, the CPU's recommend beside it). Prints one
// compact table.
//
// Built against the CUDA emulator (-Dgpu_emulator=true) it times nothing:
// it prints what the emulator counted, what a device would pay for whatever
// its speed. For score_top_k, the warp shuffles per item and user of the
// scoring pass, and the kernels and host waits per call; for a training
// step of each representation, the kernels queued and the host waits.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "backend/cuda/check.hpp"
#include "backend/cuda/context.hpp"
#include "backend/cuda/device.hpp"
#include "backend/cuda/layers.hpp"
#include "backend/cuda/primitives.hpp"
#include "limelight/adam.hpp"
#include "limelight/model.hpp"
#include "limelight/tape.hpp"
#include "limelight_config.h"

using namespace limelight;
using namespace limelight::cuda;
using namespace limelight::cuda::raw;  // the kernels' own call forms

namespace {

struct Row {
  std::string op, shape;
  double ms, gbps;
  std::string note;
};

// Mean milliseconds of `reps` calls after `warmup` calls.
double time_ms(Context& ctx, int warmup, int reps, const std::function<void()>& f) {
  for (int i = 0; i < warmup; ++i) f();
  cudaEvent_t start, stop;
  CUDA_CHECK(cudaEventCreate(&start));
  CUDA_CHECK(cudaEventCreate(&stop));
  CUDA_CHECK(cudaEventRecord(start, ctx.stream()));
  for (int i = 0; i < reps; ++i) f();
  CUDA_CHECK(cudaEventRecord(stop, ctx.stream()));
  CUDA_CHECK(cudaEventSynchronize(stop));
  float ms = 0.0f;
  CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  CUDA_CHECK(cudaEventDestroy(start));
  CUDA_CHECK(cudaEventDestroy(stop));
  ctx.synchronize();
  return ms / reps;
}

// Deterministic pseudo-random host data (fast enough for tens of millions).
std::vector<float> host_floats(std::size_t n, std::uint64_t seed) {
  std::vector<float> v(n);
  for (auto& x : v) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    x = static_cast<float>(static_cast<std::int64_t>(seed >> 40) - (1 << 23)) / static_cast<float>(1 << 23);
  }
  return v;
}

std::vector<std::int32_t> host_ids(std::size_t n, std::int64_t V, std::uint64_t seed) {
  std::vector<std::int32_t> v(n);
  for (auto& x : v) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    x = static_cast<std::int32_t>(1 + (seed >> 33) % static_cast<std::uint64_t>(V - 1));
  }
  return v;
}

double gb_per_s(double bytes, double ms) { return bytes / (ms * 1e-3) / 1e9; }

// Forward and backward of one causal convolution layer and of one LSTM
// layer (each path) at a training batch: B = 256 sequences of T = 50 steps,
// 32 channels. The LSTM paths alternate, three rounds each, and the best
// round of each is kept, so that both see the same machine state.
void time_layers(Context& ctx, std::vector<Row>& rows) {
  install_allocator();
  Arena scratch(Device::cuda);
  const std::int64_t B = 256, T = 50, C = 32, H = 32, G = 4 * H, K = 3, dilation = 2;
  auto up = [&](std::size_t n, std::uint64_t seed) { return ctx.upload(host_floats(n, seed)); };
  {
    const backend::ConvShape s{B, T, C, C, K, dilation, (K - 1) * dilation, T, T};
    DeviceBuffer x = up(B * T * C, 11), w = up(C * C * K, 12), b = up(C, 13), r = up(B * T * C, 14),
                 y = up(B * T * C, 15), a = up(B * T * C, 16), dy = up(B * T * C, 17), dx = up(B * T * C, 18),
                 dw = up(C * C * K, 19), db = up(C, 20), dr = up(B * T * C, 21);
    const double ms = time_ms(ctx, 3, 20, [&] {
      scratch.reset();
      BackendPayload payload;
      causal_conv_forward(ctx, s, ops::Activation::relu, x.as<float>(), w.as<float>(), b.as<float>(), r.as<float>(),
                          y.as<float>(), a.as<float>(), scratch, &payload);
      causal_conv_backward(ctx, s, ops::Activation::relu, dy.as<float>(), a.as<float>(), dx.as<float>(),
                           dw.as<float>(), db.as<float>(), dr.as<float>(), scratch, payload);
    });
    rows.push_back({"causal_conv fwd+bwd", "B=256 T=50 C=32 K=3", ms, 0.0, "unfold + cuBLAS + fused"});
  }
  DeviceBuffer x = up(B * T * C, 31), wih = up(G * C, 32), whh = up(G * H, 33), bih = up(G, 34), bhh = up(G, 35),
               out = up(B * T * H, 36), dout = up(B * T * H, 37), dx = up(B * T * C, 38), dwih = up(G * C, 39),
               dwhh = up(G * H, 40), dbih = up(G, 41), dbhh = up(G, 42);
  auto step = [&] {
    scratch.reset();
    BackendPayload payload;
    lstm_forward(ctx, x.as<float>(), wih.as<float>(), whh.as<float>(), bih.as<float>(), bhh.as<float>(), B, T, C, H,
                 out.as<float>(), scratch, &payload);
    lstm_backward(ctx, dout.as<float>(), wih.as<float>(), whh.as<float>(), B, T, C, H, dx.as<float>(),
                  dwih.as<float>(), dwhh.as<float>(), dbih.as<float>(), dbhh.as<float>(), scratch, payload);
  };
  double best[2] = {1e30, 1e30};
  std::string failure;
  for (int round = 0; round < 3; ++round)
    for (int path = 0; path < 2; ++path) {
      if (path == 1 && !failure.empty()) continue;
      setenv("LIMELIGHT_CUDA_LSTM", path == 0 ? "kernel" : "cudnn", 1);
      try {
        best[path] = std::min(best[path], time_ms(ctx, 2, 10, step));
      } catch (const std::exception& e) {
        failure = e.what();
      }
    }
  unsetenv("LIMELIGHT_CUDA_LSTM");
  rows.push_back({"lstm kernel fwd+bwd", "B=256 T=50 D=H=32", best[0], 0.0, "hand-written"});
  char note[96];
  if (failure.empty())
    std::snprintf(note, sizeof note, "kernel / cudnn time %.2f", best[0] / best[1]);
  else
    std::snprintf(note, sizeof note, "failed: %.80s", failure.c_str());
  rows.push_back({"lstm cudnn fwd+bwd", "B=256 T=50 D=H=32", failure.empty() ? best[1] : 0.0, 0.0, note});
}


// Median host wall time in microseconds of `calls` calls of f after warm-up:
// what a serving thread sees per request (upload, kernels, read-back).
double median_call_us(int calls, const std::function<void()>& f) {
  for (int i = 0; i < 3; ++i) f();
  std::vector<double> t;
  for (int i = 0; i < calls; ++i) {
    const auto start = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
  }
  std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
  return t[t.size() / 2];
}

// One-sequence predict and recommend (k 10, 199 items of history) through
// ImplicitSequenceModel on device "cuda", with the same model's recommend on
// the CPU (all cores) beside it, at a MovieLens-sized, a 1M and a 10M catalogue.
void bench_model_serving(std::vector<Row>& rows) {
  for (const char* representation : {"pooling", "lstm"})
    for (const std::int32_t V : {1'683, 1'000'000, 10'000'000}) {
      ModelConfig config;
      config.representation = parse_representation(representation);
      config.embedding_dim = 32;
      config.seed = 42;
      config.device = "cpu";
      ImplicitSequenceModel cpu_model(config);
      cpu_model.initialize(V);
      config.device = "cuda";
      ImplicitSequenceModel gpu_model(config);
      gpu_model.initialize(V);
      std::vector<std::int32_t> history(199);
      std::uint64_t seed = 7;
      for (auto& id : history) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        id = static_cast<std::int32_t>(1 + (seed >> 33) % static_cast<std::uint64_t>(V - 1));
      }
      std::vector<Recommendation> out(10);
      const int calls = V >= 10'000'000 ? 20 : 100;
      const double predict_us = median_call_us(calls, [&] { (void)gpu_model.predict(history); });
      const double gpu_us = median_call_us(calls, [&] { gpu_model.recommend_into(history, 10, true, out); });
      const double cpu_us = median_call_us(calls, [&] { cpu_model.recommend_into(history, 10, true, out); });
      const std::string shape = std::string(representation) + " V=" + std::to_string(V);
      rows.push_back({"model predict (cuda)", shape, predict_us * 1e-3, 0.0, "host wall, median"});
      char note[64];
      std::snprintf(note, sizeof note, "cpu recommend %.0f us (%.1fx)", cpu_us, cpu_us / gpu_us);
      rows.push_back({"model recommend k=10 (cuda)", shape, gpu_us * 1e-3, 0.0, note});
    }
}
#if LIMELIGHT_CUDA_EMULATED
// The emulator's counts (see the file comment), at shapes it runs in seconds.
int print_emulator_counts() {
  Context ctx;
  std::printf("device: the CUDA emulator (counts, no timings)\n\n%-34s %-20s %12s %9s %11s\n", "call", "shape",
              "shuffles/iu", "kernels", "host waits");
  const std::int64_t V = 4096, D = 32;
  const int k = 10;
  DeviceBuffer table = ctx.upload(host_floats(static_cast<std::size_t>(V * D), 1));
  DeviceBuffer bias = ctx.upload(host_floats(static_cast<std::size_t>(V), 2));
  for (const std::int64_t B : {1, 2, 8, 64}) {
    DeviceBuffer users = ctx.upload(host_floats(static_cast<std::size_t>(B * D), 3));
    DeviceBuffer ids = ctx.buffer(static_cast<std::size_t>(B * k) * sizeof(std::int32_t));
    DeviceBuffer scores = ctx.buffer(static_cast<std::size_t>(B * k) * sizeof(float));
    ctx.synchronize();
    const std::uint64_t shuffles = cuda_emulator::warp_shuffles();
    const cuda_emulator::HostCounts before = cuda_emulator::host_counts();
    score_top_k(ctx, users.as<float>(), B, table.as<float>(), bias.as<float>(), V, D, k, nullptr, 0,
                ids.as<std::int32_t>(), scores.as<float>());
    const cuda_emulator::HostCounts after = cuda_emulator::host_counts();
    ctx.synchronize();
    const double per = static_cast<double>(cuda_emulator::warp_shuffles() - shuffles) / static_cast<double>(V * B);
    std::printf("%-34s %-20s %12.3f %9llu %11llu\n", "score_top_k k=10", ("B=" + std::to_string(B) + " V=4096 D=32").c_str(),
                per, static_cast<unsigned long long>(after.launches - before.launches),
                static_cast<unsigned long long>(after.synchronisations - before.synchronisations));
  }
  for (const char* representation : {"pooling", "mixture", "cnn", "lstm"})
    for (const bool sparse : {false, true}) {
      ModelConfig config;
      config.representation = parse_representation(representation);
      config.embedding_dim = 32;
      config.loss = "bpr";
      config.sparse = sparse;
      config.device = "cuda";
      config.seed = 7;
      ImplicitSequenceModel model(config);
      const std::int32_t items = 1000;
      model.initialize(items);
      const std::int64_t rows = 64, length = 50;
      const auto n = static_cast<std::size_t>(rows * length);
      const Tensor seq = Tensor::from_vector(host_ids(n, items, 5), Shape{rows, length});
      const Tensor neg = Tensor::from_vector(host_ids(n, items, 6), Shape{rows, length});
      model.train_step(seq, neg);  // the allocator's first blocks
      const cuda_emulator::HostCounts before = cuda_emulator::host_counts();
      model.train_step(seq, neg);
      const cuda_emulator::HostCounts after = cuda_emulator::host_counts();
      std::printf("%-34s %-20s %12s %9llu %11llu\n",
                  (std::string("train_step ") + representation + (sparse ? " sparse" : " dense")).c_str(),
                  "B=64 L=50 D=32", "", static_cast<unsigned long long>(after.launches - before.launches),
                  static_cast<unsigned long long>(after.synchronisations - before.synchronisations));
    }
  std::printf("\nshuffles/iu: warp-wide shuffles per item and user of the scoring pass; host waits: calls that wait "
              "on the host for queued device work\n");
  return 0;
}
#endif

}  // namespace

int main() {
  try {
#if LIMELIGHT_CUDA_EMULATED
    return print_emulator_counts();
#endif
    if (!cuda_available()) {
      std::fprintf(stderr, "limelight-gpu-bench: no usable CUDA device; nothing to measure\n");
      return 2;
    }
    const DeviceInfo info = device_info(0);
    std::printf("device: %s (sm_%d%d, %d SMs, %.1f GiB), CUDA runtime %d, driver %d, cuBLAS %d, cuDNN %d\n",
                info.name.c_str(), info.major, info.minor, info.multiprocessors,
                static_cast<double>(info.total_memory) / (1 << 30), info.runtime_version, info.driver_version,
                info.cublas_version, info.cudnn_version);
    Context ctx;
    std::vector<Row> rows;

    // Reference bandwidth: device-to-device copy of 1 GiB (read + write).
    const std::size_t copy_bytes = std::size_t{1} << 30;
    DeviceBuffer src = ctx.buffer(copy_bytes), dst = ctx.buffer(copy_bytes);
    CUDA_CHECK(cudaMemsetAsync(src.data(), 0x3c, copy_bytes, ctx.stream()));
    const double copy_ms = time_ms(ctx, 2, 10, [&] {
      CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), copy_bytes, cudaMemcpyDeviceToDevice, ctx.stream()));
    });
    const double copy_gbps = gb_per_s(2.0 * copy_bytes, copy_ms);
    rows.push_back({"cudaMemcpy D2D", "1 GiB", copy_ms, copy_gbps, "reference"});
    src = DeviceBuffer();
    dst = DeviceBuffer();
    ctx.allocator().release_cached();

    // Whole-catalogue scoring with fused top-k: V = 1M items, D = 32.
    {
      const std::int64_t V = 1 << 20, D = 32, k = 100;
      DeviceBuffer table = ctx.upload(host_floats(static_cast<std::size_t>(V * D), 1));
      DeviceBuffer bias = ctx.upload(host_floats(static_cast<std::size_t>(V), 2));
      for (std::int64_t B : {1, 64}) {
        DeviceBuffer users = ctx.upload(host_floats(static_cast<std::size_t>(B * D), 3));
        DeviceBuffer ids = ctx.buffer(static_cast<std::size_t>(B * k) * sizeof(std::int32_t));
        DeviceBuffer scores = ctx.buffer(static_cast<std::size_t>(B * k) * sizeof(float));
        const double ms = time_ms(ctx, 3, 20, [&] {
          score_top_k(ctx, users.as<float>(), B, table.as<float>(), bias.as<float>(), V, D, static_cast<int>(k),
                      nullptr, 0, ids.as<std::int32_t>(), scores.as<float>());
        });
        // Logical bytes: the table and bias once per user.
        const double gbps = gb_per_s(static_cast<double>(B) * V * (D + 1) * 4, ms);
        char note[64];
        std::snprintf(note, sizeof note, "%.0f%% of memcpy", 100.0 * gbps / copy_gbps);
        rows.push_back({"score_top_k k=100", "B=" + std::to_string(B) + " V=1M D=32", ms, gbps, note});
      }
      const std::int64_t B = 64;
      DeviceBuffer users = ctx.upload(host_floats(static_cast<std::size_t>(B * D), 3));
      DeviceBuffer all = ctx.buffer(static_cast<std::size_t>(B * V) * sizeof(float));
      const double ms = time_ms(ctx, 3, 20, [&] {
        score_catalogue(ctx, users.as<float>(), B, table.as<float>(), bias.as<float>(), V, D, all.as<float>());
      });
      rows.push_back({"score_catalogue", "B=64 V=1M D=32", ms, gb_per_s((V * (D + 1) + B * V * 2.0) * 4, ms),
                      "cuBLAS + bias"});
    }

    // Embedding gather and its deterministic backward: a batch of 512 x 200
    // ids into a 10M x 32 table.
    const std::int64_t V = 10'000'000, D = 32, n = 512 * 200;
    const std::size_t table_bytes = static_cast<std::size_t>(V * D) * sizeof(float);
    DeviceBuffer w = ctx.buffer(table_bytes), m = ctx.buffer(table_bytes), v = ctx.buffer(table_bytes);
    for (const DeviceBuffer* b : {&w, &m, &v}) CUDA_CHECK(cudaMemsetAsync(b->data(), 0x3c, table_bytes, ctx.stream()));
    DeviceBuffer ids = ctx.upload(host_ids(static_cast<std::size_t>(n), V, 4));
    DeviceBuffer gathered = ctx.buffer(static_cast<std::size_t>(n * D) * sizeof(float));
    const double gather_ms = time_ms(ctx, 3, 50, [&] {
      gather_rows(ctx, w.as<float>(), V, D, ids.as<std::int32_t>(), n, gathered.as<float>());
    });
    rows.push_back({"gather_rows", "n=102400 D=32 V=10M", gather_ms, gb_per_s(2.0 * n * D * 4, gather_ms), ""});
    DeviceBuffer sparse_rows = ctx.buffer(static_cast<std::size_t>(n) * sizeof(std::int32_t));
    DeviceBuffer sparse_values = ctx.buffer(static_cast<std::size_t>(n * D) * sizeof(float));
    std::int64_t touched = 0;
    const double sparse_ms = time_ms(ctx, 2, 10, [&] {
      touched = sparse_rows_sorted(ctx, gathered.as<float>(), V, D, ids.as<std::int32_t>(), n,
                                   sparse_rows.as<std::int32_t>(), sparse_values.as<float>());
    });
    rows.push_back({"sparse_rows_sorted", "n=102400 D=32", sparse_ms, gb_per_s(2.0 * n * D * 4, sparse_ms),
                    "deterministic, incl. sync"});
    DeviceBuffer dense_grad = ctx.buffer(table_bytes);
    CUDA_CHECK(cudaMemsetAsync(dense_grad.data(), 0, table_bytes, ctx.stream()));
    const double scatter_ms = time_ms(ctx, 3, 50, [&] {
      scatter_add_rows(ctx, gathered.as<float>(), V, D, ids.as<std::int32_t>(), n, dense_grad.as<float>());
    });
    rows.push_back({"scatter_add_rows", "n=102400 D=32", scatter_ms, gb_per_s(3.0 * n * D * 4, scatter_ms), "atomic"});

    // Adam on the 10M x 32 table: every row (dense) against the touched rows (lazy).
    AdamOptions options;
    const AdamConstants c = adam_constants(
        backend::AdamStep::make(options.lr, options.beta1, options.beta2, options.eps, options.weight_decay, 1));
    const double dense_ms = time_ms(ctx, 2, 10, [&] {
      adam_dense(ctx, c, w.as<float>(), dense_grad.as<float>(), m.as<float>(), v.as<float>(), V * D);
    });
    rows.push_back({"adam_dense", "10M x 32", dense_ms, gb_per_s(7.0 * V * D * 4, dense_ms), ""});
    const double lazy_ms = time_ms(ctx, 3, 50, [&] {
      adam_lazy(ctx, c, w.as<float>(), m.as<float>(), v.as<float>(), V, D, sparse_rows.as<std::int32_t>(),
                sparse_values.as<float>(), touched);
    });
    char note[64];
    std::snprintf(note, sizeof note, "%lld rows, %.0fx faster", static_cast<long long>(touched), dense_ms / lazy_ms);
    rows.push_back({"adam_lazy", "10M x 32", lazy_ms, gb_per_s(7.0 * touched * D * 4, lazy_ms), note});

    time_layers(ctx, rows);
    bench_model_serving(rows);

    std::printf("\n%-28s %-22s %10s %9s  %s\n", "op", "shape", "ms", "GB/s", "note");
    for (const Row& r : rows)
      std::printf("%-28s %-22s %10.4f %9.1f  %s\n", r.op.c_str(), r.shape.c_str(), r.ms, r.gbps, r.note.c_str());
    const auto s = ctx.allocator().stats();
    std::printf("allocator: %zu cudaMalloc, %zu cache hits, peak %.2f GiB\n", s.device_mallocs, s.cache_hits,
                static_cast<double>(s.peak_bytes_in_use) / (1 << 30));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "limelight-gpu-bench: %s\n", e.what());
    return 1;
  }
}
