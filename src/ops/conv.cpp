// Convolutions over time: the fused causal CNN layer (implicit left padding,
// the dilated convolution, bias, activation and residual in one primitive)
// and the plain dilated conv1d, which is the same primitive without padding,
// activation or residual.
#include "ops/common.hpp"

namespace limelight::ops {
using namespace detail;

namespace {

struct ConvAttrs {
  backend::ConvShape shape;
  Activation act;
};

// saved[0] = the activations act(pre) (B, To, O); the payload holds what the
// backend keeps for the backward (on the CPU, the packed weight).
void causal_conv_backward(Tape& t, const Node& n) {
  const ConvAttrs a = n.attrs.get<ConvAttrs>();
  backend_of(t, "causal_conv backward", {n.out})
      .causal_conv_backward(a.shape, a.act, t.grad(n.out).f32(), n.saved[0].f32(), grad_or_null(t, n.in[0]),
                            grad_or_null(t, n.in[1]), grad_or_null(t, n.in[2]), grad_or_null(t, n.in[3]),
                            t.arena(), n.payload);
}

Var convolve(Tape& t, const char* op, Var x, Var weight, Var bias, std::int64_t dilation, std::int64_t pad,
             Activation act, Var residual) {
  const Tensor& X = f32_input(t, x, op, "x");
  const Tensor& W = f32_input(t, weight, op, "weight");
  LL_CHECK(X.rank() == 3, op, ": x must be (B, T, C), got ", X.shape().str());
  LL_CHECK((W.rank() == 3 || (W.rank() == 4 && W.dim(3) == 1)) && W.dim(1) == X.dim(2), op, ": weight ",
           W.shape().str(), " does not fit x ", X.shape().str(), " (expected (O, C, K) or (O, C, K, 1))");
  LL_CHECK(dilation >= 1 && pad >= 0, op, ": dilation must be >= 1 and pad >= 0, got ", dilation, " and ", pad);
  backend::ConvShape s{X.dim(0), X.dim(1), X.dim(2), W.dim(0), W.dim(2), dilation, pad, 0, 0};
  s.To = s.T + pad - (s.K - 1) * dilation;
  LL_CHECK(s.To >= 1, op, ": input of length ", s.T, " with padding ", pad, " is shorter than the kernel's span ",
           (s.K - 1) * dilation + 1);
  const float* bias_p = nullptr;
  if (bias.valid()) {
    const Tensor& Bv = f32_input(t, bias, op, "bias");
    LL_CHECK(Bv.numel() == s.O, op, ": bias ", Bv.shape().str(), " does not match ", s.O, " output channels");
    bias_p = Bv.f32();
  }
  const float* res = nullptr;
  if (residual.valid()) {
    const Tensor& R = f32_input(t, residual, op, "residual");
    LL_CHECK(R.rank() == 3 && R.dim(0) == s.B && R.dim(1) <= s.To && R.dim(2) == s.O, op, ": residual ",
             R.shape().str(), " does not fit the output (", s.B, ", ", s.To, ", ", s.O, ")");
    s.Tr = R.dim(1);
    res = R.f32();
  }
  Backend& be = backend_of(t, op, {x, weight, bias, residual});
  Tensor out = new_tensor(t, Shape{s.B, s.To, s.O});
  Tensor acts = new_tensor(t, Shape{s.B, s.To, s.O});
  const bool rg = needs_grad(t, {x, weight, bias, residual});
  BackendPayload payload;
  be.causal_conv_forward(s, act, X.f32(), W.f32(), bias_p, res, out.f32(), acts.f32(), t.arena(),
                         rg ? &payload : nullptr);
  return record(t, out, rg, causal_conv_backward, {x, weight, bias, residual}, [&](Node& n) {
    n.attrs.put(ConvAttrs{s, act});
    n.saved[0] = acts;
    n.payload = payload;
  });
}

}  // namespace

Var causal_conv(Tape& t, Var x, Var weight, Var bias, std::int64_t dilation, std::int64_t pad, Activation act,
                Var residual) {
  LL_CHECK(bias.valid(), "causal_conv: a bias is required");
  return convolve(t, "causal_conv", x, weight, bias, dilation, pad, act, residual);
}

Var conv1d(Tape& t, Var x, Var weight, Var bias, std::int64_t dilation) {
  return convolve(t, "conv1d", x, weight, bias, dilation, 0, Activation::none, Var{});
}

}  // namespace limelight::ops
