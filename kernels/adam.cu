// Adam, dense and lazy-sparse, PyTorch 1.13's formula element by element.
//
// adam_dense: w, g, m, v (n). One thread per element (grid stride).
// adam_lazy: w, m, v (V, D); rows (R) distinct, values (R, D). One thread
//   per (touched row, column): the cost depends on R, never on V.
// Both are deterministic and elementwise. Every operation is written with a
// round-to-nearest intrinsic so nvcc cannot contract a multiply and an add
// into an FMA: the update then rounds exactly like the CPU's (which is built
// without FMA contraction) and parity is to the last bit, not a tolerance.
// CPU reference: adam_element in src/backend/cpu/adam.cpp (Adam::step calls it).
#include "kernels/adam.cuh"
#include "kernels/common.cuh"

namespace limelight::cuda::kernels {

namespace {

constexpr int threads = 256;

__device__ __forceinline__ void adam_element(float& p, float g, float& m, float& v, const AdamConstants& c) {
  if (c.weight_decay != 0.0f) g = __fadd_rn(g, __fmul_rn(c.weight_decay, p));
  m = __fadd_rn(__fmul_rn(m, c.beta1), __fmul_rn(c.one_minus_beta1, g));
  v = __fadd_rn(__fmul_rn(v, c.beta2), __fmul_rn(__fmul_rn(c.one_minus_beta2, g), g));
  const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(v), c.bias_correction2_sqrt), c.eps);
  p = __fadd_rn(p, __fdiv_rn(__fmul_rn(c.neg_step_size, m), denom));
}

__global__ void __launch_bounds__(max_block_threads) adam_dense_kernel(AdamConstants c, float* __restrict__ w, const float* __restrict__ g,
                                  float* __restrict__ m, float* __restrict__ v, std::int64_t n) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    adam_element(w[i], g[i], m[i], v[i], c);
}

__global__ void __launch_bounds__(max_block_threads) adam_lazy_kernel(AdamConstants c, float* __restrict__ w, float* __restrict__ m, float* __restrict__ v,
                                 std::int64_t V, std::int64_t D, const std::int32_t* __restrict__ rows,
                                 const float* __restrict__ values, std::int64_t num_rows,
                                 const std::int32_t* __restrict__ count, int* fault) {
  const std::int64_t total = (count ? *count : num_rows) * D;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t r = i / D, d = i - r * D;
    const std::int32_t row = rows[r];
    if (row < 0 || row >= V) {
      if (d == 0) atomicOr(fault, fault_adam_row);
      continue;
    }
    const std::int64_t at = static_cast<std::int64_t>(row) * D + d;
    adam_element(w[at], values[i], m[at], v[at], c);
  }
}

}  // namespace

void adam_dense(const AdamConstants& c, float* w, const float* g, float* m, float* v, std::int64_t n,
                cudaStream_t stream) {
  if (n == 0) return;
  LL_LAUNCH(adam_dense_kernel, grid_for(n, threads), threads, 0, stream)(c, w, g, m, v, n);
  LL_LAUNCH_CHECK("adam_dense");
}

void adam_lazy(const AdamConstants& c, float* w, float* m, float* v, std::int64_t V, std::int64_t D,
               const std::int32_t* rows, const float* values, std::int64_t num_rows, const std::int32_t* count,
               int* fault, cudaStream_t stream) {
  if (num_rows == 0 || D == 0) return;
  LL_LAUNCH(adam_lazy_kernel, grid_for(num_rows * D, threads), threads, 0, stream)(c, w, m, v, V, D, rows, values,
                                                                                 num_rows, count, fault);
  LL_LAUNCH_CHECK("adam_lazy");
}

}  // namespace limelight::cuda::kernels
