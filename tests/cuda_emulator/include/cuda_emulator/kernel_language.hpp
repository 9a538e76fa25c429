// The CUDA kernel language on the CPU: what a .cu file of kernels/ uses
// inside its kernels, compiled by g++ as C++.
//
// Execution model (launch.cpp): a grid runs its blocks one after another on
// the worker thread of its stream (streams.hpp); each CUDA thread of a block
// is a fiber there, run until it waits at a barrier or returns.
// __syncthreads is the block's barrier and a thread that returns from the
// kernel leaves it, as an exited thread no longer counts on the GPU. The
// warp is 32 threads of consecutive linear index; shuffles exchange values
// through per-warp slots between two waits on the warp's barrier. Atomics
// are std::atomic_ref (relaxed, as CUDA's). __shared__ variables are
// function statics of the OS thread: one copy per kernel and stream worker,
// which is per-block memory because a worker runs one block at a time.
// Dynamic shared memory is a fresh, poisoned (0xff bytes: NaN floats, -1
// ints) buffer per block.
#pragma once

#include <math.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static thread_local
#define __align__(n) alignas(n)
#define __launch_bounds__(...)

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};
struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(8) float2 {
  float x, y;
};

// The built-in indices of the calling CUDA thread (set by the launch).
extern thread_local uint3 threadIdx;
extern thread_local uint3 blockIdx;
extern thread_local dim3 blockDim;
extern thread_local dim3 gridDim;
constexpr int warpSize = 32;

namespace cuda_emulator {

// The running block's synchronisation and memory (launch.cpp).
void sync_block();
void sync_warp(unsigned mask);
// Publishes `bits` (8 bytes) of the calling lane and returns source_lane's
// after every lane of the warp has published; a lane outside the warp gets
// its own value back, as CUDA's shuffles do for an out-of-range source.
std::uint64_t exchange_in_warp(unsigned mask, std::uint64_t bits, int source_lane);
int lane_id();
void* dynamic_shared_memory();

template <class T>
T shuffle_from(unsigned mask, T value, int source_lane) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "shuffles move at most 8 bytes");
  std::uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  bits = exchange_in_warp(mask, bits, source_lane);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}

}  // namespace cuda_emulator

inline void __syncthreads() { cuda_emulator::sync_block(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { cuda_emulator::sync_warp(mask); }
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }

// `width` splits the warp into segments as on the GPU; the kernels use 32.
template <class T>
T __shfl_sync(unsigned mask, T value, int src_lane, int width = warpSize) {
  const int lane = cuda_emulator::lane_id();
  return cuda_emulator::shuffle_from(mask, value, (lane & ~(width - 1)) + (src_lane & (width - 1)));
}
template <class T>
T __shfl_xor_sync(unsigned mask, T value, int lane_mask, int width = warpSize) {
  const int lane = cuda_emulator::lane_id();
  const int source = lane ^ lane_mask;
  return cuda_emulator::shuffle_from(mask, value, (source & ~(width - 1)) == (lane & ~(width - 1)) ? source : lane);
}
template <class T>
T __shfl_down_sync(unsigned mask, T value, unsigned delta, int width = warpSize) {
  const int lane = cuda_emulator::lane_id();
  const int source = lane + static_cast<int>(delta);
  return cuda_emulator::shuffle_from(mask, value, source / width == lane / width ? source : lane);
}
template <class T>
T __shfl_up_sync(unsigned mask, T value, unsigned delta, int width = warpSize) {
  const int lane = cuda_emulator::lane_id();
  const int source = lane - static_cast<int>(delta);
  return cuda_emulator::shuffle_from(mask, value, source >= 0 && source / width == lane / width ? source : lane);
}
unsigned __ballot_sync(unsigned mask, int predicate);

// Atomics: relaxed read-modify-write through std::atomic_ref; each returns
// the old value, as CUDA's do.
template <class T>
T atomicAdd(T* address, std::type_identity_t<T> value) {
  return std::atomic_ref<T>(*address).fetch_add(value, std::memory_order_relaxed);
}
template <class T>
T atomicSub(T* address, std::type_identity_t<T> value) {
  return std::atomic_ref<T>(*address).fetch_sub(value, std::memory_order_relaxed);
}
template <class T>
T atomicOr(T* address, std::type_identity_t<T> value) {
  return std::atomic_ref<T>(*address).fetch_or(value, std::memory_order_relaxed);
}
template <class T>
T atomicAnd(T* address, std::type_identity_t<T> value) {
  return std::atomic_ref<T>(*address).fetch_and(value, std::memory_order_relaxed);
}
template <class T>
T atomicExch(T* address, std::type_identity_t<T> value) {
  return std::atomic_ref<T>(*address).exchange(value, std::memory_order_relaxed);
}
template <class T>
T atomicCAS(T* address, std::type_identity_t<T> compare, std::type_identity_t<T> value) {
  std::atomic_ref<T>(*address).compare_exchange_strong(compare, value, std::memory_order_relaxed);
  return compare;
}
template <class T>
T atomicMax(T* address, std::type_identity_t<T> value) {
  std::atomic_ref<T> a(*address);
  T old = a.load(std::memory_order_relaxed);
  while (old < value && !a.compare_exchange_weak(old, value, std::memory_order_relaxed)) {
  }
  return old;
}
template <class T>
T atomicMin(T* address, std::type_identity_t<T> value) {
  std::atomic_ref<T> a(*address);
  T old = a.load(std::memory_order_relaxed);
  while (value < old && !a.compare_exchange_weak(old, value, std::memory_order_relaxed)) {
  }
  return old;
}

// Round-to-nearest intrinsics: plain IEEE operations (the kernels are built
// with -ffp-contract=off, so nothing is fused into an FMA).
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fsqrt_rn(float a) { return sqrtf(a); }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline float __expf(float a) { return expf(a); }
