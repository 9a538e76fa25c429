// limelight-lstm-serve-bench: one LSTM history scored against the whole
// catalogue (the path of predict, recommend, the CLI's lines and a session's
// cold start), one thread, beside its floors measured in the same run:
//   call        model.score_batch of one history (median of --repeats calls)
//   recurrence  the recurrence's FMA floor: T steps of the same 4H x H
//               products (eight independent chains at a time, W_hh from L1)
//               and the same 5H activations (fast sigmoid and tanh), in a
//               tight loop with nothing else
//   read        the scoring's read floor: the item table and biases read
//               once (a vector sum over them)
//   projection  the input projection as one sgemm (T x 4H x D), which the
//               call runs and neither floor counts
// and call / (recurrence + read). Histories of --steps (default 50,199,1000)
// items over --items (default 1683,100000) at dimension 32. With --cli, also
// the command line's line path: `limelight recommend --k 10` of the same
// model saved, answering --lines copies of the history's line written at
// once, (time for N lines - for 1) / (N - 1), the median of 5, beside the
// same floors.
//
//   build/bench/limelight-lstm-serve-bench [--steps 50,199,1000] [--items 1683,100000] [--repeats 2001]
//                                          [--cli build/src/cli/limelight] [--lines 1000]
#include <cblas.h>
#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "backend/scalar_math.hpp"
#include "bench_common.hpp"
#include "cli_lines.hpp"
#include "limelight/model.hpp"
#include "limelight/model_file.hpp"

namespace {

using namespace limelight;
using limelight::bench::median;
using limelight::bench::seconds_of;

constexpr int H = 32, G = 4 * H;

// T steps of the recurrence's arithmetic and nothing else: z = x_t + h W^T
// in 16 chains of H FMAs, then the cell's activations on the 4H gates.
__attribute__((target("avx2,fma"), noinline)) float recurrence_floor(const float* wt, const float* x, int T) {
  alignas(32) float h[H] = {}, c[H] = {}, z[G];
  for (int t = 0; t < T; ++t) {
    // Two passes of eight chains (sixteen accumulators spill on AVX2: the
    // faster of the two shapes here).
    for (int c0 = 0; c0 < G; c0 += 64) {
      __m256 acc[8];
#pragma GCC unroll 8
      for (int v = 0; v < 8; ++v) acc[v] = _mm256_setzero_ps();
      for (int k = 0; k < H; ++k) {
        const __m256 hv = _mm256_broadcast_ss(h + k);
#pragma GCC unroll 8
        for (int v = 0; v < 8; ++v) acc[v] = _mm256_fmadd_ps(hv, _mm256_loadu_ps(wt + k * G + c0 + 8 * v), acc[v]);
      }
#pragma GCC unroll 8
      for (int v = 0; v < 8; ++v)
        _mm256_store_ps(z + c0 + 8 * v, _mm256_add_ps(_mm256_loadu_ps(x + t * G + c0 + 8 * v), acc[v]));
    }
    for (int k = 0; k < H; ++k) {
      const float i = scalar::fast_sigmoid(z[k]), f = scalar::fast_sigmoid(z[H + k]);
      const float g = scalar::fast_tanh(z[2 * H + k]), o = scalar::fast_sigmoid(z[3 * H + k]);
      c[k] = f * c[k] + i * g;
      h[k] = o * scalar::fast_tanh(c[k]);
    }
  }
  return h[0];
}

__attribute__((target("avx2,fma"), noinline)) float read_floor(const float* table, const float* bias, std::int64_t n,
                                                               std::int64_t items) {
  __m256 a = _mm256_setzero_ps(), b = a, c = a, d = a;
  std::int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a = _mm256_add_ps(a, _mm256_loadu_ps(table + i));
    b = _mm256_add_ps(b, _mm256_loadu_ps(table + i + 8));
    c = _mm256_add_ps(c, _mm256_loadu_ps(table + i + 16));
    d = _mm256_add_ps(d, _mm256_loadu_ps(table + i + 24));
  }
  alignas(32) float out[8];
  _mm256_store_ps(out, _mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d)));
  float s = 0.0f;
  for (float v : out) s += v;
  for (std::int64_t j = 0; j < items; ++j) s += bias[j];
  return s;
}

double median_us(int repeats, const std::function<void()>& fn) {
  for (int i = 0; i < 20; ++i) fn();  // warm: caches, the tape's arena, page faults
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) t.push_back(seconds_of(fn) * 1e6);
  return median(t);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> steps = {50, 199, 1000};
  std::vector<std::int32_t> catalogues = {1683, 100000};
  int repeats = 2001;
  std::string cli;
  std::size_t lines = 1000;
  for (bench::Arguments args(argc, argv, "limelight-lstm-serve-bench"); args.next();) {
    if (args.flag() == "--repeats") repeats = std::stoi(args.value());
    else if (args.flag() == "--cli") cli = args.value();
    else if (args.flag() == "--lines") lines = std::max<std::size_t>(2, std::stoul(args.value()));
    else if (args.flag() == "--steps") {
      steps.clear();
      for (const std::string& s : bench::split_list(args.value())) steps.push_back(std::stoi(s));
    } else if (args.flag() == "--items") {
      catalogues.clear();
      for (const std::string& s : bench::split_list(args.value())) catalogues.push_back(std::stoi(s));
    } else {
      std::fprintf(stderr, "limelight-lstm-serve-bench: unknown option %s\n", args.flag().c_str());
      return 2;
    }
  }
  // The command line serves on one thread too (it inherits the environment).
  if (!cli.empty()) setenv("OMP_NUM_THREADS", "1", 1);
  std::printf("| items | steps | call (us) | per step (ns) | recurrence floor (us) | read floor (us) | "
              "projection sgemm (us) | call / floors |%s\n|---|---|---|---|---|---|---|---|%s\n",
              cli.empty() ? "" : " CLI line (us) | CLI / floors |", cli.empty() ? "" : "---|---|");
  std::mt19937 rng(7);
  for (const std::int32_t V : catalogues) {
    ModelConfig config;
    config.representation = Representation::lstm;
    config.embedding_dim = H;
    config.threads = 1;
    ImplicitSequenceModel model(config);
    model.initialize(V);
    const std::vector<const Parameter*> p = std::as_const(model).parameters();
    const float* table = p[0]->value.f32();
    const float* bias = p[1]->value.f32();
    std::vector<float> wt(static_cast<std::size_t>(H * G));
    for (int g = 0; g < G; ++g)
      for (int k = 0; k < H; ++k) wt[static_cast<std::size_t>(k * G + g)] = p[3]->value.f32()[g * H + k];
    std::vector<float> scores(static_cast<std::size_t>(V));
    // The command line reads items by label: "1".."V-1", as a model fitted on MovieLens has them.
    std::vector<std::string> labels{""};
    for (std::int32_t v = 1; v < V; ++v) labels.push_back(std::to_string(v));
    const std::string path = "/tmp/limelight-lstm-serve-bench-" + std::to_string(V) + ".safetensors";
    if (!cli.empty()) save_model(path, model, labels);
    for (const int T : steps) {
      std::vector<std::int32_t> history(static_cast<std::size_t>(T));
      std::uniform_int_distribution<std::int32_t> item(1, V - 1);
      for (auto& id : history) id = item(rng);
      const double call = median_us(repeats, [&] { model.score_batch(history.data(), 1, T, scores.data()); });
      std::vector<float> x(static_cast<std::size_t>((T + 1) * G), 0.01f), gates(x.size());
      volatile float sink = 0.0f;
      const double recurrence = median_us(repeats, [&] { sink = recurrence_floor(wt.data(), x.data(), T + 1); });
      const double read = median_us(repeats, [&] { sink = read_floor(table, bias, std::int64_t{V} * H, V); });
      std::vector<float> emb(static_cast<std::size_t>((T + 1) * H), 0.01f);
      const double projection = median_us(repeats, [&] {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T + 1, G, H, 1.0f, emb.data(), H, p[2]->value.f32(), H,
                    1.0f, gates.data(), G);
      });
      std::printf("| %d | %d | %.1f | %.0f | %.1f | %.1f | %.1f | %.2f |", V, T, call, call * 1e3 / (T + 1),
                  recurrence, read, projection, call / (recurrence + read));
      if (!cli.empty()) {
        std::string line;
        for (const std::int32_t id : history) line += (line.empty() ? "" : ",") + labels[static_cast<std::size_t>(id)];
        line += '\n';
        const std::vector<std::string> command = {cli, "recommend", "--model", path, "--k", "10"};
        std::vector<double> per_line;
        for (int r = 0; r < 5; ++r)
          per_line.push_back((bench::answer_lines(command, line, lines) - bench::answer_lines(command, line, 1)) /
                             static_cast<double>(lines - 1) * 1e6);
        const double cli_us = median(per_line);
        std::printf(" %.1f | %.2f |", cli_us, cli_us / (recurrence + read));
      }
      std::printf("\n");
      std::fflush(stdout);
      (void)sink;
    }
    if (!cli.empty()) std::remove(path.c_str());
  }
  return 0;
}
