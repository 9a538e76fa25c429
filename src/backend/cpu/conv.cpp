// One causal convolution layer on the CPU: implicit left padding, the
// dilated convolution as one GEMM over an unfolded input, then bias,
// activation and residual in a single pass. Batch chunks run in parallel
// with their own unfolded rows, which the backward reuses for the weight
// gradient; weight gradients are summed per chunk, then in chunk order.
#include <algorithm>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/cpu_math.hpp"
#include "backend/cpu/parallel.hpp"

namespace limelight::cpu {

namespace {

// What the backward needs of the forward beyond the activations: its chunk
// count (the unfolded rows of chunk c start at c * chunk_floats); the
// payload's buffers hold the unfolded input and the packed weight.
struct ConvState {
  int chunks;
  std::int64_t chunk_floats;
};

// Unfolded input rows for batch rows [b0, b1): col[(b, s), j*C + c] = x[b, s + j*dilation - pad, c], zero before 0.
void unfold(const float* x, const backend::ConvShape& s, std::int64_t b0, std::int64_t b1, float* col) {
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
  // The kernel taps of weight (O, C, K) as Wr (O, K*C), Wr[o, j*C + c] = W[o, c, j].
  Tensor packed = scratch.tensor(Shape{s.O, KC});
  float* wr = packed.f32();
  for (std::int64_t o = 0; o < s.O; ++o)
    for (std::int64_t c = 0; c < s.C; ++c)
      for (std::int64_t j = 0; j < s.K; ++j) wr[o * KC + j * s.C + c] = weight[(o * s.C + c) * s.K + j];
  if (!bias) {  // conv1d without a bias: add zeros rather than branch in the hot loop
    Tensor zeros = scratch.zeros(Shape{s.O});
    bias = zeros.f32();
  }
  const int threads = num_threads();
  const std::int64_t max_rows = (s.B + threads - 1) / threads + 1;
  const std::int64_t chunk_floats = max_rows * s.To * KC;
  Tensor col = scratch.tensor(Shape{threads, chunk_floats});
  const int chunks = parallel_chunks(threads, s.B, 2, [&](int c, std::int64_t b0, std::int64_t b1) {
    const std::int64_t rows = (b1 - b0) * s.To;
    float* cb = col.f32() + c * chunk_floats;
    unfold(x, s, b0, b1, cb);
    gemm(false, true, rows, s.O, KC, 1.0f, cb, KC, wr, KC, 0.0f, y + b0 * s.To * s.O, s.O);
    for (std::int64_t b = b0; b < b1; ++b) {
      const std::int64_t lead = s.To - s.Tr;  // steps before the residual starts
      float* yb = y + b * s.To * s.O;
      float* ab = activations + b * s.To * s.O;
      activate(yb, ab, bias, nullptr, lead, s.O, act);
      activate(yb + lead * s.O, ab + lead * s.O, bias, residual ? residual + b * s.Tr * s.O : nullptr, s.Tr, s.O,
               act);
    }
  });
  if (payload) {
    payload->buffers[0] = col;
    payload->buffers[1] = packed;
    payload->state.put(ConvState{chunks, chunk_floats});
  }
}

void CpuBackend::causal_conv_backward(const ConvShape& s, ops::Activation act, const float* d_y,
                                      const float* activations, float* d_x, float* d_weight, float* d_bias,
                                      float* d_residual, Arena& scratch, const BackendPayload& payload) {
  const ConvState state = payload.state.get<ConvState>();
  const std::int64_t KC = s.K * s.C, O = s.O;
  const float* wr = payload.buffers[1].f32();
  float* col = payload.buffers[0].f32();
  Tensor d_pre = scratch.tensor(Shape{s.B, s.To, O});
  Tensor partial = scratch.zeros(Shape{state.chunks, O * KC + O});
  parallel_chunks(state.chunks, s.B, 0, [&](int c, std::int64_t b0, std::int64_t b1) {
    const std::int64_t rows = (b1 - b0) * s.To;
    // The residual gets the output's gradient on its steps.
    if (d_residual)
      for (std::int64_t b = b0; b < b1; ++b)
        axpy(1.0f, d_y + (b * s.To + s.To - s.Tr) * O, d_residual + b * s.Tr * O, s.Tr * O);
    float* dp = d_pre.f32() + b0 * s.To * O;
    activation_backward(d_y + b0 * s.To * O, activations + b0 * s.To * O, dp, rows * O, act);
    float* mine = partial.f32() + c * (O * KC + O);
    if (d_weight) gemm(true, false, O, KC, rows, 1.0f, dp, O, col + c * state.chunk_floats, KC, 0.0f, mine, KC);
    if (d_bias) sum_rows(dp, rows, O, mine + O * KC);
    if (d_x) {
      // d x[b, u] += sum_j d_pre[b, u + pad - j*dilation] W_j, one small GEMM
      // per row and tap over the steps where both sides exist (padding drops out).
      for (std::int64_t b = b0; b < b1; ++b)
        for (std::int64_t j = 0; j < s.K; ++j) {
          const std::int64_t shift = s.pad - j * s.dilation;  // output step = input step + shift
          const std::int64_t u0 = std::max<std::int64_t>(0, -shift);
          const std::int64_t u1 = std::min<std::int64_t>(s.T, s.To - shift);
          if (u1 <= u0) continue;
          gemm(false, false, u1 - u0, s.C, O, 1.0f, d_pre.f32() + (b * s.To + u0 + shift) * O, O, wr + j * s.C, KC,
               1.0f, d_x + (b * s.T + u0) * s.C, s.C);
        }
    }
  });
  for (int c = 0; c < state.chunks; ++c) {
    const float* p = partial.f32() + c * (O * KC + O);
    if (d_weight)
      for (std::int64_t o = 0; o < O; ++o)
        for (std::int64_t ci = 0; ci < s.C; ++ci)
          for (std::int64_t j = 0; j < s.K; ++j) d_weight[(o * s.C + ci) * s.K + j] += p[o * KC + j * s.C + ci];
    if (d_bias) axpy(1.0f, p + O * KC, d_bias, O);
  }
}

}  // namespace limelight::cpu
