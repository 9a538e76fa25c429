// Device helpers shared by the kernel families: the launch macros, grid
// sizing for grid-stride loops, warp reductions, and the scoring of one item
// against one state (a dot product, or the mixture-of-tastes head) computed
// by a whole warp. Only .cu files include this header; the per-family .cuh
// headers declare host launchers and can be included from plain C++.
//
// Every launch and every dynamic shared array goes through the two macros
// below, so that the same .cu files build with nvcc for a GPU and with g++
// against the CPU emulator of tests/cuda_emulator (docs/gpu.md):
//   LL_LAUNCH(kernel, grid, block, shared_bytes, stream)(args...);
//   LL_DYNAMIC_SHARED(float, name);  // extern __shared__, 16-byte aligned
//   LL_UNROLL for (...)              // unrolled whole: register arrays keep constant indices
// LL_LAUNCH first fails on an error left pending by earlier work, naming it
// as such, so that the LL_LAUNCH_CHECK after the launch blames only this
// kernel.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "backend/cuda/check.hpp"

#if defined(__CUDACC__)
#define LL_LAUNCH(kernel, grid, block, shared, stream)                                        \
  if (::limelight::cuda::detail::check_before_launch(#kernel, __FILE__, __LINE__); false) { \
  } else                                                                                      \
    kernel<<<grid, block, shared, stream>>>
#define LL_DYNAMIC_SHARED(type, name) extern __shared__ __align__(16) type name[]
#define LL_UNROLL _Pragma("unroll")
#elif defined(LIMELIGHT_CUDA_EMULATOR)
#define LL_LAUNCH(kernel, grid, block, shared, stream)                                        \
  if (::limelight::cuda::detail::check_before_launch(#kernel, __FILE__, __LINE__); false) { \
  } else                                                                                      \
    ::cuda_emulator::launch(kernel, grid, block, shared, stream)
#define LL_DYNAMIC_SHARED(type, name) type* const name = static_cast<type*>(::cuda_emulator::dynamic_shared_memory())
#define LL_UNROLL _Pragma("GCC unroll 64")
#else
#error "kernels/*.cu build with nvcc or against the CUDA emulator (tests/cuda_emulator/include)"
#endif

namespace limelight::cuda::kernels {

constexpr int warp_size = 32;
constexpr unsigned full_mask = 0xffffffffu;
constexpr int max_mixtures = 64;

// Threads per block of the grid-stride kernels.
constexpr int grid_stride_block = 256;
// The most threads any launch gives a block (the merge pass of score_top_k
// excepted, bounded by its own 512): every kernel is declared
// __launch_bounds__(max_block_threads), the block size nvcc allocates
// registers for, and the CUDA build makes a register spill an error.
constexpr int max_block_threads = 256;

// Threads per block for `work` items: grid_stride_block, or fewer (whole warps,
// at least one) for a launch with less work than one block takes.
inline unsigned block_for(std::int64_t work) {
  const std::int64_t warps = (work + warp_size - 1) / warp_size;
  return static_cast<unsigned>(std::clamp<std::int64_t>(warps, 1, grid_stride_block / warp_size) * warp_size);
}

// Whether p may be read as float4 (16-byte vector loads).
inline bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

// This thread's index in a grid-stride loop over elements, and the stride.
__device__ __forceinline__ std::int64_t thread_index() {
  return static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ std::int64_t thread_count() {
  return static_cast<std::int64_t>(gridDim.x) * blockDim.x;
}

// Blocks for `work` items at `per_block` items per block, capped: the kernels
// loop over the rest with a grid stride.
inline unsigned grid_for(std::int64_t work, std::int64_t per_block) {
  const std::int64_t blocks = (work + per_block - 1) / per_block;
  return static_cast<unsigned>(std::clamp<std::int64_t>(blocks, 1, 1 << 20));
}

// A grid over (rows, columns) of a row-major matrix: the y dimension
// strides over the rows, x over the columns, so that an element's row and
// column need no 64-bit division (LL_ROWS_COLUMNS loops over it).
inline dim3 rows_columns_grid(std::int64_t rows, std::int64_t columns) {
  return dim3(grid_for(columns, block_for(columns)), static_cast<unsigned>(std::clamp<std::int64_t>(rows, 1, 65535)));
}
#define LL_ROWS_COLUMNS(r, n, rows, columns)                                                        \
  for (std::int64_t r = blockIdx.y; r < (rows); r += gridDim.y)                                   \
    for (std::int64_t n = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; n < (columns); \
         n += static_cast<std::int64_t>(gridDim.x) * blockDim.x)

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = warp_size / 2; offset > 0; offset >>= 1) v += __shfl_xor_sync(full_mask, v, offset);
  return v;
}

__device__ __forceinline__ double warp_sum(double v) {
  for (int offset = warp_size / 2; offset > 0; offset >>= 1) v += __shfl_xor_sync(full_mask, v, offset);
  return v;
}

// Global warp index and warp count of a grid-stride loop over warps.
__device__ __forceinline__ std::int64_t global_warp() {
  return (static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / warp_size;
}
__device__ __forceinline__ std::int64_t warp_count() {
  return static_cast<std::int64_t>(gridDim.x) * blockDim.x / warp_size;
}

// a . b over n floats by one warp; every lane gets the result.
__device__ __forceinline__ float warp_dot(const float* a, const float* b, std::int64_t n) {
  const int lane = threadIdx.x % warp_size;
  float s = 0.0f;
  for (std::int64_t k = lane; k < n; k += warp_size) s += a[k] * b[k];
  return warp_sum(s);
}

// Mixture head of one state `rep` (2 M D: M tastes then M attentions) and
// item row e (D): fills w (softmax of the attention logits) and s (taste
// scores) for m < M and returns sum_m w_m s_m. Every lane holds the results.
// CPU reference: mixture_head_forward in src/backend/cpu/mixture_head.hpp.
__device__ __forceinline__ float warp_mixture(const float* rep, const float* e, int M, std::int64_t D, float* w,
                                              float* s) {
  float mx = -INFINITY;
  for (int m = 0; m < M; ++m) {
    w[m] = warp_dot(rep + (M + m) * D, e, D);
    mx = fmaxf(mx, w[m]);
  }
  float z = 0.0f;
  for (int m = 0; m < M; ++m) z += w[m] = expf(w[m] - mx);
  float score = 0.0f;
  for (int m = 0; m < M; ++m) {
    w[m] /= z;
    s[m] = warp_dot(rep + m * D, e, D);
    score += w[m] * s[m];
  }
  return score;
}

}  // namespace limelight::cuda::kernels
