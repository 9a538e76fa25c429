// Launchers of the linear layer's kernels (kernels/linear.cu): the bias
// broadcast before the forward GEMM and the deterministic column sum of the
// bias gradient, which the convolution and the LSTM use for theirs too.
// Host-callable from plain C++; pointers are device memory.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace limelight::cuda::kernels {

// out (rows, N)[r, n] = a[n] (+ b[n] when b is not null).
void broadcast_rows(const float* a, const float* b, std::int64_t rows, std::int64_t N, float* out,
                    cudaStream_t stream);

// How many row chunks column_sums splits `rows` into; it needs a workspace
// of column_sum_chunks(rows) * N floats when that is more than 1.
std::int64_t column_sum_chunks(std::int64_t rows);
// out[n] += sum over r of x[r, n] for x (rows, N). No atomics: each chunk of
// rows is summed in a fixed order into workspace, then the chunks in
// order, so the same input always gives the same bits.
void column_sums(const float* x, std::int64_t rows, std::int64_t N, float* out, float* workspace,
                 cudaStream_t stream);

}  // namespace limelight::cuda::kernels
