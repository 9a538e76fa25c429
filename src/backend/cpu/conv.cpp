// One causal convolution layer on the CPU: implicit left padding, the
// dilated convolution as K small GEMMs per sequence (one per kernel tap, each
// reading the input rows shifted by that tap in place), then bias, activation
// and residual in a single pass. A sequence's rows stay in cache from the GEMMs
// to the activation, and nothing of the input is unfolded: an unfolded copy
// was K times the input, written and read back through memory, and its
// tall-skinny GEMM spent as long packing panels as multiplying. Batch chunks
// run in parallel; weight gradients are summed per chunk, then in chunk order.
#include <algorithm>
#include <vector>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/cpu_math.hpp"
#include "backend/cpu/parallel.hpp"

namespace limelight::cpu {

namespace {

// What the backward needs of the forward beyond the activations: the input
// (a tape value, alive until the backward has run); the payload's buffer
// holds the packed weights.
struct ConvState {
  const float* x;
};

// Tap j reads input step u = t - shift(j) for output step t; the output steps
// [first, last) where that input exists (the others read the implicit zeros).
struct TapRange {
  std::int64_t shift, first, last;
};
TapRange tap_range(const backend::ConvShape& s, std::int64_t j) {
  const std::int64_t shift = s.pad - j * s.dilation;
  return {shift, std::max<std::int64_t>(0, shift), std::min<std::int64_t>(s.To, s.T + shift)};
}

// y (steps, O) holds the convolution without bias; adds the bias (never null), applies the
// activation (kept in a for backward) and adds the residual (when given).
LL_SIMD_CLONES void activate(float* __restrict y, float* __restrict a, const float* __restrict bias,
                             const float* __restrict res, std::int64_t steps, std::int64_t O, ops::Activation act) {
  for (std::int64_t s = 0; s < steps; ++s)
    for (std::int64_t o = 0; o < O; ++o) {
      const std::int64_t i = s * O + o;
      const float pre = y[i] + bias[o];
      const float v = act == ops::Activation::relu ? (pre > 0.0f ? pre : 0.0f)
                      : act == ops::Activation::tanh ? fast_tanh(pre)
                                                     : pre;
      a[i] = v;
      y[i] = v + (res ? res[i] : 0.0f);
    }
}

LL_SIMD_CLONES void activation_backward(const float* __restrict g, const float* __restrict a, float* __restrict dp,
                                        std::int64_t n, ops::Activation act) {
  for (std::int64_t i = 0; i < n; ++i)
    dp[i] = act == ops::Activation::relu ? (a[i] > 0.0f ? g[i] : 0.0f)
            : act == ops::Activation::tanh ? g[i] * (1.0f - a[i] * a[i])
                                           : g[i];
}

}  // namespace

void CpuBackend::causal_conv_forward(const ConvShape& s, ops::Activation act, const float* x, const float* weight,
                                     const float* bias, const float* residual, float* y, float* activations,
                                     Arena& scratch, BackendPayload* payload) {
  const std::int64_t KC = s.K * s.C;
  // The kernel taps of weight (O, C, K) as Wr (O, K*C), Wr[o, j*C + c] = W[o, c, j], for the input
  // gradient, and transposed per tap, Wt[j] (C, O), for the forward: every GEMM is then a row-major
  // product without transposes, which OpenBLAS runs in its small-matrix kernel; (n, C) x Wr_j^T is
  // not (it packs panels).
  Tensor packed = scratch.tensor(Shape{2, s.O * KC});
  float* wr = packed.f32();
  float* wt = wr + s.O * KC;
  for (std::int64_t o = 0; o < s.O; ++o)
    for (std::int64_t c = 0; c < s.C; ++c)
      for (std::int64_t j = 0; j < s.K; ++j) {
        wr[o * KC + j * s.C + c] = weight[(o * s.C + c) * s.K + j];
        wt[(j * s.C + c) * s.O + o] = weight[(o * s.C + c) * s.K + j];
      }
  if (!bias) {  // conv1d without a bias: add zeros rather than branch in the hot loop
    Tensor zeros = scratch.zeros(Shape{s.O});
    bias = zeros.f32();
  }
  const int threads = num_threads();
  parallel_chunks(threads, s.B, 2, [&](int, std::int64_t b0, std::int64_t b1) {
    for (std::int64_t b = b0; b < b1; ++b) {
      float* yb = y + b * s.To * s.O;
      std::fill(yb, yb + s.To * s.O, 0.0f);
      for (std::int64_t j = 0; j < s.K; ++j) {
        const TapRange r = tap_range(s, j);
        if (r.last <= r.first) continue;
        gemm(false, false, r.last - r.first, s.O, s.C, 1.0f, x + (b * s.T + r.first - r.shift) * s.C, s.C,
             wt + j * s.C * s.O, s.O, 1.0f, yb + r.first * s.O, s.O);
      }
      const std::int64_t lead = s.To - s.Tr;  // steps before the residual starts
      float* ab = activations + b * s.To * s.O;
      activate(yb, ab, bias, nullptr, lead, s.O, act);
      activate(yb + lead * s.O, ab + lead * s.O, bias, residual ? residual + b * s.Tr * s.O : nullptr, s.Tr, s.O,
               act);
    }
  });
  if (payload) {
    payload->buffers[0] = packed;
    payload->state.put(ConvState{x});
  }
}

void CpuBackend::causal_conv_backward(const ConvShape& s, ops::Activation act, const float* d_y,
                                      const float* activations, float* d_x, float* d_weight, float* d_bias,
                                      float* d_residual, Arena& scratch, const BackendPayload& payload) {
  const float* x = payload.state.get<ConvState>().x;
  const std::int64_t KC = s.K * s.C, O = s.O;
  const float* wr = payload.buffers[0].f32();
  const int chunks = chunk_count(num_threads(), s.B, 2);
  // Per chunk: its weight and bias gradients, then one sequence's d_pre.
  const std::int64_t per_chunk = O * KC + O + s.To * O;
  Tensor partial = scratch.zeros(Shape{chunks, per_chunk});
  parallel_chunks(chunks, s.B, 0, [&](int c, std::int64_t b0, std::int64_t b1) {
    float* mine = partial.f32() + c * per_chunk;
    float* dp = mine + O * KC + O;
    for (std::int64_t b = b0; b < b1; ++b) {
      // The residual gets the output's gradient on its steps.
      if (d_residual) axpy(1.0f, d_y + (b * s.To + s.To - s.Tr) * O, d_residual + b * s.Tr * O, s.Tr * O);
      activation_backward(d_y + b * s.To * O, activations + b * s.To * O, dp, s.To * O, act);
      if (d_bias) sum_rows(dp, s.To, O, mine + O * KC);
      for (std::int64_t j = 0; j < s.K; ++j) {
        const TapRange r = tap_range(s, j);
        if (r.last <= r.first) continue;
        const float* xb = x + (b * s.T + r.first - r.shift) * s.C;
        // d W_j += d_pre[steps]^T x[steps - shift];  d x[steps - shift] += d_pre[steps] W_j.
        if (d_weight)
          gemm(true, false, O, s.C, r.last - r.first, 1.0f, dp + r.first * O, O, xb, s.C, 1.0f, mine + j * s.C, KC);
        if (d_x)
          gemm(false, false, r.last - r.first, s.C, O, 1.0f, dp + r.first * O, O, wr + j * s.C, KC, 1.0f,
               d_x + (b * s.T + r.first - r.shift) * s.C, s.C);
      }
    }
  });
  for (int c = 0; c < chunks; ++c) {
    const float* p = partial.f32() + c * per_chunk;
    if (d_weight)
      for (std::int64_t o = 0; o < O; ++o)
        for (std::int64_t ci = 0; ci < s.C; ++ci)
          for (std::int64_t j = 0; j < s.K; ++j) d_weight[(o * s.C + ci) * s.K + j] += p[o * KC + j * s.C + ci];
    if (d_bias) axpy(1.0f, p + O * KC, d_bias, O);
  }
}

}  // namespace limelight::cpu
