// Launchers of the reduction and scan kernels (kernels/reductions.cu): whole
// sums and the masked mean (in double, as the CPU), sums along a dimension,
// cumulative sums, softmax, and the search for an id outside a table.
// Host-callable from plain C++; pointers are device memory, work is queued on
// `stream`, sizes are checked by the caller (src/backend/cuda/
// elementwise.cpp). Tensors are (outer, n, inner) over the reduced dimension.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace limelight::cuda::kernels {

// Doubles of workspace sum_all and masked_mean need for n elements.
std::int64_t whole_sum_workspace(std::int64_t n);
// out[0] = factor * (float) sum(x), summed in double.
void sum_all(const float* x, std::int64_t n, float factor, float* out, double* workspace, cudaStream_t stream);
// den[0] = sum(mask) and, where it is > 0, out[0] = sum(x * mask) / den, in
// double; out is not written otherwise.
void masked_mean(const float* x, const float* mask, std::int64_t n, float* out, double* den, double* workspace,
                 cudaStream_t stream);

// Floats of workspace sum_along needs (0 when n fits one chunk).
std::int64_t sum_along_workspace(std::int64_t outer, std::int64_t n, std::int64_t inner);
// out (outer, inner) = sum over n of x (outer, n, inner), added into out's
// values when accumulate, written over them otherwise.
void sum_along(const float* x, std::int64_t outer, std::int64_t n, std::int64_t inner, float* out, bool accumulate,
               float* workspace, cudaStream_t stream);

void cumsum(const float* x, std::int64_t outer, std::int64_t n, std::int64_t inner, float* out, cudaStream_t stream);
// d_x += the reverse cumulative sum of d_out.
void cumsum_backward(const float* d_out, std::int64_t outer, std::int64_t n, std::int64_t inner, float* d_x,
                     cudaStream_t stream);
void softmax(const float* x, std::int64_t outer, std::int64_t n, std::int64_t inner, float* y, cudaStream_t stream);
// d_x += y * (d_y - sum(d_y * y)) along n.
void softmax_backward(const float* y, const float* d_y, std::int64_t outer, std::int64_t n, std::int64_t inner,
                      float* d_x, cudaStream_t stream);

// first[0] = min(first[0], the lowest index i with ids[i] outside [0, V));
// the caller sets first[0] to ~0 beforehand.
void find_bad_id(const std::int32_t* ids, std::int64_t n, std::int64_t V, unsigned long long* first,
                 cudaStream_t stream);

}  // namespace limelight::cuda::kernels
