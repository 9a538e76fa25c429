// The emulator's CUDA runtime: memory registry, copies and memsets, errors.
// Streams and events are streams.cpp's. See include/cuda_runtime.h for what
// is emulated and what is checked.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "cuda_emulator/streams.hpp"

namespace {

enum class Memory { device, pinned_host };

struct Allocation {
  std::size_t bytes;
  Memory kind;
};

struct Registry {
  std::mutex mutex;
  std::map<std::uintptr_t, Allocation> allocations;  // by base address
};

Registry& registry() {
  static Registry r;
  return r;
}

thread_local cudaError_t last_error = cudaSuccess;

bool has_device() {
  static const bool present = [] {
    const char* devices = std::getenv("LIMELIGHT_EMULATOR_DEVICES");
    return !(devices && std::strcmp(devices, "0") == 0);
  }();
  return present;
}

// The allocation holding [pointer, pointer + bytes), or null. Locked by the caller.
const Allocation* find_locked(const void* pointer, std::size_t bytes) {
  auto& all = registry().allocations;
  const auto at = reinterpret_cast<std::uintptr_t>(pointer);
  auto it = all.upper_bound(at);
  if (it == all.begin()) return nullptr;
  --it;
  if (at - it->first > it->second.bytes || bytes > it->second.bytes - (at - it->first)) return nullptr;
  return &it->second;
}

bool is_kind(const void* pointer, std::size_t bytes, Memory kind) {
  std::lock_guard<std::mutex> lock(registry().mutex);
  const Allocation* a = find_locked(pointer, bytes);
  return a && a->kind == kind;
}

// Host memory for a copy: anything that is not device memory.
bool is_host(const void* pointer) {
  std::lock_guard<std::mutex> lock(registry().mutex);
  const Allocation* a = find_locked(pointer, 1);
  return !a || a->kind == Memory::pinned_host;
}

cudaError_t allocate(void** pointer, std::size_t bytes, Memory kind) {
  if (!pointer) return cuda_emulator::record_error(cudaErrorInvalidValue);
  *pointer = nullptr;
  if (kind == Memory::device && !has_device()) return cuda_emulator::record_error(cudaErrorNoDevice);
  if (bytes == 0) return cudaSuccess;
  if (bytes > (std::size_t{1} << 40)) return cuda_emulator::record_error(cudaErrorMemoryAllocation);
  const std::size_t rounded = (bytes + 255) / 256 * 256;
  void* p = std::aligned_alloc(256, rounded);
  if (!p) return cuda_emulator::record_error(cudaErrorMemoryAllocation);
  // Fresh device memory holds garbage on a GPU: poison it so that reading it
  // before writing shows up as NaN floats and -1 ids.
  std::memset(p, 0xff, rounded);
  std::lock_guard<std::mutex> lock(registry().mutex);
  registry().allocations[reinterpret_cast<std::uintptr_t>(p)] = Allocation{bytes, kind};
  *pointer = p;
  return cudaSuccess;
}

cudaError_t release(void* pointer, Memory kind) {
  if (!pointer) return cudaSuccess;
  // cudaFree and cudaFreeHost wait for the device: queued work may use the memory.
  cuda_emulator::wait_for_device();
  {
    std::lock_guard<std::mutex> lock(registry().mutex);
    auto it = registry().allocations.find(reinterpret_cast<std::uintptr_t>(pointer));
    if (it == registry().allocations.end() || it->second.kind != kind)
      return cuda_emulator::record_error(cudaErrorInvalidValue);
    registry().allocations.erase(it);
  }
  std::free(pointer);
  return cudaSuccess;
}

bool copy_ends_ok(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  switch (kind) {
    case cudaMemcpyHostToDevice:
      return is_kind(dst, bytes, Memory::device) && is_host(src);
    case cudaMemcpyDeviceToHost:
      return is_host(dst) && is_kind(src, bytes, Memory::device);
    case cudaMemcpyDeviceToDevice:
      return is_kind(dst, bytes, Memory::device) && is_kind(src, bytes, Memory::device);
    case cudaMemcpyHostToHost:
      return is_host(dst) && is_host(src);
    case cudaMemcpyDefault:
      return true;
  }
  return false;
}

}  // namespace

namespace cuda_emulator {

cudaError_t record_error(cudaError_t error) {
  if (error != cudaSuccess) last_error = error;
  return error;
}

bool is_device_range(const void* pointer, std::size_t bytes) {
  return bytes == 0 || is_kind(pointer, bytes, Memory::device);
}

}  // namespace cuda_emulator

const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError: return "cudaErrorInitializationError";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
  }
  return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInitializationError: return "initialization error";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInsufficientDriver: return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
  }
  return "unknown error";
}

cudaError_t cudaGetLastError() {
  const cudaError_t e = last_error;
  last_error = cudaSuccess;
  return e;
}

cudaError_t cudaPeekAtLastError() { return last_error; }

cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return cuda_emulator::record_error(cudaErrorInvalidValue);
  *count = 0;
  if (!has_device()) return cuda_emulator::record_error(cudaErrorNoDevice);
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  if (!has_device()) return cuda_emulator::record_error(cudaErrorNoDevice);
  return device == 0 ? cudaSuccess : cuda_emulator::record_error(cudaErrorInvalidDevice);
}

cudaError_t cudaGetDevice(int* device) {
  if (!device) return cuda_emulator::record_error(cudaErrorInvalidValue);
  *device = 0;
  return has_device() ? cudaSuccess : cuda_emulator::record_error(cudaErrorNoDevice);
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (!prop) return cuda_emulator::record_error(cudaErrorInvalidValue);
  if (!has_device()) return cuda_emulator::record_error(cudaErrorNoDevice);
  if (device != 0) return cuda_emulator::record_error(cudaErrorInvalidDevice);
  *prop = cudaDeviceProp{};
  std::strncpy(prop->name, "limelight CUDA emulator (CPU threads)", sizeof(prop->name) - 1);
  prop->totalGlobalMem = std::size_t{1} << 34;
  prop->sharedMemPerBlock = 48 * 1024;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = 1024;
  prop->maxThreadsDim[0] = prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = 64;
  prop->maxGridSize[0] = 0x7fffffff;
  prop->maxGridSize[1] = prop->maxGridSize[2] = 65535;
  prop->major = 9;  // reports the architecture the kernels are built for
  prop->minor = 0;
  prop->multiProcessorCount = 1;
  return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int* version) {
  if (!version) return cuda_emulator::record_error(cudaErrorInvalidValue);
  *version = 0;  // not a CUDA runtime
  return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int* version) {
  if (!version) return cuda_emulator::record_error(cudaErrorInvalidValue);
  *version = 0;
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** pointer, std::size_t bytes) { return allocate(pointer, bytes, Memory::device); }
cudaError_t cudaFree(void* pointer) { return release(pointer, Memory::device); }
cudaError_t cudaHostAlloc(void** pointer, std::size_t bytes, unsigned flags) {
  if (flags != cudaHostAllocDefault) return cuda_emulator::record_error(cudaErrorInvalidValue);
  return allocate(pointer, bytes, Memory::pinned_host);
}
cudaError_t cudaMallocHost(void** pointer, std::size_t bytes) { return allocate(pointer, bytes, Memory::pinned_host); }
cudaError_t cudaFreeHost(void* pointer) { return release(pointer, Memory::pinned_host); }

// Copies and memsets run on the stream, as on the GPU, with what CUDA's
// "API synchronization behavior" gives the host: a copy from pageable host
// memory reads it before the call returns (into a staging copy), a copy to
// pageable host memory is done when the call returns, and one to or from
// pinned host memory is not until the stream gets there.
static cudaError_t queue_copy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind,
                              cudaStream_t stream, bool synchronous) {
  if (!cuda_emulator::is_live_stream(stream)) return cuda_emulator::record_error(cudaErrorInvalidResourceHandle);
  if (bytes == 0) return cudaSuccess;
  if (!dst || !src || !copy_ends_ok(dst, src, bytes, kind)) return cuda_emulator::record_error(cudaErrorInvalidValue);
  const bool to_pageable = !is_kind(dst, bytes, Memory::device) && !is_kind(dst, bytes, Memory::pinned_host);
  const bool from_pageable = !is_kind(src, bytes, Memory::device) && !is_kind(src, bytes, Memory::pinned_host);
  if (from_pageable && !to_pageable) {
    auto staged = std::make_shared<std::vector<std::byte>>(static_cast<const std::byte*>(src),
                                                            static_cast<const std::byte*>(src) + bytes);
    cuda_emulator::enqueue(stream, [dst, staged] { std::memcpy(dst, staged->data(), staged->size()); });
    return cudaSuccess;
  }
  cuda_emulator::enqueue(stream, [dst, src, bytes] { std::memmove(dst, src, bytes); });
  if (to_pageable || (synchronous && kind != cudaMemcpyDeviceToDevice)) cuda_emulator::wait_for_stream(stream);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  return queue_copy(dst, src, bytes, kind, nullptr, true);
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  return queue_copy(dst, src, bytes, kind, stream, false);
}

cudaError_t cudaMemset(void* pointer, int value, std::size_t bytes) {
  return cudaMemsetAsync(pointer, value, bytes, nullptr);
}

cudaError_t cudaMemsetAsync(void* pointer, int value, std::size_t bytes, cudaStream_t stream) {
  if (!cuda_emulator::is_live_stream(stream)) return cuda_emulator::record_error(cudaErrorInvalidResourceHandle);
  if (bytes == 0) return cudaSuccess;
  if (!is_kind(pointer, bytes, Memory::device)) return cuda_emulator::record_error(cudaErrorInvalidValue);
  cuda_emulator::enqueue(stream, [pointer, value, bytes] { std::memset(pointer, value, bytes); });
  return cudaSuccess;
}
