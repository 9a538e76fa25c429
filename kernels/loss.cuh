// Launchers of the fused masked sequence loss (kernels/loss.cu). Host-callable
// from plain C++; pointers are device memory, work is queued on `stream`.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace limelight::cuda::kernels {

// Shapes of one loss call (letters as backend::LossShape's in
// src/backend/backend.hpp): B rows of L
// positions, states (B, S, W) with S >= L, table (V, D), M mixtures (0 =
// plain dot product, else W = 2 M D), N negatives per position.
struct LossShape {
  std::int64_t B, L, S, W, D, M, N, V;
};

// kind: 0 pointwise, 1 bpr, 2 hinge, 3 adaptive_hinge (ops::LossKind order).
// ids (N+1, B, L): targets first, then the N negative sets. Writes coef
// (N+1, B, L), d loss_element / d score (zero where masked or not the
// hardest negative), and result[0] = mean loss, result[1] = float(1/count),
// result[2] = count of unmasked positions (0 when every target is padding:
// the caller must check it). `partials` holds loss_partials(shape) doubles.
std::int64_t loss_partials(const LossShape& s);
void sequence_loss_forward(int kind, const LossShape& s, const float* states, const float* table, const float* bias,
                           const std::int32_t* ids, float* coef, float* result, double* partials, int* fault,
                           cudaStream_t stream);

// Backward with upstream gradient d_loss, scaled by result[1]:
//   d_states (B, S, W) += per-position gradients (null: skipped);
//   d_entries ((N+1) B L, D) = each entry's table-row gradient (null: skipped),
//   d_bias_entries ((N+1) B L) = each entry's bias gradient (null: skipped),
//   entry_ids ((N+1) B L) = the entry's id, or 0 where its coefficient is 0,
// so that scatter_add_rows / sparse_rows_sorted over (entry_ids, d_entries)
// touch exactly the rows the CPU backward touches.
void sequence_loss_backward(const LossShape& s, const float* states, const float* table, const std::int32_t* ids,
                            const float* coef, const float* result, float d_loss, float* d_states, float* d_entries,
                            float* d_bias_entries, std::int32_t* entry_ids, cudaStream_t stream);

}  // namespace limelight::cuda::kernels
