// Matrix products: matmul (2-D, optional transposes) and linear (x W^T + b
// over any leading dimensions), both on cblas_sgemm.
#include <algorithm>

#include "backend/parallel.hpp"
#include "ops/common.hpp"

namespace limelight::ops {
using namespace detail;

namespace {

void matmul_backward(Tape& t, const Node& n) {
  const bool ta = n.ints[0], tb = n.ints[1];
  const Tensor& A = t.value(n.in[0]);
  const Tensor& B = t.value(n.in[1]);
  const Tensor& G = t.grad(n.out);
  const std::int64_t M = G.dim(0), N = G.dim(1), K = ta ? A.dim(0) : A.dim(1);
  if (wants(t, n.in[0])) {
    float* dA = t.grad(n.in[0]).f32();
    // C = A B: dA = G B^T; with A^T stored: dA^T = G B^T -> dA = B G^T.
    if (!ta)
      cpu::gemm(false, !tb, M, K, N, 1.0f, G.f32(), N, B.f32(), B.dim(1), 1.0f, dA, K);
    else
      cpu::gemm(tb, true, K, M, N, 1.0f, B.f32(), B.dim(1), G.f32(), N, 1.0f, dA, M);
  }
  if (wants(t, n.in[1])) {
    float* dB = t.grad(n.in[1]).f32();
    if (!tb)
      cpu::gemm(!ta, false, K, N, M, 1.0f, A.f32(), A.dim(1), G.f32(), N, 1.0f, dB, N);
    else
      cpu::gemm(true, ta, N, K, M, 1.0f, G.f32(), N, A.f32(), A.dim(1), 1.0f, dB, K);
  }
}

// Rows are split across threads; each chunk sums its own weight and bias
// gradients, which are then added in chunk order.
void linear_backward(Tape& t, const Node& n) {
  const Tensor& X = t.value(n.in[0]);
  const Tensor& W = t.value(n.in[1]);
  const Tensor& G = t.grad(n.out);
  const std::int64_t N = W.dim(0), K = W.dim(1), rows = X.numel() / K;
  float* dx = wants(t, n.in[0]) ? t.grad(n.in[0]).f32() : nullptr;
  const bool dw = wants(t, n.in[1]), db = wants(t, n.in[2]);
  const int chunks = static_cast<int>(std::min<std::int64_t>(cpu::num_threads(), std::max<std::int64_t>(rows, 1)));
  Tensor partial = t.arena().zeros(Shape{chunks, N * K + N});
  const float* g = G.f32();
  cpu::parallel_chunks(rows, 64, [&](int c, std::int64_t r0, std::int64_t r1) {
    const std::int64_t m = r1 - r0;
    float* mine = partial.f32() + c * (N * K + N);
    if (dx) cpu::gemm(false, false, m, K, N, 1.0f, g + r0 * N, N, W.f32(), K, 1.0f, dx + r0 * K, K);
    if (dw) cpu::gemm(true, false, N, K, m, 1.0f, g + r0 * N, N, X.f32() + r0 * K, K, 0.0f, mine, K);
    if (db)
      for (std::int64_t r = r0; r < r1; ++r) accumulate(mine + N * K, g + r * N, N);
  }, rows >= 64 ? chunks : 1);
  const int used = rows >= 64 ? chunks : 1;
  if (dw) {
    float* d = t.grad(n.in[1]).f32();
    for (int c = 0; c < used; ++c) accumulate(d, partial.f32() + c * (N * K + N), N * K);
  }
  if (db) {
    float* d = t.grad(n.in[2]).f32();
    for (int c = 0; c < used; ++c) accumulate(d, partial.f32() + c * (N * K + N) + N * K, N);
  }
}

}  // namespace

Var matmul(Tape& t, Var a, Var b, bool trans_a, bool trans_b) {
  const Tensor& A = f32_input(t, a, "matmul", "a");
  const Tensor& B = f32_input(t, b, "matmul", "b");
  LL_CHECK(A.rank() == 2 && B.rank() == 2, "matmul: expects 2-D inputs, got ", A.shape().str(), " and ",
           B.shape().str());
  const std::int64_t M = trans_a ? A.dim(1) : A.dim(0), K = trans_a ? A.dim(0) : A.dim(1);
  const std::int64_t K2 = trans_b ? B.dim(1) : B.dim(0), N = trans_b ? B.dim(0) : B.dim(1);
  LL_CHECK(K == K2, "matmul: inner dimensions differ, ", A.shape().str(), (trans_a ? "^T" : ""), " @ ",
           B.shape().str(), (trans_b ? "^T" : ""));
  Tensor out = new_tensor(t, Shape{M, N});
  cpu::gemm(trans_a, trans_b, M, N, K, 1.0f, A.f32(), A.dim(1), B.f32(), B.dim(1), 0.0f, out.f32(), N);
  bool rg = needs_grad(t, {a, b});
  Var r = t.output(out, rg);
  if (rg) {
    Node n;
    n.backward = matmul_backward;
    n.out = r;
    n.in[0] = a;
    n.in[1] = b;
    n.ints[0] = trans_a;
    n.ints[1] = trans_b;
    t.push(n);
  }
  return r;
}

Var linear(Tape& t, Var x, Var weight, Var bias) {
  const Tensor& X = f32_input(t, x, "linear", "x");
  const Tensor& W = f32_input(t, weight, "linear", "weight");
  // A weight (N, K, 1, ...) with trailing unit dims, as a 1x1 convolution's, is an (N, K) matrix.
  LL_CHECK(W.rank() >= 2 && W.numel() == W.dim(0) * W.dim(1) && X.rank() >= 1 && X.dim(X.rank() - 1) == W.dim(1),
           "linear: x ", X.shape().str(), " does not match weight ", W.shape().str(),
           " (expected x (..., K), weight (N, K))");
  const std::int64_t N = W.dim(0), K = W.dim(1), rows = X.numel() / std::max<std::int64_t>(K, 1);
  Shape out_shape = X.shape();
  out_shape[X.rank() - 1] = N;
  Tensor out = new_tensor(t, out_shape);
  float* o = out.f32();
  const float* bp = nullptr;
  if (bias.valid()) {
    const Tensor& b = f32_input(t, bias, "linear", "bias");
    LL_CHECK(b.numel() == N, "linear: bias ", b.shape().str(), " does not match weight ", W.shape().str());
    bp = b.f32();
  }
  cpu::parallel_chunks(rows, 64, [&](int, std::int64_t r0, std::int64_t r1) {
    if (bp)
      for (std::int64_t r = r0; r < r1; ++r) std::copy(bp, bp + N, o + r * N);
    cpu::gemm(false, true, r1 - r0, N, K, 1.0f, X.f32() + r0 * K, K, W.f32(), K, bp ? 1.0f : 0.0f, o + r0 * N, N);
  });
  bool rg = needs_grad(t, {x, weight, bias});
  Var r = t.output(out, rg);
  if (rg) {
    Node n;
    n.backward = linear_backward;
    n.out = r;
    n.in[0] = x;
    n.in[1] = weight;
    n.in[2] = bias;
    t.push(n);
  }
  return r;
}

}  // namespace limelight::ops
