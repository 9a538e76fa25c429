// Vectorisable float math for the CPU backend: the SIMD clones of hot loops,
// a prefetch, and exp, sigmoid and tanh (backend/scalar_math.hpp, shared
// with the device).
#pragma once

#include <cstdint>
#include <cstring>

#include "backend/scalar_math.hpp"

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

using scalar::fast_exp;
using scalar::fast_sigmoid;
using scalar::fast_tanh;

}  // namespace limelight::cpu
