// Launchers of the elementwise kernels (kernels/elementwise.cu): fills,
// copies, binary and unary maps and their backward, bias, maximum, target
// scoring. Host-callable from plain C++; pointers are device memory, work is
// queued on `stream`, sizes are checked by the caller (src/backend/cuda/
// elementwise.cpp). "Adds into" accumulates; a null gradient is not wanted.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace limelight::cuda::kernels {

// The operations, numbered as backend::Binary and backend::Unary.
enum class BinaryOp : int { add = 0, sub = 1, mul = 2 };
enum class UnaryOp : int { tanh = 0, relu = 1, sigmoid = 2, scale = 3, add_scalar = 4 };

void fill(float* x, std::int64_t n, float value, cudaStream_t stream);
// y += alpha x.
void axpy(float alpha, const float* x, float* y, std::int64_t n, cudaStream_t stream);
// Entries [src_at, src_at + len) of src's middle dimension (outer, src_n,
// inner) to [dst_at, ...) of dst's (outer, dst_n, inner); adds if accumulate.
// Writes `bytes` (at most small_write_bytes) of host memory to device memory
// on the stream, carried in the kernel's arguments: no staging, no wait.
constexpr std::size_t small_write_bytes = 256;
struct SmallBytes {
  unsigned char bytes[small_write_bytes];
};
void write_small(void* device, const void* host, std::size_t bytes, cudaStream_t stream);

void copy_band(const float* src, std::int64_t src_n, std::int64_t src_at, float* dst, std::int64_t dst_n,
               std::int64_t dst_at, std::int64_t outer, std::int64_t len, std::int64_t inner, bool accumulate,
               cudaStream_t stream);
void binary(BinaryOp op, const float* a, const float* b, float* out, std::int64_t n, cudaStream_t stream);
// Adds the gradients into d_a and d_b (either may be null).
void binary_backward(BinaryOp op, const float* d_out, const float* a, const float* b, float* d_a, float* d_b,
                     std::int64_t n, cudaStream_t stream);
void unary(UnaryOp op, float scalar, const float* x, float* y, std::int64_t n, cudaStream_t stream);
// Adds d_y * op'(x), written in terms of the output y, into d_x.
void unary_backward(UnaryOp op, float scalar, const float* y, const float* d_y, float* d_x, std::int64_t n,
                    cudaStream_t stream);
// out (rows, N) = x + bias per row.
void bias_add(const float* x, const float* bias, std::int64_t rows, std::int64_t N, float* out, cudaStream_t stream);
// out = the elementwise maximum of count (>= 1) inputs, arg = the lowest
// index attaining it. xs is a host array of device pointers.
void maximum(const float* const* xs, int count, std::int64_t n, float* out, std::int32_t* arg, cudaStream_t stream);
// d_x += d_out where arg == which.
void maximum_backward(const float* d_out, const std::int32_t* arg, std::int32_t which, float* d_x, std::int64_t n,
                      cudaStream_t stream);
// d_x += factor * d_out[0] (d_out is device memory).
void broadcast_scalar_backward(const float* d_out, float factor, float* d_x, std::int64_t n, cudaStream_t stream);
// d_x += d_out[0] * scale * mask.
void masked_mean_backward(const float* d_out, float scale, const float* mask, float* d_x, std::int64_t n,
                          cudaStream_t stream);
// d_x (outer, n, inner) += d_out (outer, inner) along n.
void sum_dim_backward(const float* d_out, std::int64_t outer, std::int64_t n, std::int64_t inner, float* d_x,
                      cudaStream_t stream);
// out[i] = rep[i] . table[ids[i]] + bias[ids[i]] (bias may be null) for
// rows of width D. The ids must lie in the table (the ops layer checks them
// with find_bad_id first, as on the CPU: the seam passes no table size).
void score_rows(const float* rep, const float* table, const float* bias, std::int64_t D, const std::int32_t* ids,
                std::int64_t n, float* out, cudaStream_t stream);
// d_rep += d_out[i] table[ids[i]] (d_rep may be null); d_entries (n, D) =
// d_out[i] rep[i] when not null.
void score_rows_backward(const float* d_out, const float* rep, const float* table, std::int64_t D,
                         const std::int32_t* ids, std::int64_t n, float* d_rep, float* d_entries, cudaStream_t stream);

}  // namespace limelight::cuda::kernels
