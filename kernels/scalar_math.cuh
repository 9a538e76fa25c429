// Launcher of the kernel that evaluates the scalar formulas both backends
// share (src/backend/scalar_math.hpp) on the device, so that a test can hold
// the device's results against the CPU's (tests/gpu/test_gpu_math.cpp).
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace limelight::cuda::kernels {

// Values a probe writes for each input pair (x, y), in this order.
enum ScalarProbe : int {
  probe_exp,
  probe_sigmoid,
  probe_tanh,
  probe_pointwise,  // then d_p and d_n: 3 values a loss
  probe_bpr = probe_pointwise + 3,
  probe_hinge = probe_bpr + 3,
  probe_values = probe_hinge + 3
};

// out (n, probe_values): fast_exp(x), fast_sigmoid(x), fast_tanh(x), then
// loss_element(kind, x, y) for pointwise, BPR and hinge: value, d_p, d_n.
void evaluate_scalar_math(const float* x, const float* y, std::int64_t n, float* out, cudaStream_t stream);

}  // namespace limelight::cuda::kernels
