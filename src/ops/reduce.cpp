// Reductions and scans: sum, mean, sum_dim, masked_mean, cumsum, softmax.
#include "ops/common.hpp"

namespace limelight::ops {
using namespace detail;

namespace {

struct ScaleAttrs {
  float factor;  // d x = factor * d out
};
struct DimAttrs {
  std::int64_t outer, n, inner;
};

// sum/mean: every input element gets grad * factor.
void total_backward(Tape& t, const Node& n) {
  const Tensor& d = t.grad(n.in[0]);
  backend_of(t, "sum backward", {n.out})
      .broadcast_scalar_backward(t.grad(n.out).f32(), n.attrs.get<ScaleAttrs>().factor, d.f32(), d.numel());
}

Var total(Tape& t, Var x, bool mean, const char* op) {
  const Tensor& v = f32_input(t, x, op, "x");
  Backend& be = backend_of(t, op, {x});
  const float factor = mean ? 1.0f / static_cast<float>(v.numel()) : 1.0f;
  Tensor out = new_tensor(t, Shape{1});
  be.sum_all(v.f32(), v.numel(), factor, out.f32());
  return record(t, out, needs_grad(t, {x}), total_backward, {x}, [&](Node& n) { n.attrs.put(ScaleAttrs{factor}); });
}

void sum_dim_backward(Tape& t, const Node& n) {
  const DimAttrs s = n.attrs.get<DimAttrs>();
  backend_of(t, "sum_dim backward", {n.out})
      .sum_dim_backward(t.grad(n.out).f32(), s.outer, s.n, s.inner, t.grad(n.in[0]).f32());
}

void masked_mean_backward(Tape& t, const Node& n) {
  const Tensor& d = t.grad(n.in[0]);
  backend_of(t, "masked_mean backward", {n.out})
      .masked_mean_backward(t.grad(n.out).f32(), n.attrs.get<ScaleAttrs>().factor, n.saved[0].f32(), d.f32(),
                            d.numel());
}

void cumsum_backward(Tape& t, const Node& n) {
  const DimAttrs s = n.attrs.get<DimAttrs>();
  backend_of(t, "cumsum backward", {n.out})
      .cumsum_backward(t.grad(n.out).f32(), s.outer, s.n, s.inner, t.grad(n.in[0]).f32());
}

void softmax_backward(Tape& t, const Node& n) {
  const DimAttrs s = n.attrs.get<DimAttrs>();
  backend_of(t, "softmax backward", {n.out})
      .softmax_backward(t.value(n.out).f32(), t.grad(n.out).f32(), s.outer, s.n, s.inner, t.grad(n.in[0]).f32());
}

// A backend primitive over an outer / n / inner view.
using DimPrimitive = void (Backend::*)(const float* x, std::int64_t outer, std::int64_t n, std::int64_t inner,
                                      float* out);

// An op along dimension `dim` (sum_dim, cumsum, softmax): `forward` over the
// input's outer / n / inner view, into an output of the input's shape or,
// without `keeps_dim`, of that shape less `dim`; its backward gets the view.
Var along_dim(Tape& t, Var x, int dim, const char* op, bool keeps_dim, DimPrimitive forward, BackwardFn backward) {
  const Tensor& v = f32_input(t, x, op, "x");
  Backend& be = backend_of(t, op, {x});
  const Split s = split_at(v.shape(), dim, op);
  Tensor out = new_tensor(t, keeps_dim ? v.shape() : v.shape().removed(dim));
  (be.*forward)(v.f32(), s.outer, s.n, s.inner, out.f32());
  return record(t, out, needs_grad(t, {x}), backward, {x},
                [&](Node& n) { n.attrs.put(DimAttrs{s.outer, s.n, s.inner}); });
}

}  // namespace

Var sum(Tape& t, Var x) { return total(t, x, false, "sum"); }
Var mean(Tape& t, Var x) { return total(t, x, true, "mean"); }

Var sum_dim(Tape& t, Var x, int dim) {
  return along_dim(t, x, dim, "sum_dim", false, &Backend::sum_dim, sum_dim_backward);
}

Var masked_mean(Tape& t, Var x, const Tensor& mask) {
  const Tensor& v = f32_input(t, x, "masked_mean", "x");
  LL_CHECK(mask.dtype() == DType::f32, "masked_mean: mask must be f32, got ", dtype_name(mask.dtype()));
  check_same_shape(v, mask, "masked_mean");
  Backend& be = backend_of(t, "masked_mean", {x}, {&mask});
  Tensor out = new_tensor(t, Shape{1});
  const double den = be.masked_mean(v.f32(), mask.f32(), v.numel(), out.f32());
  LL_CHECK(den > 0.0, "masked_mean: the mask selects no element of ", v.shape().str());
  return record(t, out, needs_grad(t, {x}), masked_mean_backward, {x}, [&](Node& n) {
    n.attrs.put(ScaleAttrs{static_cast<float>(1.0 / den)});
    n.saved[0] = mask;
  });
}

Var cumsum(Tape& t, Var x, int dim) {
  return along_dim(t, x, dim, "cumsum", true, &Backend::cumsum, cumsum_backward);
}

Var softmax(Tape& t, Var x, int dim) {
  return along_dim(t, x, dim, "softmax", true, &Backend::softmax, softmax_backward);
}

}  // namespace limelight::ops
