// The shared scalar formulas evaluated on the device: one thread an input
// pair (kernels/scalar_math.cuh).
#include "kernels/scalar_math.cuh"

#include "backend/scalar_math.hpp"
#include "kernels/common.cuh"

namespace limelight::cuda::kernels {

namespace {

constexpr int threads = 256;

__global__ void __launch_bounds__(max_block_threads) scalar_math_kernel(const float* __restrict__ x, const float* __restrict__ y, std::int64_t n,
                                   float* __restrict__ out) {
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    float* o = out + i * probe_values;
    o[probe_exp] = scalar::fast_exp(x[i]);
    o[probe_sigmoid] = scalar::fast_sigmoid(x[i]);
    o[probe_tanh] = scalar::fast_tanh(x[i]);
    const ops::LossKind kinds[3] = {ops::LossKind::pointwise, ops::LossKind::bpr, ops::LossKind::hinge};
    for (int k = 0; k < 3; ++k) {
      float* l = o + probe_pointwise + 3 * k;
      scalar::loss_element(kinds[k], x[i], y[i], l[0], l[1], l[2]);
    }
  }
}

}  // namespace

void evaluate_scalar_math(const float* x, const float* y, std::int64_t n, float* out, cudaStream_t stream) {
  if (n == 0) return;
  LL_LAUNCH(scalar_math_kernel, grid_for(n, threads), threads, 0, stream)(x, y, n, out);
  LL_LAUNCH_CHECK("evaluate_scalar_math");
}

}  // namespace limelight::cuda::kernels
