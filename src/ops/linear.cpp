// Matrix products: matmul (2-D, optional transposes) and linear (x W^T + b
// over any leading dimensions).
#include <algorithm>

#include "ops/common.hpp"

namespace limelight::ops {
using namespace detail;

namespace {

struct MatmulAttrs {
  bool trans_a, trans_b;
};

void matmul_backward(Tape& t, const Node& n) {
  const auto [ta, tb] = n.attrs.get<MatmulAttrs>();
  const Tensor& A = t.value(n.in[0]);
  const Tensor& B = t.value(n.in[1]);
  const Tensor& G = t.grad(n.out);
  Backend& be = backend_of(t, "matmul backward", {n.out});
  const std::int64_t M = G.dim(0), N = G.dim(1), K = ta ? A.dim(0) : A.dim(1);
  if (float* dA = grad_or_null(t, n.in[0])) {
    // C = A B: dA = G B^T; with A^T stored: dA^T = G B^T -> dA = B G^T.
    if (!ta)
      be.gemm(false, !tb, M, K, N, 1.0f, G.f32(), N, B.f32(), B.dim(1), 1.0f, dA, K);
    else
      be.gemm(tb, true, K, M, N, 1.0f, B.f32(), B.dim(1), G.f32(), N, 1.0f, dA, M);
  }
  if (float* dB = grad_or_null(t, n.in[1])) {
    if (!tb)
      be.gemm(!ta, false, K, N, M, 1.0f, A.f32(), A.dim(1), G.f32(), N, 1.0f, dB, N);
    else
      be.gemm(true, ta, N, K, M, 1.0f, G.f32(), N, A.f32(), A.dim(1), 1.0f, dB, K);
  }
}

void linear_backward(Tape& t, const Node& n) {
  const Tensor& X = t.value(n.in[0]);
  const Tensor& W = t.value(n.in[1]);
  const std::int64_t N = W.dim(0), K = W.dim(1);
  backend_of(t, "linear backward", {n.out})
      .linear_backward(t.grad(n.out).f32(), X.f32(), W.f32(), X.numel() / K, K, N, grad_or_null(t, n.in[0]),
                       grad_or_null(t, n.in[1]), grad_or_null(t, n.in[2]), t.arena());
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
  Backend& be = backend_of(t, "matmul", {a, b});
  Tensor out = new_tensor(t, Shape{M, N});
  be.gemm(trans_a, trans_b, M, N, K, 1.0f, A.f32(), A.dim(1), B.f32(), B.dim(1), 0.0f, out.f32(), N);
  return record(t, out, needs_grad(t, {a, b}), matmul_backward, {a, b},
                [&](Node& n) { n.attrs.put(MatmulAttrs{trans_a, trans_b}); });
}

Var linear(Tape& t, Var x, Var weight, Var bias) {
  const Tensor& X = f32_input(t, x, "linear", "x");
  const Tensor& W = f32_input(t, weight, "linear", "weight");
  // A weight (N, K, 1, ...) with trailing unit dims, as a 1x1 convolution's, is an (N, K) matrix.
  LL_CHECK(W.rank() >= 2 && W.numel() == W.dim(0) * W.dim(1) && X.rank() >= 1 && X.dim(X.rank() - 1) == W.dim(1),
           "linear: x ", X.shape().str(), " does not match weight ", W.shape().str(),
           " (expected x (..., K), weight (N, K))");
  const std::int64_t N = W.dim(0), K = W.dim(1), rows = X.numel() / std::max<std::int64_t>(K, 1);
  const float* bp = nullptr;
  if (bias.valid()) {
    const Tensor& b = f32_input(t, bias, "linear", "bias");
    LL_CHECK(b.numel() == N, "linear: bias ", b.shape().str(), " does not match weight ", W.shape().str());
    bp = b.f32();
  }
  Backend& be = backend_of(t, "linear", {x, weight, bias});
  Shape out_shape = X.shape();
  out_shape[X.rank() - 1] = N;
  Tensor out = new_tensor(t, out_shape);
  be.linear_forward(X.f32(), W.f32(), bp, rows, K, N, out.f32());
  return record(t, out, needs_grad(t, {x, weight, bias}), linear_backward, {x, weight, bias});
}

}  // namespace limelight::ops
