// Elementwise ops: add, sub, mul, scale, add_scalar, bias_add, tanh, relu,
// sigmoid, maximum. Each forward is followed by its backward.
#include <cmath>

#include "ops/common.hpp"

namespace limelight::ops {
using namespace detail;

namespace {

// kind: 0 add, 1 sub, 2 mul
void binary_backward(Tape& t, const Node& n) {
  const Tensor& g = t.grad(n.out);
  const float* go = g.f32();
  const std::int64_t N = g.numel();
  for (int side = 0; side < 2; ++side) {
    Var v = n.in[side];
    if (!wants(t, v)) continue;
    float* d = t.grad(v).f32();
    if (n.ints[0] == 2) {
      const float* other = t.value(n.in[1 - side]).f32();
      for (std::int64_t i = 0; i < N; ++i) d[i] += go[i] * other[i];
    } else if (n.ints[0] == 1 && side == 1) {
      for (std::int64_t i = 0; i < N; ++i) d[i] -= go[i];
    } else {
      accumulate(d, go, N);
    }
  }
}

Var binary(Tape& t, Var a, Var b, int kind, const char* op) {
  const Tensor& x = f32_input(t, a, op, "a");
  const Tensor& y = f32_input(t, b, op, "b");
  check_same_shape(x, y, op);
  Tensor out = new_tensor(t, x.shape());
  const float *p = x.f32(), *q = y.f32();
  float* o = out.f32();
  const std::int64_t N = x.numel();
  if (kind == 0)
    for (std::int64_t i = 0; i < N; ++i) o[i] = p[i] + q[i];
  else if (kind == 1)
    for (std::int64_t i = 0; i < N; ++i) o[i] = p[i] - q[i];
  else
    for (std::int64_t i = 0; i < N; ++i) o[i] = p[i] * q[i];
  bool rg = needs_grad(t, {a, b});
  Var r = t.output(out, rg);
  if (rg) {
    Node n;
    n.backward = binary_backward;
    n.out = r;
    n.in[0] = a;
    n.in[1] = b;
    n.ints[0] = kind;
    t.push(n);
  }
  return r;
}

// Unary ops whose derivative is a function of the output y.
enum class Unary { tanh, relu, sigmoid, scale, add_scalar };

void unary_backward(Tape& t, const Node& n) {
  const float* go = t.grad(n.out).f32();
  const float* y = t.value(n.out).f32();
  float* d = t.grad(n.in[0]).f32();
  const std::int64_t N = t.value(n.out).numel();
  switch (static_cast<Unary>(n.ints[0])) {
    case Unary::tanh:
      for (std::int64_t i = 0; i < N; ++i) d[i] += go[i] * (1.0f - y[i] * y[i]);
      break;
    case Unary::relu:
      for (std::int64_t i = 0; i < N; ++i) d[i] += y[i] > 0.0f ? go[i] : 0.0f;
      break;
    case Unary::sigmoid:
      for (std::int64_t i = 0; i < N; ++i) d[i] += go[i] * y[i] * (1.0f - y[i]);
      break;
    case Unary::scale:
      for (std::int64_t i = 0; i < N; ++i) d[i] += go[i] * n.scalar;
      break;
    case Unary::add_scalar:
      accumulate(d, go, N);
      break;
  }
}

Var unary(Tape& t, Var a, Unary kind, float scalar, const char* op) {
  const Tensor& x = f32_input(t, a, op, "x");
  Tensor out = new_tensor(t, x.shape());
  const float* p = x.f32();
  float* o = out.f32();
  const std::int64_t N = x.numel();
  switch (kind) {
    case Unary::tanh:
      for (std::int64_t i = 0; i < N; ++i) o[i] = std::tanh(p[i]);
      break;
    case Unary::relu:
      for (std::int64_t i = 0; i < N; ++i) o[i] = p[i] > 0.0f ? p[i] : 0.0f;
      break;
    case Unary::sigmoid:
      for (std::int64_t i = 0; i < N; ++i) o[i] = 1.0f / (1.0f + std::exp(-p[i]));
      break;
    case Unary::scale:
      for (std::int64_t i = 0; i < N; ++i) o[i] = p[i] * scalar;
      break;
    case Unary::add_scalar:
      for (std::int64_t i = 0; i < N; ++i) o[i] = p[i] + scalar;
      break;
  }
  bool rg = needs_grad(t, {a});
  Var r = t.output(out, rg);
  if (rg) {
    Node n;
    n.backward = unary_backward;
    n.out = r;
    n.in[0] = a;
    n.ints[0] = static_cast<std::int64_t>(kind);
    n.scalar = scalar;
    t.push(n);
  }
  return r;
}

void bias_add_backward(Tape& t, const Node& n) {
  const Tensor& g = t.grad(n.out);
  const float* go = g.f32();
  const std::int64_t N = n.ints[0];
  const std::int64_t rows = g.numel() / N;
  if (wants(t, n.in[0])) accumulate(t.grad(n.in[0]).f32(), go, g.numel());
  if (wants(t, n.in[1])) {
    float* db = t.grad(n.in[1]).f32();
    for (std::int64_t r = 0; r < rows; ++r) accumulate(db, go + r * N, N);
  }
}

void maximum_backward(Tape& t, const Node& n) {
  const float* go = t.grad(n.out).f32();
  const std::int32_t* arg = n.saved[0].i32();
  const std::int64_t N = n.saved[0].numel();
  for (std::int64_t k = 0; k < n.ints[0]; ++k) {
    if (!wants(t, n.in[k])) continue;
    float* d = t.grad(n.in[k]).f32();
    for (std::int64_t i = 0; i < N; ++i)
      if (arg[i] == k) d[i] += go[i];
  }
}

}  // namespace

Var add(Tape& t, Var a, Var b) { return binary(t, a, b, 0, "add"); }
Var sub(Tape& t, Var a, Var b) { return binary(t, a, b, 1, "sub"); }
Var mul(Tape& t, Var a, Var b) { return binary(t, a, b, 2, "mul"); }
Var scale(Tape& t, Var a, float factor) { return unary(t, a, Unary::scale, factor, "scale"); }
Var add_scalar(Tape& t, Var a, float value) { return unary(t, a, Unary::add_scalar, value, "add_scalar"); }
Var tanh(Tape& t, Var x) { return unary(t, x, Unary::tanh, 0.0f, "tanh"); }
Var relu(Tape& t, Var x) { return unary(t, x, Unary::relu, 0.0f, "relu"); }
Var sigmoid(Tape& t, Var x) { return unary(t, x, Unary::sigmoid, 0.0f, "sigmoid"); }

Var bias_add(Tape& t, Var x, Var bias) {
  const Tensor& v = f32_input(t, x, "bias_add", "x");
  const Tensor& b = f32_input(t, bias, "bias_add", "bias");
  LL_CHECK(v.rank() >= 1 && b.numel() == v.dim(v.rank() - 1), "bias_add: bias of shape ", b.shape().str(),
           " does not match the last dimension of ", v.shape().str());
  const std::int64_t N = b.numel();
  Tensor out = new_tensor(t, v.shape());
  const float *p = v.f32(), *q = b.f32();
  float* o = out.f32();
  for (std::int64_t r = 0; r < v.numel() / std::max<std::int64_t>(N, 1); ++r)
    for (std::int64_t j = 0; j < N; ++j) o[r * N + j] = p[r * N + j] + q[j];
  bool rg = needs_grad(t, {x, bias});
  Var r = t.output(out, rg);
  if (rg) {
    Node n;
    n.backward = bias_add_backward;
    n.out = r;
    n.in[0] = x;
    n.in[1] = bias;
    n.ints[0] = N;
    t.push(n);
  }
  return r;
}

Var maximum(Tape& t, const std::vector<Var>& xs) {
  LL_CHECK(!xs.empty() && xs.size() <= 5, "maximum: takes 1 to 5 inputs, got ", xs.size());
  const Tensor& first = f32_input(t, xs[0], "maximum", "input 0");
  for (Var v : xs) check_same_shape(first, f32_input(t, v, "maximum", "input"), "maximum");
  const std::int64_t N = first.numel();
  Tensor out = new_tensor(t, first.shape());
  Tensor arg = t.arena().tensor(first.shape(), DType::i32);
  float* o = out.f32();
  std::int32_t* a = arg.i32();
  std::copy(first.f32(), first.f32() + N, o);
  std::fill(a, a + N, 0);
  for (std::size_t k = 1; k < xs.size(); ++k) {
    const float* p = t.value(xs[k]).f32();
    for (std::int64_t i = 0; i < N; ++i)
      if (p[i] > o[i]) {  // strictly greater: ties keep the lowest index
        o[i] = p[i];
        a[i] = static_cast<std::int32_t>(k);
      }
  }
  bool rg = false;
  for (Var v : xs) rg = rg || needs_grad(t, {v});
  Var r = t.output(out, rg);
  if (rg) {
    Node n;
    n.backward = maximum_backward;
    n.out = r;
    for (std::size_t k = 0; k < xs.size(); ++k) n.in[k] = xs[k];
    n.ints[0] = static_cast<std::int64_t>(xs.size());
    n.saved[0] = arg;
    t.push(n);
  }
  return r;
}

}  // namespace limelight::ops
