// Reductions and scans: sum, mean, sum_dim, masked_mean, cumsum, softmax.
#include <cmath>

#include "ops/common.hpp"

namespace limelight::ops {
using namespace detail;

namespace {

// sum/mean: every input element gets grad * factor.
void total_backward(Tape& t, const Node& n) {
  const float g = t.grad(n.out).f32()[0] * n.scalar;
  const Tensor& d = t.grad(n.in[0]);
  float* p = d.f32();
  for (std::int64_t i = 0; i < d.numel(); ++i) p[i] += g;
}

Var total(Tape& t, Var x, float factor_of_n, const char* op) {
  const Tensor& v = f32_input(t, x, op, "x");
  double acc = 0.0;  // double: sums over a whole batch lose digits in float
  const float* p = v.f32();
  for (std::int64_t i = 0; i < v.numel(); ++i) acc += p[i];
  const float factor = factor_of_n > 0.0f ? 1.0f / static_cast<float>(v.numel()) : 1.0f;
  Tensor out = new_tensor(t, Shape{1});
  out.f32()[0] = static_cast<float>(acc) * factor;
  bool rg = needs_grad(t, {x});
  Var r = t.output(out, rg);
  if (rg) {
    Node n;
    n.backward = total_backward;
    n.out = r;
    n.in[0] = x;
    n.scalar = factor;
    t.push(n);
  }
  return r;
}

void sum_dim_backward(Tape& t, const Node& n) {
  const std::int64_t outer = n.ints[0], N = n.ints[1], inner = n.ints[2];
  const float* g = t.grad(n.out).f32();
  float* d = t.grad(n.in[0]).f32();
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t k = 0; k < N; ++k) accumulate(d + (o * N + k) * inner, g + o * inner, inner);
}

void masked_mean_backward(Tape& t, const Node& n) {
  const float g = t.grad(n.out).f32()[0] * n.scalar;
  const float* m = n.saved[0].f32();
  const Tensor& d = t.grad(n.in[0]);
  float* p = d.f32();
  for (std::int64_t i = 0; i < d.numel(); ++i) p[i] += g * m[i];
}

void cumsum_backward(Tape& t, const Node& n) {
  const std::int64_t outer = n.ints[0], N = n.ints[1], inner = n.ints[2];
  const float* g = t.grad(n.out).f32();
  float* d = t.grad(n.in[0]).f32();
  // d x[k] = sum_{j >= k} g[j]: a reverse cumulative sum.
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t i = 0; i < inner; ++i) {
      float run = 0.0f;
      for (std::int64_t k = N - 1; k >= 0; --k) {
        const std::int64_t at = (o * N + k) * inner + i;
        run += g[at];
        d[at] += run;
      }
    }
}

void softmax_backward(Tape& t, const Node& n) {
  const std::int64_t outer = n.ints[0], N = n.ints[1], inner = n.ints[2];
  const float* y = t.value(n.out).f32();
  const float* g = t.grad(n.out).f32();
  float* d = t.grad(n.in[0]).f32();
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t i = 0; i < inner; ++i) {
      float dot = 0.0f;
      for (std::int64_t k = 0; k < N; ++k) {
        const std::int64_t at = (o * N + k) * inner + i;
        dot += g[at] * y[at];
      }
      for (std::int64_t k = 0; k < N; ++k) {
        const std::int64_t at = (o * N + k) * inner + i;
        d[at] += y[at] * (g[at] - dot);
      }
    }
}

}  // namespace

Var sum(Tape& t, Var x) { return total(t, x, 0.0f, "sum"); }
Var mean(Tape& t, Var x) { return total(t, x, 1.0f, "mean"); }

Var sum_dim(Tape& t, Var x, int dim) {
  const Tensor& v = f32_input(t, x, "sum_dim", "x");
  Split s = split_at(v.shape(), dim, "sum_dim");
  Tensor out = t.arena().zeros(v.shape().removed(dim));
  const float* p = v.f32();
  float* o = out.f32();
  for (std::int64_t a = 0; a < s.outer; ++a)
    for (std::int64_t k = 0; k < s.n; ++k) accumulate(o + a * s.inner, p + (a * s.n + k) * s.inner, s.inner);
  bool rg = needs_grad(t, {x});
  Var r = t.output(out, rg);
  if (rg) {
    Node n;
    n.backward = sum_dim_backward;
    n.out = r;
    n.in[0] = x;
    n.ints[0] = s.outer;
    n.ints[1] = s.n;
    n.ints[2] = s.inner;
    t.push(n);
  }
  return r;
}

Var masked_mean(Tape& t, Var x, const Tensor& mask) {
  const Tensor& v = f32_input(t, x, "masked_mean", "x");
  LL_CHECK(mask.dtype() == DType::f32, "masked_mean: mask must be f32, got ", dtype_name(mask.dtype()));
  check_same_shape(v, mask, "masked_mean");
  const float *p = v.f32(), *m = mask.f32();
  double num = 0.0, den = 0.0;
  for (std::int64_t i = 0; i < v.numel(); ++i) {
    num += static_cast<double>(p[i]) * m[i];
    den += m[i];
  }
  LL_CHECK(den > 0.0, "masked_mean: the mask selects no element of ", v.shape().str());
  Tensor out = new_tensor(t, Shape{1});
  out.f32()[0] = static_cast<float>(num / den);
  bool rg = needs_grad(t, {x});
  Var r = t.output(out, rg);
  if (rg) {
    Node n;
    n.backward = masked_mean_backward;
    n.out = r;
    n.in[0] = x;
    n.scalar = static_cast<float>(1.0 / den);
    n.saved[0] = mask;
    t.push(n);
  }
  return r;
}

Var cumsum(Tape& t, Var x, int dim) {
  const Tensor& v = f32_input(t, x, "cumsum", "x");
  Split s = split_at(v.shape(), dim, "cumsum");
  Tensor out = new_tensor(t, v.shape());
  const float* p = v.f32();
  float* o = out.f32();
  for (std::int64_t a = 0; a < s.outer; ++a) {
    const std::int64_t base = a * s.n * s.inner;
    for (std::int64_t i = 0; i < s.inner; ++i) o[base + i] = p[base + i];
    for (std::int64_t k = 1; k < s.n; ++k)
      for (std::int64_t i = 0; i < s.inner; ++i)
        o[base + k * s.inner + i] = o[base + (k - 1) * s.inner + i] + p[base + k * s.inner + i];
  }
  bool rg = needs_grad(t, {x});
  Var r = t.output(out, rg);
  if (rg) {
    Node n;
    n.backward = cumsum_backward;
    n.out = r;
    n.in[0] = x;
    n.ints[0] = s.outer;
    n.ints[1] = s.n;
    n.ints[2] = s.inner;
    t.push(n);
  }
  return r;
}

Var softmax(Tape& t, Var x, int dim) {
  const Tensor& v = f32_input(t, x, "softmax", "x");
  Split s = split_at(v.shape(), dim, "softmax");
  Tensor out = new_tensor(t, v.shape());
  const float* p = v.f32();
  float* o = out.f32();
  for (std::int64_t a = 0; a < s.outer; ++a)
    for (std::int64_t i = 0; i < s.inner; ++i) {
      const std::int64_t base = a * s.n * s.inner + i;
      float mx = -INFINITY;
      for (std::int64_t k = 0; k < s.n; ++k) mx = std::max(mx, p[base + k * s.inner]);
      float z = 0.0f;
      for (std::int64_t k = 0; k < s.n; ++k) z += o[base + k * s.inner] = std::exp(p[base + k * s.inner] - mx);
      for (std::int64_t k = 0; k < s.n; ++k) o[base + k * s.inner] /= z;
    }
  bool rg = needs_grad(t, {x});
  Var r = t.output(out, rg);
  if (rg) {
    Node n;
    n.backward = softmax_backward;
    n.out = r;
    n.in[0] = x;
    n.ints[0] = s.outer;
    n.ints[1] = s.n;
    n.ints[2] = s.inner;
    t.push(n);
  }
  return r;
}

}  // namespace limelight::ops
