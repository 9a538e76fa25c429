// Launchers of the Adam kernels (kernels/adam.cu). Host-callable from plain
// C++; pointers are device memory, work is queued on `stream`.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace limelight::cuda::kernels {

// The per-step scalars of PyTorch's Adam, computed on the host exactly as
// src/optim/adam.cpp computes them (bias corrections in double, then float).
struct AdamConstants {
  float beta1, beta2, one_minus_beta1, one_minus_beta2, weight_decay, neg_step_size, bias_correction2_sqrt, eps;
};

// Every element of w (n) moves: w, m, v updated in place from g.
void adam_dense(const AdamConstants& c, float* w, const float* g, float* m, float* v, std::int64_t n,
                cudaStream_t stream);

// Lazy (SparseAdam) update of the rows of a (V, D) table a step touched:
// rows[r] (distinct) gets values[r, :]; other rows and their moments stay.
// The rows are the first *count (device memory) of num_rows when count is
// set, so that the host need not read the count; all num_rows otherwise. A
// row outside [0, V) is skipped and sets a bit of `fault`.
void adam_lazy(const AdamConstants& c, float* w, float* m, float* v, std::int64_t V, std::int64_t D,
               const std::int32_t* rows, const float* values, std::int64_t num_rows, const std::int32_t* count,
               int* fault, cudaStream_t stream);

}  // namespace limelight::cuda::kernels
