// Shape ops that move data: pad_left, slice and concat along one dimension.
#include <cstring>

#include "ops/common.hpp"

namespace limelight::ops {
using namespace detail;

namespace {

// Copies `len` entries of the split dimension, inner-sized each, between two
// tensors that share outer and inner sizes: dst[o, dst_at + k] (+)= src[o, src_at + k].
void copy_band(const float* src, std::int64_t src_n, std::int64_t src_at, float* dst, std::int64_t dst_n,
               std::int64_t dst_at, std::int64_t outer, std::int64_t len, std::int64_t inner, bool add) {
  for (std::int64_t o = 0; o < outer; ++o) {
    const float* s = src + (o * src_n + src_at) * inner;
    float* d = dst + (o * dst_n + dst_at) * inner;
    if (add)
      accumulate(d, s, len * inner);
    else
      std::memcpy(d, s, sizeof(float) * static_cast<std::size_t>(len * inner));
  }
}

// ints: outer, n_in, n_out, inner; in[k] placed at offset ints-derived.
void band_backward(Tape& t, const Node& n) {
  const std::int64_t outer = n.ints[0], n_out = n.ints[2], inner = n.ints[3];
  const float* g = t.grad(n.out).f32();
  // in[0] occupies [at0, at0 + len0) of the output band; in[1] (concat) follows it.
  for (int side = 0; side < 2; ++side) {
    Var v = n.in[side];
    if (!wants(t, v)) continue;
    const Tensor& in = t.value(v);
    const std::int64_t len = in.numel() / (outer * inner);
    const std::int64_t out_at = side == 0 ? n.ints[1] : n.ints[1] + t.value(n.in[0]).numel() / (outer * inner);
    if (n.scalar != 0.0f) {  // slice: the input is larger; the output came from [start, start+len)
      copy_band(g, n_out, 0, t.grad(v).f32(), len, n.ints[1], outer, n_out, inner, true);
    } else {
      copy_band(g, n_out, out_at, t.grad(v).f32(), len, 0, outer, len, inner, true);
    }
  }
}

}  // namespace

Var pad_left(Tape& t, Var x, int dim, std::int64_t amount) {
  const Tensor& v = f32_input(t, x, "pad_left", "x");
  LL_CHECK(amount >= 0, "pad_left: negative amount ", amount);
  Split s = split_at(v.shape(), dim, "pad_left");
  Shape shape = v.shape();
  shape[dim] = s.n + amount;
  Tensor out = t.arena().zeros(shape);
  copy_band(v.f32(), s.n, 0, out.f32(), s.n + amount, amount, s.outer, s.n, s.inner, false);
  bool rg = needs_grad(t, {x});
  Var r = t.output(out, rg);
  if (rg) {
    Node n;
    n.backward = band_backward;
    n.out = r;
    n.in[0] = x;
    n.ints[0] = s.outer;
    n.ints[1] = amount;
    n.ints[2] = s.n + amount;
    n.ints[3] = s.inner;
    t.push(n);
  }
  return r;
}

Var slice(Tape& t, Var x, int dim, std::int64_t start, std::int64_t length) {
  const Tensor& v = f32_input(t, x, "slice", "x");
  Split s = split_at(v.shape(), dim, "slice");
  LL_CHECK(start >= 0 && length >= 0 && start + length <= s.n, "slice: [", start, ", ", start + length,
           ") is outside dimension ", dim, " of ", v.shape().str());
  Shape shape = v.shape();
  shape[dim] = length;
  Tensor out = new_tensor(t, shape);
  copy_band(v.f32(), s.n, start, out.f32(), length, 0, s.outer, length, s.inner, false);
  bool rg = needs_grad(t, {x});
  Var r = t.output(out, rg);
  if (rg) {
    Node n;
    n.backward = band_backward;
    n.out = r;
    n.in[0] = x;
    n.ints[0] = s.outer;
    n.ints[1] = start;
    n.ints[2] = length;
    n.ints[3] = s.inner;
    n.scalar = 1.0f;  // marks a slice
    t.push(n);
  }
  return r;
}

Var concat(Tape& t, Var a, Var b, int dim) {
  const Tensor& x = f32_input(t, a, "concat", "a");
  const Tensor& y = f32_input(t, b, "concat", "b");
  LL_CHECK(x.rank() == y.rank(), "concat: ranks differ, ", x.shape().str(), " and ", y.shape().str());
  for (int i = 0; i < x.rank(); ++i)
    LL_CHECK(i == dim || x.dim(i) == y.dim(i), "concat: shapes ", x.shape().str(), " and ", y.shape().str(),
             " differ outside dimension ", dim);
  Split sx = split_at(x.shape(), dim, "concat");
  Split sy = split_at(y.shape(), dim, "concat");
  Shape shape = x.shape();
  shape[dim] = sx.n + sy.n;
  Tensor out = new_tensor(t, shape);
  copy_band(x.f32(), sx.n, 0, out.f32(), sx.n + sy.n, 0, sx.outer, sx.n, sx.inner, false);
  copy_band(y.f32(), sy.n, 0, out.f32(), sx.n + sy.n, sx.n, sx.outer, sy.n, sx.inner, false);
  bool rg = needs_grad(t, {a, b});
  Var r = t.output(out, rg);
  if (rg) {
    Node n;
    n.backward = band_backward;
    n.out = r;
    n.in[0] = a;
    n.in[1] = b;
    n.ints[0] = sx.outer;
    n.ints[1] = 0;
    n.ints[2] = sx.n + sy.n;
    n.ints[3] = sx.inner;
    t.push(n);
  }
  return r;
}

}  // namespace limelight::ops
