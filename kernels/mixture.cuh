// Launchers of the mixture-of-tastes scoring kernels (kernels/mixture.cu).
// Host-callable from plain C++; pointers are device memory.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace limelight::cuda::kernels {

// rep (rows, 2 M D): M taste vectors then M attention vectors per row;
// table (V, D), bias (V) or null, ids (rows). out (rows) = sum_m w_m
// (taste_m . e) + bias[id] with w = softmax_m(attention_m . e); weights
// (rows, M) keeps w for backward.
void mixture_score_forward(const float* rep, const float* table, const float* bias, std::int64_t V, std::int64_t D,
                           std::int64_t M, const std::int32_t* ids, std::int64_t rows, float* out, float* weights,
                           int* fault, cudaStream_t stream);
// From d out (rows): d_rep (rows, 2 M D) += (null: skipped) and d_entries
// (rows, D) = each row's table gradient (null: skipped); the bias gradient
// of row r is d_out[r] itself.
void mixture_score_backward(const float* d_out, const float* rep, const float* table, std::int64_t V,
                            std::int64_t D, std::int64_t M, const std::int32_t* ids, std::int64_t rows,
                            const float* weights, float* d_rep, float* d_entries, cudaStream_t stream);

// scores (rows, V) of every item of the table against each row of rep
// (rows, 2 M D), bias (V) or null: the forward above for every item.
void mixture_score_catalogue(const float* rep, std::int64_t rows, const float* table, const float* bias,
                             std::int64_t V, std::int64_t D, std::int64_t M, float* scores, cudaStream_t stream);

}  // namespace limelight::cuda::kernels
