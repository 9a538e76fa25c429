// The fused causal convolution layer: implicit left padding, the dilated
// convolution as one GEMM over an unfolded input, activation and residual
// in a single pass. Batch chunks run in parallel with their own unfolded
// rows; weight gradients are summed per chunk, then in chunk order.
#include <algorithm>
#include <cstring>

#include "backend/cpu_math.hpp"
#include "backend/parallel.hpp"
#include "ops/common.hpp"

namespace limelight::ops {
using namespace detail;

namespace {

struct ConvShape {
  std::int64_t B, T, C, O, K, dilation, pad, To, Tr;
};

// Unfolded input rows for batch rows [b0, b1): col[(b, s), j*C + c] = x[b, s + j*dilation - pad, c], zero before 0.
void unfold(const float* x, const ConvShape& s, std::int64_t b0, std::int64_t b1, float* col) {
  const std::int64_t KC = s.K * s.C;
  for (std::int64_t b = b0; b < b1; ++b)
    for (std::int64_t t = 0; t < s.To; ++t) {
      float* row = col + ((b - b0) * s.To + t) * KC;
      for (std::int64_t j = 0; j < s.K; ++j) {
        const std::int64_t src = t + j * s.dilation - s.pad;
        float* __restrict dst = row + j * s.C;
        if (src < 0) {
          for (std::int64_t c = 0; c < s.C; ++c) dst[c] = 0.0f;
        } else {
          const float* __restrict from = x + (b * s.T + src) * s.C;
          for (std::int64_t c = 0; c < s.C; ++c) dst[c] = from[c];
        }
      }
    }
}

// y (steps, O) holds the convolution without bias; adds the bias, applies the
// activation (kept in a for backward) and adds the residual (when given).
LL_SIMD_CLONES void activate(float* __restrict y, float* __restrict a, const float* __restrict bias,
                             const float* __restrict res, std::int64_t steps, std::int64_t O, Activation act) {
  for (std::int64_t s = 0; s < steps; ++s)
    for (std::int64_t o = 0; o < O; ++o) {
      const std::int64_t i = s * O + o;
      const float pre = y[i] + bias[o];
      const float v = act == Activation::relu ? (pre > 0.0f ? pre : 0.0f)
                      : act == Activation::tanh ? cpu::fast_tanh(pre)
                                                : pre;
      a[i] = v;
      y[i] = v + (res ? res[i] : 0.0f);
    }
}

LL_SIMD_CLONES void activation_backward(const float* __restrict g, const float* __restrict a, float* __restrict dp,
                                        std::int64_t n, Activation act) {
  for (std::int64_t i = 0; i < n; ++i)
    dp[i] = act == Activation::relu ? (a[i] > 0.0f ? g[i] : 0.0f)
            : act == Activation::tanh ? g[i] * (1.0f - a[i] * a[i])
                                      : g[i];
}

// saved[0] = activations act(pre) (B, To, O), saved[1] = packed weight (O, K*C),
// saved[2] = the forward's unfolded input, per chunk (backward reuses it for
// the weight gradient, then as scratch); ints: dilation, pad, activation, chunk count.
void causal_conv_backward(Tape& t, const Node& n) {
  const Tensor& X = t.value(n.in[0]);
  const Tensor& W = t.value(n.in[1]);
  const Tensor& G = t.grad(n.out);
  ConvShape s{X.dim(0), X.dim(1), X.dim(2), W.dim(0), W.dim(2), n.ints[0], n.ints[1], G.dim(1), 0};
  const Activation act = static_cast<Activation>(n.ints[2]);
  const int chunks = static_cast<int>(n.ints[3]);
  const std::int64_t KC = s.K * s.C, O = s.O;
  // The residual gets the output's gradient on its steps.
  const std::int64_t Tr = wants(t, n.in[3]) ? t.value(n.in[3]).dim(1) : 0;
  float* dr = Tr ? t.grad(n.in[3]).f32() : nullptr;
  Tensor d_pre = t.arena().tensor(G.shape());
  const bool d_x = wants(t, n.in[0]), d_w = wants(t, n.in[1]), d_b = wants(t, n.in[2]);
  // Gradient buffers are created lazily by the tape: fetch them before the
  // parallel region, never inside it.
  float* dx = d_x ? t.grad(n.in[0]).f32() : nullptr;
  Tensor partial = t.arena().zeros(Shape{chunks, O * KC + O});
  const Tensor& col = n.saved[2];
  const std::int64_t chunk_size = col.numel() / col.dim(0);
  cpu::parallel_chunks(s.B, 2, [&](int c, std::int64_t b0, std::int64_t b1) {
    const std::int64_t rows = (b1 - b0) * s.To;
    if (dr)
      for (std::int64_t b = b0; b < b1; ++b) accumulate(dr + b * Tr * O, G.f32() + (b * s.To + s.To - Tr) * O, Tr * O);
    float* dp = d_pre.f32() + b0 * s.To * O;
    activation_backward(G.f32() + b0 * s.To * O, n.saved[0].f32() + b0 * s.To * O, dp, rows * O, act);
    float* mine = partial.f32() + c * (O * KC + O);
    float* cb = col.f32() + c * chunk_size;
    if (d_w) cpu::gemm(true, false, O, KC, rows, 1.0f, dp, O, cb, KC, 0.0f, mine, KC);
    if (d_b)
      for (std::int64_t r = 0; r < rows; ++r) accumulate(mine + O * KC, dp + r * O, O);
    if (d_x) {
      // d x[b, u] += sum_j d_pre[b, u + pad - j*dilation] W_j, one small GEMM
      // per row and tap over the steps where both sides exist (padding drops out).
      const float* wr = n.saved[1].f32();
      for (std::int64_t b = b0; b < b1; ++b)
        for (std::int64_t j = 0; j < s.K; ++j) {
          const std::int64_t shift = s.pad - j * s.dilation;  // output step = input step + shift
          const std::int64_t u0 = std::max<std::int64_t>(0, -shift);
          const std::int64_t u1 = std::min<std::int64_t>(s.T, s.To - shift);
          if (u1 <= u0) continue;
          cpu::gemm(false, false, u1 - u0, s.C, O, 1.0f, d_pre.f32() + (b * s.To + u0 + shift) * O, O, wr + j * s.C, KC,
                    1.0f, dx + (b * s.T + u0) * s.C, s.C);
        }
    }
  }, chunks);
  if (d_w) {
    float* dW = t.grad(n.in[1]).f32();
    for (int c = 0; c < chunks; ++c) {
      const float* p = partial.f32() + c * (O * KC + O);
      for (std::int64_t o = 0; o < O; ++o)
        for (std::int64_t ci = 0; ci < s.C; ++ci)
          for (std::int64_t j = 0; j < s.K; ++j) dW[(o * s.C + ci) * s.K + j] += p[o * KC + j * s.C + ci];
    }
  }
  if (d_b) {
    float* db = t.grad(n.in[2]).f32();
    for (int c = 0; c < chunks; ++c) accumulate(db, partial.f32() + c * (O * KC + O) + O * KC, O);
  }
}

}  // namespace

Var causal_conv(Tape& t, Var x, Var weight, Var bias, std::int64_t dilation, std::int64_t pad, Activation act,
                Var residual) {
  const char* op = "causal_conv";
  const Tensor& X = f32_input(t, x, op, "x");
  const Tensor& W = f32_input(t, weight, op, "weight");
  const Tensor& Bv = f32_input(t, bias, op, "bias");
  LL_CHECK(X.rank() == 3, op, ": x must be (B, T, C), got ", X.shape().str());
  LL_CHECK((W.rank() == 3 || (W.rank() == 4 && W.dim(3) == 1)) && W.dim(1) == X.dim(2), op, ": weight ",
           W.shape().str(), " does not fit x ", X.shape().str(), " (expected (O, C, K) or (O, C, K, 1))");
  LL_CHECK(dilation >= 1 && pad >= 0, op, ": dilation must be >= 1 and pad >= 0, got ", dilation, " and ", pad);
  ConvShape s{X.dim(0), X.dim(1), X.dim(2), W.dim(0), W.dim(2), dilation, pad, 0, 0};
  s.To = s.T + pad - (s.K - 1) * dilation;
  LL_CHECK(s.To >= 1, op, ": input of length ", s.T, " with padding ", pad, " is shorter than the kernel's span ",
           (s.K - 1) * dilation + 1);
  LL_CHECK(Bv.numel() == s.O, op, ": bias ", Bv.shape().str(), " does not match ", s.O, " output channels");
  const float* res = nullptr;
  if (residual.valid()) {
    const Tensor& R = f32_input(t, residual, op, "residual");
    LL_CHECK(R.rank() == 3 && R.dim(0) == s.B && R.dim(1) <= s.To && R.dim(2) == s.O, op, ": residual ",
             R.shape().str(), " does not fit the output (", s.B, ", ", s.To, ", ", s.O, ")");
    s.Tr = R.dim(1);
    res = R.f32();
  }
  const std::int64_t KC = s.K * s.C;
  Tensor Wr = t.arena().tensor(Shape{s.O, KC});
  {
    float* wr = Wr.f32();
    const float* w = W.f32();
    for (std::int64_t o = 0; o < s.O; ++o)
      for (std::int64_t c = 0; c < s.C; ++c)
        for (std::int64_t j = 0; j < s.K; ++j) wr[o * KC + j * s.C + c] = w[(o * s.C + c) * s.K + j];
  }
  Tensor out = new_tensor(t, Shape{s.B, s.To, s.O});
  Tensor acts = t.arena().tensor(Shape{s.B, s.To, s.O});
  const int threads = cpu::num_threads();
  const std::int64_t max_rows = (s.B + threads - 1) / threads + 1;
  Tensor col = t.arena().tensor(Shape{threads, max_rows * s.To * KC});
  const int chunks = cpu::parallel_chunks(s.B, 2, [&](int c, std::int64_t b0, std::int64_t b1) {
    const std::int64_t rows = (b1 - b0) * s.To;
    float* cb = col.f32() + c * max_rows * s.To * KC;
    float* o = out.f32() + b0 * s.To * s.O;
    unfold(X.f32(), s, b0, b1, cb);
    cpu::gemm(false, true, rows, s.O, KC, 1.0f, cb, KC, Wr.f32(), KC, 0.0f, o, s.O);
    for (std::int64_t b = b0; b < b1; ++b) {
      const std::int64_t lead = s.To - s.Tr;  // steps before the residual starts
      float* ob = out.f32() + b * s.To * s.O;
      float* ab = acts.f32() + b * s.To * s.O;
      activate(ob, ab, Bv.f32(), nullptr, lead, s.O, act);
      activate(ob + lead * s.O, ab + lead * s.O, Bv.f32(), res ? res + b * s.Tr * s.O : nullptr, s.Tr, s.O, act);
    }
  });
  bool rg = needs_grad(t, {x, weight, bias, residual});
  Var r = t.output(out, rg);
  if (rg) {
    Node n;
    n.backward = causal_conv_backward;
    n.out = r;
    n.in[0] = x;
    n.in[1] = weight;
    n.in[2] = bias;
    n.in[3] = residual;
    n.ints[0] = dilation;
    n.ints[1] = pad;
    n.ints[2] = static_cast<std::int64_t>(act);
    n.ints[3] = chunks;
    n.saved[0] = acts;
    n.saved[1] = Wr;
    n.saved[2] = col;
    t.push(n);
  }
  return r;
}

}  // namespace limelight::ops
