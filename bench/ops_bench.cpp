// limelight-ops-bench: Google Benchmark micro-benchmarks of each op at the
// shapes one training batch of the benchmark protocol gives it (B = 256
// windows of L = 200 items, T = L + 1 = 201 states, D = H = 32, 1683 items,
// 4 mixtures), forward alone (a non-recording tape, as serving runs) and
// forward + backward (a recording tape, then sum() and backward(), as
// training runs), with cblas_sgemm alone at the GEMM shapes as a baseline.
//
// Counters: items/s counts the op's output rows or elements (named in each
// benchmark's comment); GFLOP/s uses the multiply-add count stated beside each
// benchmark, 2 FLOPs per multiply-add, pointwise work not counted, and the
// backward pass counted as the GEMM-shaped work it must do (usually twice the
// forward). Times are wall-clock (OpenBLAS may use several threads).
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <algorithm>
#include <cstdlib>

#include <cstdint>
#include <random>
#include <vector>

#include "limelight/ops.hpp"
#include "limelight/tape.hpp"

namespace {

using limelight::DType;
using limelight::Parameter;
using limelight::Shape;
using limelight::Tape;
using limelight::Tensor;
using limelight::Var;
namespace ops = limelight::ops;

constexpr std::int64_t B = 256, L = 200, T = L + 1, D = 32, H = 32, V = 1683, M = 4;

Tensor random_tensor(const Shape& shape, float scale, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  Tensor t = Tensor::empty(shape);
  for (std::int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = normal(gen);
  return t;
}

// Item ids 1..V-1 with the first `padding` steps of every row 0, as left-padded windows.
Tensor random_ids(std::int64_t rows, std::int64_t length, std::int64_t padding, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<std::int32_t> item(1, static_cast<std::int32_t>(V - 1));
  Tensor t = Tensor::empty({rows, length}, DType::i32);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t i = 0; i < length; ++i) t.i32()[r * length + i] = i < padding ? 0 : item(gen);
  return t;
}

Parameter param(const char* name, const Shape& shape, float scale, std::uint32_t seed) {
  return Parameter(name, random_tensor(shape, scale, seed));
}

// Runs `build` (which records the op on the tape and returns its output) once
// per iteration: forward only on a non-recording tape, or forward + sum +
// backward on a recording one. Gradients accumulate into the parameters
// across iterations, which costs the same as accumulating into zeros.
template <class Build>
void run(benchmark::State& state, Build&& build, double items, double flops_forward, double flops_backward) {
  const bool backward = state.range(0) != 0;
  Tape tape(backward);
  for (auto _ : state) {
    tape.reset();
    Var y = build(tape);
    if (backward) tape.backward(ops::sum(tape, y));
    benchmark::DoNotOptimize(tape.value(y).raw());
    benchmark::ClobberMemory();
  }
  state.counters["items/s"] = benchmark::Counter(items, benchmark::Counter::kIsIterationInvariantRate);
  const double flops = flops_forward + (backward ? flops_backward : 0.0);
  if (flops > 0) state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(backward ? "fwd+bwd" : "fwd");
}

// Items: B*L lookups. No FLOPs: bandwidth-bound (B*L*D*4 bytes gathered).
void BM_embedding(benchmark::State& state) {
  Parameter table = param("table", {V, D}, 1.0f / D, 1);
  const Tensor ids = random_ids(B, L, 20, 2);
  run(state, [&](Tape& t) { return ops::embedding(t, t.parameter(table), ids); }, B * L, 0, 0);
  state.SetBytesProcessed(state.iterations() * B * L * D * 4);
}

// The LSTM input projection: x (B*T, D) by W_ih^T (D, 4H). Items: B*T rows.
// Forward 2*(B*T)*D*4H FLOPs; backward d_x and d_W are two more such GEMMs.
void BM_linear(benchmark::State& state) {
  Parameter x = param("x", {B, T, D}, 0.1f, 3), w = param("w", {4 * H, D}, 0.1f, 4), b = param("b", {4 * H}, 0.1f, 5);
  const double f = 2.0 * B * T * D * 4 * H;
  run(state, [&](Tape& t) { return ops::linear(t, t.parameter(x), t.parameter(w), t.parameter(b)); }, B * T, f, 2 * f);
}

// The same product as a plain matmul (B*T, D) @ (D, 4H); FLOPs as BM_linear.
void BM_matmul(benchmark::State& state) {
  Parameter a = param("a", {B * T, D}, 0.1f, 6), w = param("w", {D, 4 * H}, 0.1f, 7);
  const double f = 2.0 * B * T * D * 4 * H;
  run(state, [&](Tape& t) { return ops::matmul(t, t.parameter(a), t.parameter(w)); }, B * T, f, 2 * f);
}

// (B, L, D) -> (B, T, D). Items: B*L*D input elements; no FLOPs counted
// (a running sum and a division per element).
void BM_running_pool(benchmark::State& state) {
  Parameter x = param("x", {B, L, D}, 0.1f, 8);
  run(state, [&](Tape& t) { return ops::running_pool(t, t.parameter(x)); }, B * L * D, 0, 0);
}

// One causal layer: x (B, T + 2d, C) -> (B, T, O), K = 3, C = O = D.
// Items: B*T output steps. Forward 2*B*T*O*C*K FLOPs; backward (d_x, d_W) twice that.
void BM_conv1d(benchmark::State& state) {
  const std::int64_t dilation = state.range(1), K = 3;
  Parameter x = param("x", {B, T + (K - 1) * dilation, D}, 0.1f, 9);
  Parameter w = param("w", {D, D, K, 1}, 0.1f, 10), b = param("b", {D}, 0.1f, 11);
  const double f = 2.0 * B * T * D * D * K;
  run(state, [&](Tape& t) { return ops::conv1d(t, t.parameter(x), t.parameter(w), t.parameter(b), dilation); },
      B * T, f, 2 * f);
}

// x (B, T, D) -> h (B, T, H). Items: B*T steps. Forward 2*B*T*4H*(D + H)
// FLOPs (input and recurrent GEMMs); backward twice that (d_x, d_W_ih, d_h
// through W_hh, d_W_hh).
void BM_lstm(benchmark::State& state) {
  Parameter x = param("x", {B, T, D}, 0.1f, 12);
  Parameter wih = param("wih", {4 * H, D}, 0.17f, 13), whh = param("whh", {4 * H, H}, 0.17f, 14);
  Parameter bih = param("bih", {4 * H}, 0.17f, 15), bhh = param("bhh", {4 * H}, 0.17f, 16);
  const double f = 2.0 * B * T * 4 * H * (D + H);
  run(state,
      [&](Tape& t) {
        return ops::lstm(t, t.parameter(x), t.parameter(wih), t.parameter(whh), t.parameter(bih), t.parameter(bhh));
      },
      B * T, f, 2 * f);
}

// rep (B, L, D) against the targets' embeddings: B*L dot products of length D.
// Items: B*L scores. Forward 2*B*L*D FLOPs; backward (d_rep, d_E rows) twice that.
void BM_score_items(benchmark::State& state) {
  Parameter rep = param("rep", {B, L, D}, 0.1f, 17), table = param("table", {V, D}, 1.0f / D, 18);
  Parameter bias = param("bias", {V, 1}, 0.01f, 19);
  const Tensor ids = random_ids(B, L, 20, 20);
  const double f = 2.0 * B * L * D;
  run(state, [&](Tape& t) { return ops::score_items(t, t.parameter(rep), t.parameter(table), t.parameter(bias), ids); },
      B * L, f, 2 * f);
}

// rep (B, L, 2*M*D): per score M attention dots, M taste mixes and one final
// dot of length D, (2M + 2M + 2)*D FLOPs (softmax not counted); backward twice that.
void BM_mixture_score(benchmark::State& state) {
  Parameter rep = param("rep", {B, L, 2 * M * D}, 0.1f, 21), table = param("table", {V, D}, 1.0f / D, 22);
  Parameter bias = param("bias", {V, 1}, 0.01f, 23);
  const Tensor ids = random_ids(B, L, 20, 24);
  const double f = (4.0 * M + 2.0) * D * B * L;
  run(state,
      [&](Tape& t) {
        return ops::mixture_score(t, t.parameter(rep), t.parameter(table), t.parameter(bias), ids, M);
      },
      B * L, f, 2 * f);
}

// The loss reduction over (B, L) elements. Items: B*L elements.
void BM_masked_mean(benchmark::State& state) {
  Parameter x = param("x", {B, L}, 1.0f, 25);
  const Tensor ids = random_ids(B, L, 20, 26);
  Tensor mask = Tensor::empty({B, L});
  for (std::int64_t i = 0; i < B * L; ++i) mask.f32()[i] = ids.i32()[i] != 0 ? 1.0f : 0.0f;
  run(state, [&](Tape& t) { return ops::masked_mean(t, t.parameter(x), mask); }, B * L, 0, 0);
}

// cblas_sgemm alone, row-major C (m, n) = op(A) (m, k) @ op(B) (k, n): 2*m*n*k FLOPs.
// Items: rows of C.
void BM_sgemm(benchmark::State& state) {
  const int m = static_cast<int>(state.range(0)), n = static_cast<int>(state.range(1)),
            k = static_cast<int>(state.range(2));
  const bool trans_a = state.range(3) & 1, trans_b = state.range(3) & 2;
  const Tensor a = random_tensor({static_cast<std::int64_t>(m) * k}, 0.1f, 27);
  const Tensor b = random_tensor({static_cast<std::int64_t>(k) * n}, 0.1f, 28);
  std::vector<float> c(static_cast<std::size_t>(m) * static_cast<std::size_t>(n));
  // The baseline is OpenBLAS at its own best: threaded as OPENBLAS_NUM_THREADS
  // says (limelight's ops run it single-threaded inside their own chunks), and
  // back to one thread afterwards for the op benchmarks.
  const char* env = std::getenv("OPENBLAS_NUM_THREADS");
  openblas_set_num_threads(env ? std::max(1, std::atoi(env)) : 1);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k,
                1.0f, a.f32(), trans_a ? m : k, b.f32(), trans_b ? k : n, 0.0f, c.data(), n);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  openblas_set_num_threads(1);
  state.counters["items/s"] = benchmark::Counter(m, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * m * n * k * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void fwd_bwd(benchmark::internal::Benchmark* b) {
  b->ArgName("backward")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace

BENCHMARK(BM_embedding)->Apply(fwd_bwd);
BENCHMARK(BM_linear)->Apply(fwd_bwd);
BENCHMARK(BM_matmul)->Apply(fwd_bwd);
BENCHMARK(BM_running_pool)->Apply(fwd_bwd);
BENCHMARK(BM_conv1d)
    ->ArgNames({"backward", "dilation"})
    ->ArgsProduct({{0, 1}, {1, 2, 4}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_lstm)->Apply(fwd_bwd);
BENCHMARK(BM_score_items)->Apply(fwd_bwd);
BENCHMARK(BM_mixture_score)->Apply(fwd_bwd);
BENCHMARK(BM_masked_mean)->Apply(fwd_bwd);
// trans: bit 0 transposes A, bit 1 B.
BENCHMARK(BM_sgemm)
    ->ArgNames({"m", "n", "k", "trans"})
    ->Args({B * T, 4 * H, D, 2})       // linear forward: x @ W_ih^T
    ->Args({B * T, D, 4 * H, 0})       // linear backward d_x = d_y @ W_ih
    ->Args({4 * H, D, B * T, 1})       // linear backward d_W = d_y^T @ x
    ->Args({B * T, D, 3 * D, 0})       // conv1d as one im2col GEMM, K = 3
    ->Args({B, 4 * H, H, 2})           // one LSTM recurrent step: h @ W_hh^T
    ->Args({B, V, D, 2})               // scoring 256 sequences against every item (evaluation)
    ->Args({1, V, D, 2})               // scoring one sequence against every item (predict)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

BENCHMARK_MAIN();
