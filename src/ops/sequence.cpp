// Sequence ops over time: the LSTM layer and Spotlight's running pooling.
#include "ops/common.hpp"

namespace limelight::ops {
using namespace detail;

namespace {

// The payload holds what the backend's recurrence saved (the CPU: the
// time-major inputs, states and gates of each batch chunk).
void lstm_backward(Tape& t, const Node& n) {
  const Tensor& X = t.value(n.in[0]);
  const std::int64_t B = X.dim(0), T = X.dim(1), D = X.dim(2), H = t.value(n.in[2]).dim(1);
  backend_of(t, "lstm backward", {n.out})
      .lstm_backward(t.grad(n.out).f32(), t.value(n.in[1]).f32(), t.value(n.in[2]).f32(), B, T, D, H,
                     grad_or_null(t, n.in[0]), grad_or_null(t, n.in[1]), grad_or_null(t, n.in[2]),
                     grad_or_null(t, n.in[3]), grad_or_null(t, n.in[4]), t.arena(), n.payload);
}

// saved[0] = the divisors (B, T+1, D).
void running_pool_backward(Tape& t, const Node& n) {
  const Tensor& G = t.grad(n.out);
  backend_of(t, "running_pool backward", {n.out})
      .running_pool_backward(G.f32(), n.saved[0].f32(), G.dim(0), G.dim(1) - 1, G.dim(2), t.grad(n.in[0]).f32(),
                             n.payload);
}

}  // namespace

Var lstm(Tape& t, Var x, Var weight_ih, Var weight_hh, Var bias_ih, Var bias_hh) {
  const Tensor& X = f32_input(t, x, "lstm", "x");
  const Tensor& W_ih = f32_input(t, weight_ih, "lstm", "weight_ih");
  const Tensor& W_hh = f32_input(t, weight_hh, "lstm", "weight_hh");
  const Tensor& b_ih = f32_input(t, bias_ih, "lstm", "bias_ih");
  const Tensor& b_hh = f32_input(t, bias_hh, "lstm", "bias_hh");
  LL_CHECK(X.rank() == 3, "lstm: x must be (B, T, D), got ", X.shape().str());
  const std::int64_t B = X.dim(0), T = X.dim(1), D = X.dim(2), H = W_hh.rank() == 2 ? W_hh.dim(1) : 0, G = 4 * H;
  LL_CHECK(H > 0 && W_hh.dim(0) == G && W_ih.rank() == 2 && W_ih.dim(0) == G && W_ih.dim(1) == D &&
               b_ih.numel() == G && b_hh.numel() == G,
           "lstm: weights do not fit x ", X.shape().str(), ": weight_ih ", W_ih.shape().str(), ", weight_hh ",
           W_hh.shape().str(), ", bias_ih ", b_ih.shape().str(), ", bias_hh ", b_hh.shape().str(),
           " (expected (4H, D), (4H, H), (4H), (4H))");
  Backend& be = backend_of(t, "lstm", {x, weight_ih, weight_hh, bias_ih, bias_hh});
  Tensor h = new_tensor(t, Shape{B, T, H});
  const bool rg = needs_grad(t, {x, weight_ih, weight_hh, bias_ih, bias_hh});
  BackendPayload payload;
  be.lstm_forward(X.f32(), W_ih.f32(), W_hh.f32(), b_ih.f32(), b_hh.f32(), B, T, D, H, h.f32(), t.arena(),
                  rg ? &payload : nullptr);
  return record(t, h, rg, lstm_backward, {x, weight_ih, weight_hh, bias_ih, bias_hh},
                [&](Node& n) { n.payload = payload; });
}

Var running_pool(Tape& t, Var x) {
  const Tensor& X = f32_input(t, x, "running_pool", "x");
  LL_CHECK(X.rank() == 3, "running_pool: x must be (B, T, D), got ", X.shape().str());
  Backend& be = backend_of(t, "running_pool", {x});
  const std::int64_t B = X.dim(0), T = X.dim(1), D = X.dim(2);
  Tensor out = new_tensor(t, Shape{B, T + 1, D});
  Tensor div = new_tensor(t, Shape{B, T + 1, D});
  const bool rg = needs_grad(t, {x});
  BackendPayload payload;
  be.running_pool_forward(X.f32(), B, T, D, out.f32(), div.f32(), rg ? &payload : nullptr);
  return record(t, out, rg, running_pool_backward, {x}, [&](Node& n) {
    n.saved[0] = div;
    n.payload = payload;
  });
}

}  // namespace limelight::ops
