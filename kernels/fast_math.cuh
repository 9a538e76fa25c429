// Device copies of the CPU backend's float math (src/backend/cpu/cpu_math.hpp):
// the same polynomials in the same order, so that an activation computed on
// the GPU rounds like the CPU reference's rather than like CUDA's expf/tanhf
// (which differ from it by a few ulp, and those differences grow through an
// LSTM's steps). Only .cu files include this header.
#pragma once

#include <cstdint>

namespace limelight::cuda::kernels {

__device__ __forceinline__ float fast_exp(float x) {
  const float input = x;
  x = x < 88.3762626647949f ? x : 88.3762626647949f;
  x = x > -87.3365447504f ? x : -87.3365447504f;
  float fx = x * 1.44269504088896341f + 0.5f;
  std::int32_t n = static_cast<std::int32_t>(fx);
  n -= static_cast<float>(n) > fx ? 1 : 0;  // floor
  const float fn = static_cast<float>(n);
  float r = x - fn * 0.693359375f;
  r = r - fn * -2.12194440e-4f;
  const float r2 = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r2 + r + 1.0f;
  // p * 2^n, n in [-126, 127]: exact scaling, as the CPU's exponent bits.
  return ldexpf(p, n) + input * 0.0f;
}

__device__ __forceinline__ float fast_sigmoid(float x) { return 1.0f / (1.0f + fast_exp(-x)); }

__device__ __forceinline__ float fast_tanh(float x) {
  const float bound = 7.90531110763549805f;
  x = x > bound ? bound : x;
  x = x < -bound ? -bound : x;
  const float x2 = x * x;
  float p = -2.76076847742355e-16f;
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 + -8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  p = p * x;
  float q = 1.19825839466702e-06f;
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  return p / q;
}

}  // namespace limelight::cuda::kernels
