// The scalar formulas both backends compute, in one copy compiled for the
// host and, in kernels/, for the device, so that a GPU computes what the CPU
// computes rather than a second version of it: exp, sigmoid and tanh as
// branch-free polynomials (Cephes' expf; Eigen's rational tanh), accurate to
// a few ulp, which loops over them compile to SIMD code (std::exp and
// std::tanh are scalar library calls, and CUDA's expf and tanhf differ from
// these by a few ulp, differences an LSTM's steps grow); and the loss at one
// scored position. On the emulator the device's results are the CPU's to
// the bit (tests/gpu/test_gpu_math.cpp); nvcc contracts products into FMAs
// as the CPU's FMA clones do, which changes last bits.
#pragma once

#include <cstdint>
#include <cstring>

#include "limelight/op_kinds.hpp"

#ifdef __CUDACC__
#define LL_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define LL_HOST_DEVICE inline
#endif

namespace limelight::scalar {

LL_HOST_DEVICE float fast_exp(float x) {
  // NaN must not reach the float-to-int conversion below (undefined
  // behaviour): these comparisons turn it into the upper bound, and the
  // last line gives NaN back (input * 0 is NaN for NaN and infinities, and a
  // zero that changes nothing otherwise). No select on NaN-ness: that kept
  // the compiler from vectorising the loops that call this.
  const float input = x;
  x = x < 88.3762626647949f ? x : 88.3762626647949f;
  x = x > -87.3365447504f ? x : -87.3365447504f;
  // x = n ln2 + r, |r| <= ln2/2; ln2 split in two for precision.
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
  // p * 2^n through the exponent bits (n in [-126, 127] after the clamps).
  const std::int32_t bits = (n + 127) << 23;
#ifdef __CUDA_ARCH__
  const float scale = __int_as_float(bits);
#else
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
#endif
  return p * scale + input * 0.0f;
}

LL_HOST_DEVICE float fast_sigmoid(float x) { return 1.0f / (1.0f + fast_exp(-x)); }

LL_HOST_DEVICE float fast_tanh(float x) {
  // tanh saturates to +-1 in float beyond this bound.
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

// The four masked losses at one scored position (pointwise, BPR, hinge,
// adaptive hinge on its hardest negative) and their derivatives by the
// positive and the negative score.
LL_HOST_DEVICE void loss_element(ops::LossKind kind, float p, float n, float& value, float& d_p, float& d_n) {
  switch (kind) {
    case ops::LossKind::pointwise: {
      const float sp = fast_sigmoid(p), sn = fast_sigmoid(n);
      value = (1.0f - sp) + sn;
      d_p = -sp * (1.0f - sp);
      d_n = sn * (1.0f - sn);
      break;
    }
    case ops::LossKind::bpr: {
      const float s = fast_sigmoid(p - n);
      value = 1.0f - s;
      d_p = -s * (1.0f - s);
      d_n = -d_p;
      break;
    }
    default: {
      const float x = n - p + 1.0f;
      value = x > 0.0f ? x : 0.0f;
      d_n = x >= 0.0f ? 1.0f : 0.0f;
      d_p = -d_n;
    }
  }
}

// The hardest of a position's N >= 1 negatives: the highest score(k), ties
// to the lowest k (the adaptive hinge's choice; with one negative, that one).
template <class Score>
LL_HOST_DEVICE void hardest_negative(const Score& score, std::int64_t N, float& value, std::int64_t& index) {
  index = 0;
  value = score(0);
  for (std::int64_t k = 1; k < N; ++k) {
    const float v = score(k);
    if (v > value) {  // strictly greater: ties keep the lowest index
      value = v;
      index = k;
    }
  }
}

}  // namespace limelight::scalar
