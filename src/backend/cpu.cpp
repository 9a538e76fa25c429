// CPU primitives: OpenBLAS for matrix products, plain loops for the rest.
#include "backend/cpu.hpp"

#include <cblas.h>

#include <cmath>
#include <cstring>

namespace limelight::cpu {

void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
          const float* A, std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C,
          std::int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    for (std::int64_t i = 0; i < M; ++i)
      for (std::int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    return;
  }
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<blasint>(M), static_cast<blasint>(N), static_cast<blasint>(K), alpha, A,
              static_cast<blasint>(lda), B, static_cast<blasint>(ldb), beta, C, static_cast<blasint>(ldc));
}

void gather_rows(const float* table, std::int64_t D, const std::int32_t* ids, std::int64_t n, float* out) {
  for (std::int64_t i = 0; i < n; ++i)
    std::memcpy(out + i * D, table + static_cast<std::int64_t>(ids[i]) * D, sizeof(float) * static_cast<std::size_t>(D));
}

void scatter_add_rows(const float* grad, std::int64_t D, const std::int32_t* ids, std::int64_t n,
                      float* table_grad) {
  for (std::int64_t i = 0; i < n; ++i) {
    if (ids[i] == 0) continue;
    float* dst = table_grad + static_cast<std::int64_t>(ids[i]) * D;
    const float* src = grad + i * D;
    for (std::int64_t d = 0; d < D; ++d) dst[d] += src[d];
  }
}

namespace {
inline float sigmoidf(float x) { return 1.0f / (1.0f + std::exp(-x)); }
}  // namespace

void lstm_forward(const float* xproj, const float* weight_hh, std::int64_t B, std::int64_t T,
                  std::int64_t H, float* h, float* c, float* gates) {
  const std::int64_t G = 4 * H;
  for (std::int64_t t = 0; t < T; ++t) {
    // gates[:, t] = xproj[:, t] + h[:, t-1] @ W_hh^T
    float* z = gates + t * G;
    if (xproj != gates)
      for (std::int64_t b = 0; b < B; ++b)
        std::memcpy(z + b * T * G, xproj + (b * T + t) * G, sizeof(float) * static_cast<std::size_t>(G));
    if (t > 0) gemm(false, true, B, G, H, 1.0f, h + (t - 1) * H, T * H, weight_hh, H, 1.0f, z, T * G);
    for (std::int64_t b = 0; b < B; ++b) {
      float* zb = z + b * T * G;
      const float* c_prev = t > 0 ? c + (b * T + t - 1) * H : nullptr;
      float* cb = c + (b * T + t) * H;
      float* hb = h + (b * T + t) * H;
      for (std::int64_t k = 0; k < H; ++k) {
        float i = sigmoidf(zb[k]);
        float f = sigmoidf(zb[H + k]);
        float g = std::tanh(zb[2 * H + k]);
        float o = sigmoidf(zb[3 * H + k]);
        float cell = i * g + (c_prev ? f * c_prev[k] : 0.0f);
        cb[k] = cell;
        hb[k] = o * std::tanh(cell);
        zb[k] = i;
        zb[H + k] = f;
        zb[2 * H + k] = g;
        zb[3 * H + k] = o;
      }
    }
  }
}

void lstm_backward(const float* d_h, const float* weight_hh, const float* h, const float* c,
                   const float* gates, std::int64_t B, std::int64_t T, std::int64_t H,
                   float* d_xproj, float* d_weight_hh, float* scratch) {
  const std::int64_t G = 4 * H;
  float* dh_next = scratch;          // (B, H): gradient flowing into h[t] from step t+1
  float* dc_next = scratch + B * H;  // (B, H)
  std::memset(scratch, 0, sizeof(float) * static_cast<std::size_t>(2 * B * H));
  for (std::int64_t t = T - 1; t >= 0; --t) {
    for (std::int64_t b = 0; b < B; ++b) {
      const float* gb = gates + (b * T + t) * G;
      const float* cb = c + (b * T + t) * H;
      const float* c_prev = t > 0 ? c + (b * T + t - 1) * H : nullptr;
      const float* dhb = d_h + (b * T + t) * H;
      float* dz = d_xproj + (b * T + t) * G;
      float* dhn = dh_next + b * H;
      float* dcn = dc_next + b * H;
      for (std::int64_t k = 0; k < H; ++k) {
        float i = gb[k], f = gb[H + k], g = gb[2 * H + k], o = gb[3 * H + k];
        float tc = std::tanh(cb[k]);
        float dh = dhb[k] + dhn[k];
        float dc = dcn[k] + dh * o * (1.0f - tc * tc);
        float cp = c_prev ? c_prev[k] : 0.0f;
        dz[k] = dc * g * i * (1.0f - i);
        dz[H + k] = dc * cp * f * (1.0f - f);
        dz[2 * H + k] = dc * i * (1.0f - g * g);
        dz[3 * H + k] = dh * tc * o * (1.0f - o);
        dcn[k] = dc * f;
      }
    }
    if (t > 0) {
      // dh_next = dz[:, t] @ W_hh ; d_W_hh += dz[:, t]^T @ h[:, t-1]
      gemm(false, false, B, H, G, 1.0f, d_xproj + t * G, T * G, weight_hh, H, 0.0f, dh_next, H);
      gemm(true, false, G, H, B, 1.0f, d_xproj + t * G, T * G, h + (t - 1) * H, T * H, 1.0f, d_weight_hh, H);
    }
  }
}

}  // namespace limelight::cpu
