// Running-mean pooling, forward and backward.
//
// Shapes: x (B, T, D), out and div (B, T+1, D), d_out (B, T+1, D), dx (B, T, D).
// Parallelisation: one thread per (b, d) column, scanning T in order (the
// scan is sequential by nature; threads of a warp take consecutive d, so
// every load and store is coalesced). Deterministic. The running sum,
// divisor count and divisions are the CPU's operations in the CPU's order,
// so results match it to the bit. CPU reference: running_pool_rows and
// running_pool_backward_rows in src/backend/cpu/pooling.cpp.
#include "kernels/common.cuh"
#include "kernels/pooling.cuh"

namespace limelight::cuda::kernels {

namespace {

constexpr int threads = 256;

__global__ void __launch_bounds__(max_block_threads) running_pool_forward_kernel(const float* __restrict__ x, std::int64_t B, std::int64_t T,
                                            std::int64_t D, float* __restrict__ out, float* __restrict__ div) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < B * D;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t b = i / D, d = i - b * D;
    const float* xb = x + b * T * D + d;
    float* ob = out + b * (T + 1) * D + d;
    float* vb = div + b * (T + 1) * D + d;
    ob[0] = 0.0f;
    vb[0] = 1.0f;
    float count = 1.0f, sum = 0.0f;
    for (std::int64_t s = 0; s < T; ++s) {
      const float xs = xb[s * D];
      count = __fadd_rn(count, xs != 0.0f ? 1.0f : 0.0f);
      sum = s == 0 ? xs : __fadd_rn(sum, xs);
      vb[(s + 1) * D] = count;
      ob[(s + 1) * D] = __fdiv_rn(sum, count);
    }
  }
}

__global__ void __launch_bounds__(max_block_threads) running_pool_backward_kernel(const float* __restrict__ g, const float* __restrict__ div,
                                             std::int64_t B, std::int64_t T, std::int64_t D, float* __restrict__ dx) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < B * D;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t b = i / D, d = i - b * D;
    // x[s] feeds states s+1 .. T: d x[s] = sum_{u > s} g[u] / div[u].
    float run = 0.0f;
    for (std::int64_t u = T; u >= 1; --u) {
      const std::int64_t at = (b * (T + 1) + u) * D + d;
      run = __fadd_rn(run, __fdiv_rn(g[at], div[at]));
      float& target = dx[(b * T + u - 1) * D + d];
      target = __fadd_rn(target, run);
    }
  }
}

}  // namespace

void running_pool_forward(const float* x, std::int64_t B, std::int64_t T, std::int64_t D, float* out, float* div,
                          cudaStream_t stream) {
  if (B == 0 || D == 0) return;
  LL_LAUNCH(running_pool_forward_kernel, grid_for(B * D, threads), threads, 0, stream)(x, B, T, D, out, div);
  LL_LAUNCH_CHECK("running_pool_forward");
}

void running_pool_backward(const float* d_out, const float* div, std::int64_t B, std::int64_t T, std::int64_t D,
                           float* dx, cudaStream_t stream) {
  if (B == 0 || D == 0) return;
  LL_LAUNCH(running_pool_backward_kernel, grid_for(B * D, threads), threads, 0, stream)(d_out, div, B, T, D, dx);
  LL_LAUNCH_CHECK("running_pool_backward");
}

}  // namespace limelight::cuda::kernels
