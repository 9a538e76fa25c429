// Matrix products on the CPU: OpenBLAS's sgemm, and the linear
// layer split into batch chunks (each chunk's GEMMs single-threaded).
#include <cblas.h>

#include <algorithm>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/parallel.hpp"

namespace limelight::cpu {

void CpuBackend::gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
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

void CpuBackend::linear_forward(const float* x, const float* W, const float* bias, std::int64_t rows, std::int64_t K,
                                std::int64_t N, float* y) {
  parallel_chunks(num_threads(), rows, 64, [&](int, std::int64_t r0, std::int64_t r1) {
    if (bias)
      for (std::int64_t r = r0; r < r1; ++r) std::copy(bias, bias + N, y + r * N);
    gemm(false, true, r1 - r0, N, K, 1.0f, x + r0 * K, K, W, K, bias ? 1.0f : 0.0f, y + r0 * N, N);
  });
}

// Each chunk sums its own weight and bias gradients, which are then added in
// chunk order: a given thread count always gives the same bits.
void CpuBackend::linear_backward(const float* d_y, const float* x, const float* W, std::int64_t rows, std::int64_t K,
                                 std::int64_t N, float* d_x, float* d_W, float* d_bias, Arena& scratch) {
  const int chunks = chunk_count(num_threads(), rows, 64);
  const std::int64_t per_chunk = N * K + N;
  Tensor partial = scratch.zeros(Shape{chunks, per_chunk});
  parallel_chunks(chunks, rows, 0, [&](int c, std::int64_t r0, std::int64_t r1) {
    const std::int64_t m = r1 - r0;
    float* mine = partial.f32() + c * per_chunk;
    if (d_x) gemm(false, false, m, K, N, 1.0f, d_y + r0 * N, N, W, K, 1.0f, d_x + r0 * K, K);
    if (d_W) gemm(true, false, N, K, m, 1.0f, d_y + r0 * N, N, x + r0 * K, K, 0.0f, mine, K);
    if (d_bias) sum_rows(d_y + r0 * N, m, N, mine + N * K);
  });
  for (int c = 0; c < chunks; ++c) {
    if (d_W) axpy(1.0f, partial.f32() + c * per_chunk, d_W, N * K);
    if (d_bias) axpy(1.0f, partial.f32() + c * per_chunk + N * K, d_bias, N);
  }
}

}  // namespace limelight::cpu
