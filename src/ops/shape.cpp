// Shape ops that move data: pad_left, slice and concat along one dimension.
// Each copies bands of the (outer, n, inner) view with the backend's copy_band.
#include "ops/common.hpp"

namespace limelight::ops {
using namespace detail;

namespace {

// Where each input's band sits along the split dimension of the larger side:
// for pad_left and concat the output holds input k at offset[k]; for slice
// the input holds the output at offset[0].
struct BandAttrs {
  std::int64_t outer, inner, n_out;
  std::int64_t offset[2];
  bool slice;
};

void band_backward(Tape& t, const Node& n) {
  const BandAttrs a = n.attrs.get<BandAttrs>();
  Backend& be = backend_of(t, "band backward", {n.out});
  const float* g = t.grad(n.out).f32();
  for (int side = 0; side < 2; ++side) {
    float* d = grad_or_null(t, n.in[side]);
    if (!d) continue;
    const std::int64_t len = t.value(n.in[side]).numel() / (a.outer * a.inner);
    if (a.slice)
      be.copy_band(g, a.n_out, 0, d, len, a.offset[0], a.outer, a.n_out, a.inner, true);
    else
      be.copy_band(g, a.n_out, a.offset[side], d, len, 0, a.outer, len, a.inner, true);
  }
}

}  // namespace

Var pad_left(Tape& t, Var x, int dim, std::int64_t amount) {
  const Tensor& v = f32_input(t, x, "pad_left", "x");
  LL_CHECK(amount >= 0, "pad_left: negative amount ", amount);
  Backend& be = backend_of(t, "pad_left", {x});
  const Split s = split_at(v.shape(), dim, "pad_left");
  Shape shape = v.shape();
  shape[dim] = s.n + amount;
  Tensor out = new_tensor(t, shape);
  be.fill(out.f32(), out.numel(), 0.0f);
  be.copy_band(v.f32(), s.n, 0, out.f32(), s.n + amount, amount, s.outer, s.n, s.inner, false);
  return record(t, out, needs_grad(t, {x}), band_backward, {x},
                [&](Node& n) { n.attrs.put(BandAttrs{s.outer, s.inner, s.n + amount, {amount, 0}, false}); });
}

Var slice(Tape& t, Var x, int dim, std::int64_t start, std::int64_t length) {
  const Tensor& v = f32_input(t, x, "slice", "x");
  Backend& be = backend_of(t, "slice", {x});
  const Split s = split_at(v.shape(), dim, "slice");
  LL_CHECK(start >= 0 && length >= 0 && start + length <= s.n, "slice: [", start, ", ", start + length,
           ") is outside dimension ", dim, " of ", v.shape().str());
  Shape shape = v.shape();
  shape[dim] = length;
  Tensor out = new_tensor(t, shape);
  be.copy_band(v.f32(), s.n, start, out.f32(), length, 0, s.outer, length, s.inner, false);
  return record(t, out, needs_grad(t, {x}), band_backward, {x},
                [&](Node& n) { n.attrs.put(BandAttrs{s.outer, s.inner, length, {start, 0}, true}); });
}

Var concat(Tape& t, Var a, Var b, int dim) {
  const Tensor& x = f32_input(t, a, "concat", "a");
  const Tensor& y = f32_input(t, b, "concat", "b");
  LL_CHECK(x.rank() == y.rank(), "concat: ranks differ, ", x.shape().str(), " and ", y.shape().str());
  for (int i = 0; i < x.rank(); ++i)
    LL_CHECK(i == dim || x.dim(i) == y.dim(i), "concat: shapes ", x.shape().str(), " and ", y.shape().str(),
             " differ outside dimension ", dim);
  Backend& be = backend_of(t, "concat", {a, b});
  const Split sx = split_at(x.shape(), dim, "concat");
  const Split sy = split_at(y.shape(), dim, "concat");
  Shape shape = x.shape();
  shape[dim] = sx.n + sy.n;
  Tensor out = new_tensor(t, shape);
  be.copy_band(x.f32(), sx.n, 0, out.f32(), sx.n + sy.n, 0, sx.outer, sx.n, sx.inner, false);
  be.copy_band(y.f32(), sy.n, 0, out.f32(), sx.n + sy.n, sx.n, sx.outer, sy.n, sx.inner, false);
  return record(t, out, needs_grad(t, {a, b}), band_backward, {a, b},
                [&](Node& n) { n.attrs.put(BandAttrs{sx.outer, sx.inner, sx.n + sy.n, {0, sx.n}, false}); });
}

}  // namespace limelight::ops
