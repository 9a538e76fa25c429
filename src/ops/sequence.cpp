// Sequence ops over time: the dilated 1-D convolution (as one GEMM over an
// unfolded input) and the LSTM layer (input projections for all steps in one
// GEMM, then the recurrence step by step).
#include <cstring>

#include "backend/cpu_math.hpp"
#include "backend/parallel.hpp"
#include "ops/common.hpp"

namespace limelight::ops {
using namespace detail;

namespace {

// Kernel taps of `weight` (O, C, K[, 1]) rearranged as Wr (O, K*C), Wr[o, j*C + c] = W[o, c, j].
void pack_conv_weight(const float* W, std::int64_t O, std::int64_t C, std::int64_t K, float* Wr) {
  for (std::int64_t o = 0; o < O; ++o)
    for (std::int64_t c = 0; c < C; ++c)
      for (std::int64_t j = 0; j < K; ++j) Wr[o * K * C + j * C + c] = W[(o * C + c) * K + j];
}

// ints: B, T, C, K; scalar-free. saved[0] = unfolded x (B*To, K*C), saved[1] = Wr; ints[3]=K, in dilation via saved shape.
void conv1d_backward(Tape& t, const Node& n) {
  const std::int64_t B = n.ints[0], T = n.ints[1], C = n.ints[2], K = n.ints[3];
  const Tensor& G = t.grad(n.out);
  const std::int64_t To = G.dim(1), O = G.dim(2), dilation = K > 1 ? (T - To) / (K - 1) : 1;
  const float* g = G.f32();
  const float* xcol = n.saved[0].f32();
  const float* Wr = n.saved[1].f32();
  if (wants(t, n.in[1])) {
    Tensor dWr = t.arena().tensor(Shape{O, K * C});
    cpu::gemm(true, false, O, K * C, B * To, 1.0f, g, O, xcol, K * C, 0.0f, dWr.f32(), K * C);
    float* dW = t.grad(n.in[1]).f32();
    const float* p = dWr.f32();
    for (std::int64_t o = 0; o < O; ++o)
      for (std::int64_t c = 0; c < C; ++c)
        for (std::int64_t j = 0; j < K; ++j) dW[(o * C + c) * K + j] += p[o * K * C + j * C + c];
  }
  if (wants(t, n.in[2])) {
    float* db = t.grad(n.in[2]).f32();
    for (std::int64_t r = 0; r < B * To; ++r) accumulate(db, g + r * O, O);
  }
  if (wants(t, n.in[0])) {
    Tensor dcol = t.arena().tensor(Shape{B * To, K * C});
    cpu::gemm(false, false, B * To, K * C, O, 1.0f, g, O, Wr, K * C, 0.0f, dcol.f32(), K * C);
    float* dx = t.grad(n.in[0]).f32();
    const float* p = dcol.f32();
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t s = 0; s < To; ++s)
        for (std::int64_t j = 0; j < K; ++j)
          accumulate(dx + (b * T + s + j * dilation) * C, p + (b * To + s) * K * C + j * C, C);
  }
}

// saved[0] = x (T, B, D), saved[1] = h (T, B, H) with c (T, B, H) after it,
// saved[2] = the activated gates (T, B, 4H); all time-major within each batch
// chunk (chunk [b0, b1) at offset T*b0*width). ints[0] = the chunk count.
void lstm_backward(Tape& t, const Node& n) {
  const Tensor& X = t.value(n.in[0]);
  const float* W_ih = t.value(n.in[1]).f32();
  const float* W_hh = t.value(n.in[2]).f32();
  const std::int64_t B = X.dim(0), T = X.dim(1), D = X.dim(2), H = t.value(n.in[2]).dim(1), G = 4 * H;
  const int chunks = static_cast<int>(n.ints[0]);
  // Each chunk sums its own weight gradients; they are added in chunk order.
  const std::int64_t per_chunk = G * D + G * H + 2 * G;
  Tensor partial = t.arena().zeros(Shape{chunks, per_chunk});
  Tensor scratch = t.arena().tensor(Shape{B * (T * (G + D) + 2 * H)});
  const float* d_out = t.grad(n.out).f32();
  float* d_x = wants(t, n.in[0]) ? t.grad(n.in[0]).f32() : nullptr;
  const float* x_tm = n.saved[0].f32();
  const float* h_tm = n.saved[1].f32();
  const float* c_tm = h_tm + T * B * H;
  const float* gates = n.saved[2].f32();
  cpu::parallel_chunks(
      B, 2,
      [&](int c, std::int64_t b0, std::int64_t b1) {
        float* mine = partial.f32() + c * per_chunk;
        cpu::lstm_backward(d_out + b0 * T * H, W_ih, W_hh, x_tm + T * b0 * D, h_tm + T * b0 * H, c_tm + T * b0 * H,
                           gates + T * b0 * G, b1 - b0, T, D, H, d_x ? d_x + b0 * T * D : nullptr, mine,
                           mine + G * D, mine + G * D + G * H, mine + G * D + G * H + G,
                           scratch.f32() + b0 * (T * (G + D) + 2 * H));
      },
      chunks);
  const std::int64_t offsets[4] = {0, G * D, G * D + G * H, G * D + G * H + G};
  const std::int64_t sizes[4] = {G * D, G * H, G, G};
  for (int k = 0; k < 4; ++k) {
    if (!wants(t, n.in[1 + k])) continue;
    float* g = t.grad(n.in[1 + k]).f32();
    for (int c = 0; c < chunks; ++c) accumulate(g, partial.f32() + c * per_chunk + offsets[k], sizes[k]);
  }
}

}  // namespace

Var conv1d(Tape& t, Var x, Var weight, Var bias, std::int64_t dilation) {
  const Tensor& X = f32_input(t, x, "conv1d", "x");
  const Tensor& W = f32_input(t, weight, "conv1d", "weight");
  LL_CHECK(X.rank() == 3, "conv1d: x must be (B, T, C), got ", X.shape().str());
  LL_CHECK((W.rank() == 3 || (W.rank() == 4 && W.dim(3) == 1)) && W.dim(1) == X.dim(2), "conv1d: weight ",
           W.shape().str(), " does not fit x ", X.shape().str(), " (expected (O, C, K) or (O, C, K, 1))");
  LL_CHECK(dilation >= 1, "conv1d: dilation must be >= 1, got ", dilation);
  const std::int64_t B = X.dim(0), T = X.dim(1), C = X.dim(2), O = W.dim(0), K = W.dim(2);
  const std::int64_t To = T - (K - 1) * dilation;
  LL_CHECK(To >= 1, "conv1d: input of length ", T, " is shorter than the kernel's span ", (K - 1) * dilation + 1);
  Tensor Wr = t.arena().tensor(Shape{O, K * C});
  pack_conv_weight(W.f32(), O, C, K, Wr.f32());
  Tensor xcol = t.arena().tensor(Shape{B * To, K * C});
  float* col = xcol.f32();
  const float* xp = X.f32();
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t s = 0; s < To; ++s)
      for (std::int64_t j = 0; j < K; ++j)
        std::memcpy(col + (b * To + s) * K * C + j * C, xp + (b * T + s + j * dilation) * C,
                    sizeof(float) * static_cast<std::size_t>(C));
  Tensor out = new_tensor(t, Shape{B, To, O});
  float* o = out.f32();
  if (bias.valid()) {
    const Tensor& bv = f32_input(t, bias, "conv1d", "bias");
    LL_CHECK(bv.numel() == O, "conv1d: bias ", bv.shape().str(), " does not match ", O, " output channels");
    for (std::int64_t r = 0; r < B * To; ++r) std::copy(bv.f32(), bv.f32() + O, o + r * O);
  }
  cpu::gemm(false, true, B * To, O, K * C, 1.0f, col, K * C, Wr.f32(), K * C, bias.valid() ? 1.0f : 0.0f, o, O);
  bool rg = needs_grad(t, {x, weight, bias});
  Var r = t.output(out, rg);
  if (rg) {
    Node n;
    n.backward = conv1d_backward;
    n.out = r;
    n.in[0] = x;
    n.in[1] = weight;
    n.in[2] = bias;
    n.ints[0] = B;
    n.ints[1] = T;
    n.ints[2] = C;
    n.ints[3] = K;
    n.saved[0] = xcol;
    n.saved[1] = Wr;
    t.push(n);
  }
  return r;
}

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
  Tensor x_tm = t.arena().tensor(Shape{T, B, D});
  Tensor hc_tm = t.arena().tensor(Shape{2, T, B, H});  // h then c
  Tensor gates_tm = t.arena().tensor(Shape{T, B, G});
  Tensor h = new_tensor(t, Shape{B, T, H});
  float* hp = hc_tm.f32();
  float* cp = hp + T * B * H;
  Tensor weight_hh_t = t.arena().tensor(Shape{cpu::num_threads(), G * H});
  const int chunks = cpu::parallel_chunks(B, 2, [&](int chunk, std::int64_t b0, std::int64_t b1) {
    cpu::lstm_forward(X.f32() + b0 * T * D, W_ih.f32(), W_hh.f32(), b_ih.f32(), b_hh.f32(), b1 - b0, T, D, H,
                      h.f32() + b0 * T * H, x_tm.f32() + T * b0 * D, hp + T * b0 * H, cp + T * b0 * H,
                      gates_tm.f32() + T * b0 * G, weight_hh_t.f32() + chunk * G * H);
  });
  bool rg = needs_grad(t, {x, weight_ih, weight_hh, bias_ih, bias_hh});
  Var r = t.output(h, rg);
  if (rg) {
    Node n;
    n.backward = lstm_backward;
    n.out = r;
    n.in[0] = x;
    n.in[1] = weight_ih;
    n.in[2] = weight_hh;
    n.in[3] = bias_ih;
    n.in[4] = bias_hh;
    n.ints[0] = chunks;
    n.saved[0] = x_tm;
    n.saved[1] = hc_tm;
    n.saved[2] = gates_tm;
    t.push(n);
  }
  return r;
}

}  // namespace limelight::ops

namespace limelight::ops {
using namespace detail;

namespace {

// One pass along time with the D components contiguous in memory; the
// running sums and counts live in small per-component buffers.
LL_SIMD_CLONES void running_pool_rows(const float* __restrict x, float* __restrict out, float* __restrict div,
                                      std::int64_t b0, std::int64_t b1, std::int64_t T, std::int64_t D) {
  float sum[256], count[256];
  for (std::int64_t b = b0; b < b1; ++b)
    for (std::int64_t d0 = 0; d0 < D; d0 += 256) {
      const std::int64_t n = std::min<std::int64_t>(256, D - d0);
      const float* xb = x + b * T * D + d0;
      float* ob = out + b * (T + 1) * D + d0;
      float* vb = div + b * (T + 1) * D + d0;
      for (std::int64_t d = 0; d < n; ++d) {
        sum[d] = 0.0f;
        count[d] = 1.0f;  // the divisor is items seen + 1
        ob[d] = 0.0f;
        vb[d] = 1.0f;
      }
      for (std::int64_t s = 0; s < T; ++s) {
        const float* __restrict xs = xb + s * D;
        float* __restrict o = ob + (s + 1) * D;
        float* __restrict v = vb + (s + 1) * D;
        for (std::int64_t d = 0; d < n; ++d) {
          sum[d] += xs[d];
          count[d] += xs[d] != 0.0f ? 1.0f : 0.0f;
          v[d] = count[d];
          o[d] = sum[d] / count[d];
        }
      }
    }
}

LL_SIMD_CLONES void running_pool_backward_rows(const float* __restrict g, const float* __restrict div,
                                               float* __restrict dx, std::int64_t b0, std::int64_t b1,
                                               std::int64_t T, std::int64_t D) {
  float run[1024];
  for (std::int64_t b = b0; b < b1; ++b) {
    for (std::int64_t d0 = 0; d0 < D; d0 += 1024) {
      const std::int64_t n = std::min<std::int64_t>(1024, D - d0);
      for (std::int64_t d = 0; d < n; ++d) run[d] = 0.0f;
      // x[s] feeds states s+1 .. T: d x[s] = sum_{u > s} g[u] / div[u].
      for (std::int64_t u = T; u >= 1; --u) {
        const float* __restrict gu = g + (b * (T + 1) + u) * D + d0;
        const float* __restrict vu = div + (b * (T + 1) + u) * D + d0;
        float* __restrict dxs = dx + (b * T + u - 1) * D + d0;
        for (std::int64_t d = 0; d < n; ++d) {
          run[d] += gu[d] / vu[d];
          dxs[d] += run[d];
        }
      }
    }
  }
}

// saved[0] = the divisors (B, T+1, D); ints[0] = chunk count.
void running_pool_backward(Tape& t, const Node& n) {
  const Tensor& G = t.grad(n.out);
  const std::int64_t B = G.dim(0), T = G.dim(1) - 1, D = G.dim(2);
  float* dx = t.grad(n.in[0]).f32();
  cpu::parallel_chunks(B, 2, [&](int, std::int64_t b0, std::int64_t b1) {
    running_pool_backward_rows(G.f32(), n.saved[0].f32(), dx, b0, b1, T, D);
  }, static_cast<int>(n.ints[0]));
}

}  // namespace

Var running_pool(Tape& t, Var x) {
  const Tensor& X = f32_input(t, x, "running_pool", "x");
  LL_CHECK(X.rank() == 3, "running_pool: x must be (B, T, D), got ", X.shape().str());
  const std::int64_t B = X.dim(0), T = X.dim(1), D = X.dim(2);
  Tensor out = new_tensor(t, Shape{B, T + 1, D});
  Tensor div = t.arena().tensor(Shape{B, T + 1, D});
  const int chunks = cpu::parallel_chunks(B, 2, [&](int, std::int64_t b0, std::int64_t b1) {
    running_pool_rows(X.f32(), out.f32(), div.f32(), b0, b1, T, D);
  });
  bool rg = needs_grad(t, {x});
  Var r = t.output(out, rg);
  if (rg) {
    Node n;
    n.backward = running_pool_backward;
    n.out = r;
    n.in[0] = x;
    n.ints[0] = chunks;
    n.saved[0] = div;
    t.push(n);
  }
  return r;
}

}  // namespace limelight::ops
