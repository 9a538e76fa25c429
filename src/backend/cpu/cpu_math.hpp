// Vectorisable float math for the CPU backend: exp, sigmoid and tanh as
// branch-free polynomials (Cephes' expf; Eigen's rational tanh), accurate to
// a few ulp, so that loops over them compile to SIMD code. std::exp and
// std::tanh are scalar library calls and dominated the LSTM's time.
#pragma once

#include <cstdint>
#include <cstring>

// Hot loops are compiled for AVX-512 (which implies FMA), for x86-64-v3
// (AVX2 + FMA) and for AVX with FMA besides the baseline; the loader picks by
// CPU features ("arch=" clones of a CPU model would match model names, which
// virtual machines often do not report; "arch=x86-64-v3" is an ISA level,
// checked by feature bits). The v3 clone is the one AVX2 machines run: the
// "fma" clone has no 256-bit integer operations, which fast_exp's exponent
// arithmetic needs, so GCC vectorised its loops 4 floats wide.
// Sanitizer builds go without: the ifunc resolvers run before the sanitizer
// runtime is up and crash under ThreadSanitizer.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__) && \
    !defined(__SANITIZE_THREAD__)
#define LL_SIMD_CLONES __attribute__((target_clones("avx512f", "arch=x86-64-v3", "fma", "default")))
#define LL_HAVE_SIMD_CLONES 1
#else
#define LL_SIMD_CLONES
#endif

namespace limelight::cpu {

// A read prefetch of the cache line holding `p`. In the LL_SIMD_CLONES
// clones GCC 12 emitted no instruction for __builtin_prefetch (the fused
// pooling op's gathers had no prefetch at all), so on x86-64 the
// instruction is written out; prefetches never fault, whatever the address.
inline void prefetch_line(const void* p) {
#if defined(__GNUC__) && defined(__x86_64__)
  asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p);
#endif
}

inline float fast_exp(float x) {
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
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale + input * 0.0f;
}

inline float fast_sigmoid(float x) { return 1.0f / (1.0f + fast_exp(-x)); }

inline float fast_tanh(float x) {
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

}  // namespace limelight::cpu
