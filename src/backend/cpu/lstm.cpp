// One LSTM layer on the CPU, PyTorch's formulas and gate order (i, f, g, o).
// The recurrence runs time-major so that each step's batch is contiguous.
#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/cpu_math.hpp"
#include "backend/cpu/parallel.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <type_traits>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LIMELIGHT_LSTM_AVX2 1
#endif

namespace limelight::cpu {

namespace {

// y = x (rows, cols) transposed into (cols, rows) blocks of `width` floats:
// y[c][r] = x[r][c] where each element is `width` contiguous floats.
void transpose_blocks(const float* x, std::int64_t rows, std::int64_t cols, std::int64_t width, float* y,
                      bool accumulate) {
  for (std::int64_t c = 0; c < cols; ++c)
    for (std::int64_t r = 0; r < rows; ++r) {
      const float* src = x + (r * cols + c) * width;
      float* dst = y + (c * rows + r) * width;
      if (accumulate)
        for (std::int64_t k = 0; k < width; ++k) dst[k] += src[k];
      else
        std::memcpy(dst, src, sizeof(float) * static_cast<std::size_t>(width));
    }
}

// One forward step for rows [0, B): z holds the pre-activations of step t
// (the recurrent product included) and receives the activated gates. HasPrev
// is false at t = 0 (c[-1] = 0); a template so that the inner loop has no
// branch and vectorises. FixedH > 0 compiles the kernel for that hidden size,
// so that the short inner loops unroll into registers; 0 is the general version.
//
// The body is inlined into each compiled version: the LL_SIMD_CLONES
// function (the OpenBLAS path) and, on x86, an AVX2+FMA one that the AVX2
// step kernel calls directly (8-float vectors whatever clones the compiler
// makes; at the fixed hidden sizes bit-identical to GCC's x86-64-v3 and fma
// clones, which contract the same products).
template <bool HasPrev, int FixedH>
__attribute__((always_inline)) inline void lstm_cell_forward_body(float* __restrict z, const float* __restrict c_prev,
                                                                  float* __restrict c, float* __restrict h,
                                                                  float* __restrict out, std::int64_t B,
                                                                  std::int64_t runtime_h, std::int64_t out_stride) {
  const std::int64_t H = FixedH > 0 ? FixedH : runtime_h;
  const std::int64_t G = 4 * H;
  for (std::int64_t b = 0; b < B; ++b) {
    float* __restrict zb = z + b * G;
    float* __restrict cb = c + b * H;
    float* __restrict hb = h + b * H;
    float* __restrict ob = out + b * out_stride;
    const float* __restrict cp = HasPrev ? c_prev + b * H : nullptr;
    for (std::int64_t k = 0; k < H; ++k) {
      const float i = fast_sigmoid(zb[k]);
      const float f = fast_sigmoid(zb[H + k]);
      const float g = fast_tanh(zb[2 * H + k]);
      const float o = fast_sigmoid(zb[3 * H + k]);
      float cell = i * g;
      if constexpr (HasPrev) cell += f * cp[k];
      const float hv = o * fast_tanh(cell);
      cb[k] = cell;
      hb[k] = hv;
      ob[k] = hv;
      zb[k] = i;
      zb[H + k] = f;
      zb[2 * H + k] = g;
      zb[3 * H + k] = o;
    }
  }
}

template <bool HasPrev, int FixedH>
LL_SIMD_CLONES void lstm_cell_forward(float* z, const float* c_prev, float* c, float* h, float* out, std::int64_t B,
                                      std::int64_t runtime_h, std::int64_t out_stride) {
  lstm_cell_forward_body<HasPrev, FixedH>(z, c_prev, c, h, out, B, runtime_h, out_stride);
}

// One backward step for rows [0, B): dz receives the gates' gradients from
// d_out, dh_next (the gradient reaching h[t] from step t+1) and dc_next, which
// becomes dc for the step before.
template <bool HasPrev, int FixedH>
__attribute__((always_inline)) inline void lstm_cell_backward_body(
    const float* __restrict gates, const float* __restrict c, const float* __restrict c_prev,
    const float* __restrict d_out, std::int64_t out_stride, const float* __restrict dh_next,
    float* __restrict dc_next, float* __restrict dz, std::int64_t B, std::int64_t runtime_h) {
  const std::int64_t H = FixedH > 0 ? FixedH : runtime_h;
  const std::int64_t G = 4 * H;
  for (std::int64_t b = 0; b < B; ++b) {
    const float* __restrict gb = gates + b * G;
    const float* __restrict cb = c + b * H;
    const float* __restrict cp = HasPrev ? c_prev + b * H : nullptr;
    const float* __restrict dob = d_out + b * out_stride;
    const float* __restrict dhn = dh_next + b * H;
    float* __restrict dcn = dc_next + b * H;
    float* __restrict dzb = dz + b * G;
    for (std::int64_t k = 0; k < H; ++k) {
      const float i = gb[k], f = gb[H + k], g = gb[2 * H + k], o = gb[3 * H + k];
      const float tc = fast_tanh(cb[k]);
      const float dh = dob[k] + dhn[k];
      const float dc = dcn[k] + dh * o * (1.0f - tc * tc);
      float prev = 0.0f;
      if constexpr (HasPrev) prev = cp[k];
      dzb[k] = dc * g * i * (1.0f - i);
      dzb[H + k] = dc * prev * f * (1.0f - f);
      dzb[2 * H + k] = dc * i * (1.0f - g * g);
      dzb[3 * H + k] = dh * tc * o * (1.0f - o);
      dcn[k] = dc * f;
    }
  }
}

template <bool HasPrev, int FixedH>
LL_SIMD_CLONES void lstm_cell_backward(const float* gates, const float* c, const float* c_prev, const float* d_out,
                                       std::int64_t out_stride, const float* dh_next, float* dc_next, float* dz,
                                       std::int64_t B, std::int64_t runtime_h) {
  lstm_cell_backward_body<HasPrev, FixedH>(gates, c, c_prev, d_out, out_stride, dh_next, dc_next, dz, B, runtime_h);
}

#ifdef LIMELIGHT_LSTM_AVX2
template <int FixedH>
__attribute__((target("avx2,fma"))) void lstm_cell_forward_avx2(float* z, const float* c_prev, float* c, float* h,
                                                                 float* out, std::int64_t B, std::int64_t runtime_h,
                                                                 std::int64_t out_stride) {
  lstm_cell_forward_body<true, FixedH>(z, c_prev, c, h, out, B, runtime_h, out_stride);
}

template <int FixedH>
__attribute__((target("avx2,fma"))) void lstm_cell_backward_avx2(const float* gates, const float* c,
                                                                  const float* c_prev, const float* d_out,
                                                                  std::int64_t out_stride, const float* dh_next,
                                                                  float* dc_next, float* dz, std::int64_t B,
                                                                  std::int64_t runtime_h) {
  lstm_cell_backward_body<true, FixedH>(gates, c, c_prev, d_out, out_stride, dh_next, dc_next, dz, B, runtime_h);
}
#else
template <int FixedH>
void lstm_cell_forward_avx2(float* z, const float* c_prev, float* c, float* h, float* out, std::int64_t B,
                            std::int64_t runtime_h, std::int64_t out_stride) {
  lstm_cell_forward<true, FixedH>(z, c_prev, c, h, out, B, runtime_h, out_stride);
}

template <int FixedH>
void lstm_cell_backward_avx2(const float* gates, const float* c, const float* c_prev, const float* d_out,
                             std::int64_t out_stride, const float* dh_next, float* dc_next, float* dz, std::int64_t B,
                             std::int64_t runtime_h) {
  lstm_cell_backward<true, FixedH>(gates, c, c_prev, d_out, out_stride, dh_next, dc_next, dz, B, runtime_h);
}
#endif

// Runs fn with std::integral_constant<int, H> for the common hidden sizes,
// else with 0 (the general kernels).
template <class Fn>
void dispatch_hidden(std::int64_t H, Fn&& fn) {
  switch (H) {
    case 8: fn(std::integral_constant<int, 8>{}); break;
    case 16: fn(std::integral_constant<int, 16>{}); break;
    case 32: fn(std::integral_constant<int, 32>{}); break;
    case 64: fn(std::integral_constant<int, 64>{}); break;
    default: fn(std::integral_constant<int, 0>{}); break;
  }
}

void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha, const float* A,
          std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C, std::int64_t ldc) {
  backend().gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

bool portable_forced = false;

// The AVX2 step kernels below take hidden sizes that are multiples of 8 (one
// vector) up to 64, where W_hh (4H x H floats, 16 KB at H = 32) stays in L1
// between the row blocks; past that OpenBLAS's packing pays for itself.
bool use_step_kernel(std::int64_t H) {
#ifdef LIMELIGHT_LSTM_AVX2
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return avx2 && !portable_forced && H % 8 == 0 && H <= 64;
#else
  (void)H;
  return false;
#endif
}

// Rows of a step handled together: the products of a group are computed,
// then the cell runs over the group's rows while they are in L1.
constexpr std::int64_t step_group = 12;

#ifdef LIMELIGHT_LSTM_AVX2
// z[r] += h_prev[r] W_hh^T for R rows (R <= 3), with wt = W_hh^T (H, 4H).
// Eight hidden units at a time, their four gates' columns together: 4R
// accumulators, each a chain of FMAs over k in order from zero, added to z
// at the end, as OpenBLAS's sgemm with beta = 1 sums (C + sum_k a b), so the
// sums have the same terms and order. No packing: the operands are small and
// read in place, W_hh^T from L1.
template <int R>
__attribute__((target("avx2,fma"))) void step_product_rows(const float* __restrict h_prev, const float* __restrict wt,
                                                          float* __restrict z, std::int64_t H) {
  const std::int64_t G = 4 * H;
  for (std::int64_t k0 = 0; k0 < H; k0 += 8) {
    __m256 acc[R][4];
    for (int r = 0; r < R; ++r)
      for (int q = 0; q < 4; ++q) acc[r][q] = _mm256_setzero_ps();
    for (std::int64_t k = 0; k < H; ++k) {
      const float* w = wt + k * G + k0;
      for (int r = 0; r < R; ++r) {
        const __m256 hv = _mm256_broadcast_ss(h_prev + r * H + k);
        for (int q = 0; q < 4; ++q) acc[r][q] = _mm256_fmadd_ps(hv, _mm256_loadu_ps(w + q * H), acc[r][q]);
      }
    }
    for (int r = 0; r < R; ++r)
      for (int q = 0; q < 4; ++q) {
        float* zr = z + r * G + q * H + k0;
        _mm256_storeu_ps(zr, _mm256_add_ps(_mm256_loadu_ps(zr), acc[r][q]));
      }
  }
}

// dh[r] = dz[r] W_hh for R rows (R <= 3) and NV vectors of columns from j0:
// chains of FMAs over the 4H gates in order, as OpenBLAS's sgemm with
// beta = 0.
template <int R, int NV>
__attribute__((target("avx2,fma"))) void dh_product_rows(const float* __restrict dz, const float* __restrict w_hh,
                                                        float* __restrict dh, std::int64_t H, std::int64_t j0) {
  const std::int64_t G = 4 * H;
  __m256 acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_setzero_ps();
  for (std::int64_t g = 0; g < G; ++g) {
    const float* w = w_hh + g * H + j0;
    for (int r = 0; r < R; ++r) {
      const __m256 d = _mm256_broadcast_ss(dz + r * G + g);
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_fmadd_ps(d, _mm256_loadu_ps(w + 8 * v), acc[r][v]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) _mm256_storeu_ps(dh + r * H + j0 + 8 * v, acc[r][v]);
}

// The same for three rows and 32 columns, the hot case, with the twelve
// accumulators as named variables: GCC kept the array version's
// accumulators in registers but also stored them to the stack on every
// iteration, which doubled the kernel's time.
__attribute__((target("avx2,fma"))) void dh_product_3x32(const float* __restrict dz, const float* __restrict w_hh,
                                                        float* __restrict dh, std::int64_t H, std::int64_t j0) {
  const std::int64_t G = 4 * H;
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0, c0 = a0, c1 = a0,
         c2 = a0, c3 = a0;
  for (std::int64_t g = 0; g < G; ++g) {
    const float* w = w_hh + g * H + j0;
    const __m256 w0 = _mm256_loadu_ps(w), w1 = _mm256_loadu_ps(w + 8), w2 = _mm256_loadu_ps(w + 16),
                 w3 = _mm256_loadu_ps(w + 24);
    const __m256 da = _mm256_broadcast_ss(dz + g), db = _mm256_broadcast_ss(dz + G + g),
                 dc = _mm256_broadcast_ss(dz + 2 * G + g);
    a0 = _mm256_fmadd_ps(da, w0, a0);
    a1 = _mm256_fmadd_ps(da, w1, a1);
    a2 = _mm256_fmadd_ps(da, w2, a2);
    a3 = _mm256_fmadd_ps(da, w3, a3);
    b0 = _mm256_fmadd_ps(db, w0, b0);
    b1 = _mm256_fmadd_ps(db, w1, b1);
    b2 = _mm256_fmadd_ps(db, w2, b2);
    b3 = _mm256_fmadd_ps(db, w3, b3);
    c0 = _mm256_fmadd_ps(dc, w0, c0);
    c1 = _mm256_fmadd_ps(dc, w1, c1);
    c2 = _mm256_fmadd_ps(dc, w2, c2);
    c3 = _mm256_fmadd_ps(dc, w3, c3);
  }
  float* d = dh + j0;
  _mm256_storeu_ps(d, a0);
  _mm256_storeu_ps(d + 8, a1);
  _mm256_storeu_ps(d + 16, a2);
  _mm256_storeu_ps(d + 24, a3);
  _mm256_storeu_ps(d + H, b0);
  _mm256_storeu_ps(d + H + 8, b1);
  _mm256_storeu_ps(d + H + 16, b2);
  _mm256_storeu_ps(d + H + 24, b3);
  _mm256_storeu_ps(d + 2 * H, c0);
  _mm256_storeu_ps(d + 2 * H + 8, c1);
  _mm256_storeu_ps(d + 2 * H + 16, c2);
  _mm256_storeu_ps(d + 2 * H + 24, c3);
}

template <int R>
__attribute__((target("avx2,fma"))) void dh_rows(const float* dz, const float* w_hh, float* dh, std::int64_t H) {
  std::int64_t j0 = 0;
  for (; j0 + 32 <= H; j0 += 32) {
    if constexpr (R == 3) dh_product_3x32(dz, w_hh, dh, H, j0);
    else dh_product_rows<R, 4>(dz, w_hh, dh, H, j0);
  }
  switch ((H - j0) / 8) {
    case 3: dh_product_rows<R, 3>(dz, w_hh, dh, H, j0); break;
    case 2: dh_product_rows<R, 2>(dz, w_hh, dh, H, j0); break;
    case 1: dh_product_rows<R, 1>(dz, w_hh, dh, H, j0); break;
    default: break;
  }
}

// z += h_prev W_hh^T for one row (a served history), NV vectors of columns
// from c0: NV independent chains of FMAs over k where step_product_rows<1>
// runs four at a time, so that the FMA units rather than one chain's latency
// set the pace (eight chains of 4-cycle FMAs keep two units busy; sixteen
// would not fit AVX2's registers beside the broadcast). Each column sums
// over k in order from zero and is then added to z, as there: the same bits.
template <int NV>
__attribute__((target("avx2,fma"))) void step_product_one_row(const float* __restrict h_prev,
                                                             const float* __restrict wt, float* __restrict z,
                                                             std::int64_t H, std::int64_t c0) {
  const std::int64_t G = 4 * H;
  __m256 acc[NV];
#pragma GCC unroll 16
  for (int v = 0; v < NV; ++v) acc[v] = _mm256_setzero_ps();
  for (std::int64_t k = 0; k < H; ++k) {
    const __m256 hv = _mm256_broadcast_ss(h_prev + k);
    const float* w = wt + k * G + c0;
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) acc[v] = _mm256_fmadd_ps(hv, _mm256_loadu_ps(w + 8 * v), acc[v]);
  }
#pragma GCC unroll 16
  for (int v = 0; v < NV; ++v) {
    float* zc = z + c0 + 8 * v;
    _mm256_storeu_ps(zc, _mm256_add_ps(_mm256_loadu_ps(zc), acc[v]));
  }
}

__attribute__((target("avx2,fma"))) void step_product_one(const float* h_prev, const float* wt, float* z,
                                                         std::int64_t H) {
  const std::int64_t G = 4 * H;  // a multiple of 32: H is of 8
  std::int64_t c0 = 0;
  for (; c0 + 64 <= G; c0 += 64) step_product_one_row<8>(h_prev, wt, z, H, c0);
  if (c0 < G) step_product_one_row<4>(h_prev, wt, z, H, c0);
}

// The step products for `rows` rows, three at a time.
__attribute__((target("avx2,fma"))) void step_product(const float* h_prev, const float* wt, float* z,
                                                     std::int64_t rows, std::int64_t H) {
  const std::int64_t G = 4 * H;
  if (rows == 1) {
    step_product_one(h_prev, wt, z, H);
    return;
  }
  std::int64_t r = 0;
  for (; r + 3 <= rows; r += 3) step_product_rows<3>(h_prev + r * H, wt, z + r * G, H);
  if (rows - r == 2) step_product_rows<2>(h_prev + r * H, wt, z + r * G, H);
  if (rows - r == 1) step_product_rows<1>(h_prev + r * H, wt, z + r * G, H);
}

__attribute__((target("avx2,fma"))) void dh_product(const float* dz, const float* w_hh, float* dh, std::int64_t rows,
                                                   std::int64_t H) {
  const std::int64_t G = 4 * H;
  std::int64_t r = 0;
  for (; r + 3 <= rows; r += 3) dh_rows<3>(dz + r * G, w_hh, dh + r * H, H);
  if (rows - r == 2) dh_rows<2>(dz + r * G, w_hh, dh + r * H, H);
  if (rows - r == 1) dh_rows<1>(dz + r * G, w_hh, dh + r * H, H);
}
#else
void step_product(const float*, const float*, float*, std::int64_t, std::int64_t) {}
void dh_product(const float*, const float*, float*, std::int64_t, std::int64_t) {}
#endif

// One batch chunk of rows, time-major inside: the input projections of all
// steps are one GEMM, each step one product with W_hh and a vectorised cell
// update. Saved for backward: x_tm (T, B, D), h_tm and c_tm (T, B, H),
// gates_tm (T, B, 4H) holding sigma(i), sigma(f), tanh(g), sigma(o).
// weight_hh_t is scratch of 4H*H floats.
void lstm_forward_chunk(const float* x, const float* weight_ih, const float* weight_hh, const float* bias_ih,
                  const float* bias_hh, std::int64_t B, std::int64_t T, std::int64_t D, std::int64_t H, float* out,
                  float* x_tm, float* h_tm, float* c_tm, float* gates_tm, float* weight_hh_t) {
  const std::int64_t G = 4 * H;
  transpose_blocks(x, B, T, D, x_tm, false);
  // gates = x W_ih^T + b_ih + b_hh for every step at once.
  for (std::int64_t r = 0; r < T * B; ++r)
    for (std::int64_t k = 0; k < G; ++k) gates_tm[r * G + k] = bias_ih[k] + bias_hh[k];
  gemm(false, true, T * B, G, D, 1.0f, x_tm, D, weight_ih, D, 1.0f, gates_tm, G);
  // W_hh^T (H, 4H): the step's recurrent product h[t-1] W_hh^T is then a
  // row-major product without transposes. OpenBLAS (0.3.21 on Zen) packs
  // both operands on every call at these sizes, so where the AVX2 kernel
  // applies a group of rows gets its products from it and then the cell
  // while they are in L1; otherwise one sgemm over the chunk, then the cell.
  for (std::int64_t g = 0; g < G; ++g)
    for (std::int64_t k = 0; k < H; ++k) weight_hh_t[k * G + g] = weight_hh[g * H + k];
  const bool kernel = use_step_kernel(H);
  auto steps = [&](auto fixed) {
    constexpr int F = decltype(fixed)::value;
    lstm_cell_forward<false, F>(gates_tm, nullptr, c_tm, h_tm, out, B, H, T * H);
    for (std::int64_t t = 1; t < T; ++t) {
      float* z = gates_tm + t * B * G;
      const float* h_prev = h_tm + (t - 1) * B * H;
      const float* c_prev = c_tm + (t - 1) * B * H;
      float* c = c_tm + t * B * H;
      float* h = h_tm + t * B * H;
      if (!kernel) {
        gemm(false, false, B, G, H, 1.0f, h_prev, H, weight_hh_t, G, 1.0f, z, G);
        lstm_cell_forward<true, F>(z, c_prev, c, h, out + t * H, B, H, T * H);
        continue;
      }
      for (std::int64_t b0 = 0; b0 < B; b0 += step_group) {
        const std::int64_t n = std::min(step_group, B - b0);
        step_product(h_prev + b0 * H, weight_hh_t, z + b0 * G, n, H);
        lstm_cell_forward_avx2<F>(z + b0 * G, c_prev + b0 * H, c + b0 * H, h + b0 * H, out + b0 * T * H + t * H, n, H,
                                  T * H);
      }
    }
  };
  dispatch_hidden(H, steps);
}

// Backward through time from d_out (B, T, H). Adds into d_x (B, T, D), the
// weight gradients and d_bias, the gradient of either bias (b_ih and b_hh
// get the same one); any of them may be null. scratch holds
// T*B*(4H + D) + 2*B*H floats.
void lstm_backward_chunk(const float* d_out, const float* weight_ih, const float* weight_hh, const float* x_tm,
                   const float* h_tm, const float* c_tm, const float* gates_tm, std::int64_t B, std::int64_t T,
                   std::int64_t D, std::int64_t H, float* d_x, float* d_weight_ih, float* d_weight_hh,
                   float* d_bias, float* scratch) {
  const std::int64_t G = 4 * H;
  float* dz = scratch;                  // (T, B, G)
  float* dx_tm = dz + T * B * G;        // (T, B, D)
  float* dh_next = dx_tm + T * B * D;   // (B, H)
  float* dc_next = dh_next + B * H;     // (B, H)
  std::memset(dh_next, 0, sizeof(float) * static_cast<std::size_t>(2 * B * H));
  const bool kernel = use_step_kernel(H);
  auto steps = [&](auto fixed) {
    constexpr int F = decltype(fixed)::value;
    for (std::int64_t t = T - 1; t > 0; --t) {
      const float* gates = gates_tm + t * B * G;
      const float* c = c_tm + t * B * H;
      const float* c_prev = c_tm + (t - 1) * B * H;
      float* dzt = dz + t * B * G;
      if (!kernel) {
        lstm_cell_backward<true, F>(gates, c, c_prev, d_out + t * H, T * H, dh_next, dc_next, dzt, B, H);
        gemm(false, false, B, H, G, 1.0f, dzt, G, weight_hh, H, 0.0f, dh_next, H);  // dh[t-1] = dz W_hh
        continue;
      }
      // A group's cell, then its dh[t-1] = dz W_hh while its dz rows are in
      // L1 (each row's dh_next is read by its cell before it is replaced).
      for (std::int64_t b0 = 0; b0 < B; b0 += step_group) {
        const std::int64_t n = std::min(step_group, B - b0);
        lstm_cell_backward_avx2<F>(gates + b0 * G, c + b0 * H, c_prev + b0 * H, d_out + b0 * T * H + t * H, T * H,
                                   dh_next + b0 * H, dc_next + b0 * H, dzt + b0 * G, n, H);
        dh_product(dzt + b0 * G, weight_hh, dh_next + b0 * H, n, H);
      }
    }
    lstm_cell_backward<false, F>(gates_tm, c_tm, nullptr, d_out, T * H, dh_next, dc_next, dz, B, H);
  };
  dispatch_hidden(H, steps);
  // The weight gradients are single GEMMs over all steps: step t's gates
  // pair with h[t-1], and step 0 has h[-1] = 0.
  if (d_weight_hh && T > 1)
    gemm(true, false, G, H, (T - 1) * B, 1.0f, dz + B * G, G, h_tm, H, 1.0f, d_weight_hh, H);
  if (d_weight_ih) gemm(true, false, G, D, T * B, 1.0f, dz, G, x_tm, D, 1.0f, d_weight_ih, D);
  if (d_bias)
    for (std::int64_t r = 0; r < T * B; ++r)
      for (std::int64_t k = 0; k < G; ++k) d_bias[k] += dz[r * G + k];
  if (d_x) {
    gemm(false, false, T * B, D, G, 1.0f, dz, G, weight_ih, D, 0.0f, dx_tm, D);
    transpose_blocks(dx_tm, T, B, D, d_x, true);
  }
}

// The forward's split and where each chunk's saved tensors start.
struct LstmState {
  int chunks;
};

}  // namespace

void force_portable_lstm_step(bool portable) { portable_forced = portable; }

const char* lstm_step_kernel(std::int64_t H) { return use_step_kernel(H) ? "avx2" : "portable"; }

// Batch rows are split into chunks that run the whole recurrence
// independently; the saved tensors are time-major within each chunk (chunk
// [b0, b1) at offset T*b0*width). Payload buffers: x_tm, h and c, gates.
void CpuBackend::lstm_forward(const float* x, const float* weight_ih, const float* weight_hh, const float* bias_ih,
                              const float* bias_hh, std::int64_t B, std::int64_t T, std::int64_t D, std::int64_t H,
                              float* out, Arena& scratch, BackendPayload* payload) {
  const std::int64_t G = 4 * H;
  Tensor x_tm = scratch.tensor(Shape{T, B, D});
  Tensor hc_tm = scratch.tensor(Shape{2, T, B, H});  // h then c
  Tensor gates_tm = scratch.tensor(Shape{T, B, G});
  float* hp = hc_tm.f32();
  float* cp = hp + T * B * H;
  const int threads = num_threads();
  Tensor weight_hh_t = scratch.tensor(Shape{threads, G * H});
  const int chunks = parallel_chunks(threads, B, 2, [&](int chunk, std::int64_t b0, std::int64_t b1) {
    lstm_forward_chunk(x + b0 * T * D, weight_ih, weight_hh, bias_ih, bias_hh, b1 - b0, T, D, H, out + b0 * T * H,
                       x_tm.f32() + T * b0 * D, hp + T * b0 * H, cp + T * b0 * H, gates_tm.f32() + T * b0 * G,
                       weight_hh_t.f32() + chunk * G * H);
  });
  if (payload) {
    payload->buffers[0] = x_tm;
    payload->buffers[1] = hc_tm;
    payload->buffers[2] = gates_tm;
    payload->state.put(LstmState{chunks});
  }
}

void CpuBackend::lstm_backward(const float* d_out, const float* weight_ih, const float* weight_hh, std::int64_t B,
                               std::int64_t T, std::int64_t D, std::int64_t H, float* d_x, float* d_weight_ih,
                               float* d_weight_hh, float* d_bias_ih, float* d_bias_hh, Arena& scratch,
                               const BackendPayload& payload) {
  const std::int64_t G = 4 * H;
  const int chunks = payload.state.get<LstmState>().chunks;
  // Each chunk sums its own weight gradients; they are added in chunk order.
  // One bias partial serves both biases: their gradients are the same sums.
  const std::int64_t per_chunk = G * D + G * H + G;
  Tensor partial = scratch.zeros(Shape{chunks, per_chunk});
  Tensor work = scratch.tensor(Shape{B * (T * (G + D) + 2 * H)});
  const float* x_tm = payload.buffers[0].f32();
  const float* h_tm = payload.buffers[1].f32();
  const float* c_tm = h_tm + T * B * H;
  const float* gates = payload.buffers[2].f32();
  parallel_chunks(chunks, B, 0, [&](int c, std::int64_t b0, std::int64_t b1) {
    float* mine = partial.f32() + c * per_chunk;
    lstm_backward_chunk(d_out + b0 * T * H, weight_ih, weight_hh, x_tm + T * b0 * D, h_tm + T * b0 * H,
                        c_tm + T * b0 * H, gates + T * b0 * G, b1 - b0, T, D, H, d_x ? d_x + b0 * T * D : nullptr,
                        mine, mine + G * D, mine + G * D + G * H,
                        work.f32() + b0 * (T * (G + D) + 2 * H));
  });
  float* grads[4] = {d_weight_ih, d_weight_hh, d_bias_ih, d_bias_hh};
  const std::int64_t offsets[4] = {0, G * D, G * D + G * H, G * D + G * H};
  const std::int64_t sizes[4] = {G * D, G * H, G, G};
  for (int k = 0; k < 4; ++k) {
    if (!grads[k]) continue;
    for (int c = 0; c < chunks; ++c) axpy(1.0f, partial.f32() + c * per_chunk + offsets[k], grads[k], sizes[k]);
  }
}

}  // namespace limelight::cpu
