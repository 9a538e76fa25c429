// The CPU backend: primitives on raw row-major views, the reference for every
// other backend. Ops (src/ops) call these; they know nothing of the tape.
#pragma once

#include <cstdint>

namespace limelight::cpu {

// C = alpha * op(A) @ op(B) + beta * C, row-major; op(A) is M x K, op(B) K x N.
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
          const float* A, std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C,
          std::int64_t ldc);

// y = alpha * op(A) x + beta * y for row-major A (M x N); op(A) = A^T with trans.
void gemv(bool trans, std::int64_t M, std::int64_t N, float alpha, const float* A, std::int64_t lda, const float* x,
          float beta, float* y);

// out[i, :] = table[ids[i], :] for n ids, rows of width D.
void gather_rows(const float* table, std::int64_t D, const std::int32_t* ids, std::int64_t n, float* out);
// table_grad[ids[i], :] += grad[i, :], skipping id 0 (the padding row).
void scatter_add_rows(const float* grad, std::int64_t D, const std::int32_t* ids, std::int64_t n,
                      float* table_grad);

// One LSTM layer, PyTorch's formulas and gate order (i, f, g, o). The
// recurrence runs time-major so that each step's batch is contiguous: the
// input projections of all steps are one GEMM, each step one GEMM with W_hh
// and a vectorised cell update.
//   x (B, T, D) -> out (B, T, H). Saved for backward (time-major): x_tm
//   (T, B, D), h_tm and c_tm (T, B, H), gates_tm (T, B, 4H) holding the
//   activated gates sigma(i), sigma(f), tanh(g), sigma(o). weight_hh_t is
//   scratch of 4H*H floats.
void lstm_forward(const float* x, const float* weight_ih, const float* weight_hh, const float* bias_ih,
                  const float* bias_hh, std::int64_t B, std::int64_t T, std::int64_t D, std::int64_t H, float* out,
                  float* x_tm, float* h_tm, float* c_tm, float* gates_tm, float* weight_hh_t);
// Backward through time from d_out (B, T, H). Adds into d_x (B, T, D) and the
// weight and bias gradients; any of them may be null. scratch holds
// T*B*(4H + D) + 2*B*H floats.
void lstm_backward(const float* d_out, const float* weight_ih, const float* weight_hh, const float* x_tm,
                   const float* h_tm, const float* c_tm, const float* gates_tm, std::int64_t B, std::int64_t T,
                   std::int64_t D, std::int64_t H, float* d_x, float* d_weight_ih, float* d_weight_hh,
                   float* d_bias_ih, float* d_bias_hh, float* scratch);

// y = x (rows, cols) transposed into (cols, rows) blocks of `width` floats:
// y[c][r] = x[r][c] where each element is `width` contiguous floats.
void transpose_blocks(const float* x, std::int64_t rows, std::int64_t cols, std::int64_t width, float* y,
                      bool accumulate);

}  // namespace limelight::cpu
