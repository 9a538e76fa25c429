// Launchers of the running-mean pooling kernels (kernels/pooling.cu).
// Host-callable from plain C++; pointers are device memory.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace limelight::cuda::kernels {

// x (B, T, D) -> out (B, T+1, D): out[b, 0] = 0 and out[b, s] the mean of the
// non-zero entries of x[b, 0..s-1] per column (sum / (1 + count)); div (B,
// T+1, D) keeps the divisors for backward.
void running_pool_forward(const float* x, std::int64_t B, std::int64_t T, std::int64_t D, float* out, float* div,
                          cudaStream_t stream);
// dx (B, T, D) += d out (B, T+1, D) through the running means.
void running_pool_backward(const float* d_out, const float* div, std::int64_t B, std::int64_t T, std::int64_t D,
                           float* dx, cudaStream_t stream);

}  // namespace limelight::cuda::kernels
