// Elementwise ops: add, sub, mul, scale, add_scalar, bias_add, tanh, relu,
// sigmoid, maximum. Each forward is followed by its backward.
#include "ops/common.hpp"

namespace limelight::ops {
using namespace detail;
using backend::Binary;
using backend::Unary;

namespace {

struct BinaryAttrs {
  Binary op;
};
struct UnaryAttrs {
  Unary op;
  float scalar;
};
struct MaximumAttrs {
  int count;
};

void binary_backward(Tape& t, const Node& n) {
  const Tensor& g = t.grad(n.out);
  backend_of(t, "add/sub/mul backward", {n.out})
      .binary_backward(n.attrs.get<BinaryAttrs>().op, g.f32(), t.value(n.in[0]).f32(), t.value(n.in[1]).f32(),
                       grad_or_null(t, n.in[0]), grad_or_null(t, n.in[1]), g.numel());
}

Var binary(Tape& t, Var a, Var b, Binary op, const char* name) {
  const Tensor& x = f32_input(t, a, name, "a");
  const Tensor& y = f32_input(t, b, name, "b");
  check_same_shape(x, y, name);
  Backend& be = backend_of(t, name, {a, b});
  Tensor out = new_tensor(t, x.shape());
  be.binary(op, x.f32(), y.f32(), out.f32(), x.numel());
  return record(t, out, needs_grad(t, {a, b}), binary_backward, {a, b},
                [&](Node& n) { n.attrs.put(BinaryAttrs{op}); });
}

// Unary ops whose derivative is a function of the output y.
void unary_backward(Tape& t, const Node& n) {
  const UnaryAttrs attrs = n.attrs.get<UnaryAttrs>();
  const Tensor& y = t.value(n.out);
  backend_of(t, "unary backward", {n.out})
      .unary_backward(attrs.op, attrs.scalar, y.f32(), t.grad(n.out).f32(), t.grad(n.in[0]).f32(), y.numel());
}

Var unary(Tape& t, Var a, Unary op, float scalar, const char* name) {
  const Tensor& x = f32_input(t, a, name, "x");
  Backend& be = backend_of(t, name, {a});
  Tensor out = new_tensor(t, x.shape());
  be.unary(op, scalar, x.f32(), out.f32(), x.numel());
  return record(t, out, needs_grad(t, {a}), unary_backward, {a},
                [&](Node& n) { n.attrs.put(UnaryAttrs{op, scalar}); });
}

void bias_add_backward(Tape& t, const Node& n) {
  const Tensor& g = t.grad(n.out);
  Backend& be = backend_of(t, "bias_add backward", {n.out});
  const std::int64_t N = t.value(n.in[1]).numel();
  if (float* dx = grad_or_null(t, n.in[0])) be.axpy(1.0f, g.f32(), dx, g.numel());
  if (float* db = grad_or_null(t, n.in[1])) be.sum_rows(g.f32(), N > 0 ? g.numel() / N : 0, N, db);
}

void maximum_backward(Tape& t, const Node& n) {
  Backend& be = backend_of(t, "maximum backward", {n.out});
  const Tensor& arg = n.saved[0];
  const int count = n.attrs.get<MaximumAttrs>().count;
  for (int k = 0; k < count; ++k)
    if (float* d = grad_or_null(t, n.in[k])) be.maximum_backward(t.grad(n.out).f32(), arg.i32(), k, d, arg.numel());
}

}  // namespace

Var add(Tape& t, Var a, Var b) { return binary(t, a, b, Binary::add, "add"); }
Var sub(Tape& t, Var a, Var b) { return binary(t, a, b, Binary::sub, "sub"); }
Var mul(Tape& t, Var a, Var b) { return binary(t, a, b, Binary::mul, "mul"); }
Var scale(Tape& t, Var a, float factor) { return unary(t, a, Unary::scale, factor, "scale"); }
Var add_scalar(Tape& t, Var a, float value) { return unary(t, a, Unary::add_scalar, value, "add_scalar"); }
Var tanh(Tape& t, Var x) { return unary(t, x, Unary::tanh, 0.0f, "tanh"); }
Var relu(Tape& t, Var x) { return unary(t, x, Unary::relu, 0.0f, "relu"); }
Var sigmoid(Tape& t, Var x) { return unary(t, x, Unary::sigmoid, 0.0f, "sigmoid"); }

Var bias_add(Tape& t, Var x, Var bias) {
  const Tensor& v = f32_input(t, x, "bias_add", "x");
  const Tensor& b = f32_input(t, bias, "bias_add", "bias");
  LL_CHECK(v.rank() >= 1 && b.numel() == v.dim(v.rank() - 1), "bias_add: bias of shape ",
           b.shape().str(), " does not match the last dimension of ", v.shape().str());
  Backend& be = backend_of(t, "bias_add", {x, bias});
  const std::int64_t N = b.numel();
  Tensor out = new_tensor(t, v.shape());
  be.bias_add(v.f32(), b.f32(), N > 0 ? v.numel() / N : 0, N, out.f32());
  return record(t, out, needs_grad(t, {x, bias}), bias_add_backward, {x, bias});
}

Var maximum(Tape& t, const std::vector<Var>& xs) {
  LL_CHECK(!xs.empty() && xs.size() <= 5, "maximum: takes 1 to 5 inputs, got ", xs.size());
  const Tensor& first = f32_input(t, xs[0], "maximum", "input 0");
  const float* inputs[5];
  bool rg = false;
  for (std::size_t k = 0; k < xs.size(); ++k) {
    const Tensor& x = f32_input(t, xs[k], "maximum", "input");
    check_same_shape(first, x, "maximum");
    LL_CHECK(x.device() == t.device(), "maximum: input ", k, " is on ", device_name(x.device()),
             " but the tape computes on ", device_name(t.device()));
    inputs[k] = x.f32();
    rg = rg || needs_grad(t, {xs[k]});
  }
  Backend& be = backend::get(t.device());
  Tensor out = new_tensor(t, first.shape());
  Tensor arg = new_tensor(t, first.shape(), DType::i32);
  be.maximum(inputs, static_cast<int>(xs.size()), first.numel(), out.f32(), arg.i32());
  return record(t, out, rg, maximum_backward, std::span<const Var>(xs), [&](Node& n) {
    n.attrs.put(MaximumAttrs{static_cast<int>(xs.size())});
    n.saved[0] = arg;
  });
}

}  // namespace limelight::ops
