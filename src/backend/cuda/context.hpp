// Context: everything the GPU primitives run with. One stream (all work of
// the backend is ordered on it), a cuBLAS handle bound to that stream with
// TF32 off, the caching device allocator, pinned staging for host copies and
// a device flag in which kernels report bad input. Constructing one on a
// machine without a usable device throws an Error saying so; check
// cuda_available() first to choose the CPU path instead.
#pragma once

#include <cstddef>
#include <vector>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "backend/cuda/allocator.hpp"
#include "backend/cuda/pinned.hpp"

namespace limelight::cuda {

class Context {
 public:
  explicit Context(int device = 0);
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  ~Context();  // never throws

  int device() const { return device_; }
  cudaStream_t stream() const { return stream_; }
  cublasHandle_t blas() const { return blas_; }
  CachingAllocator& allocator() { return allocator_; }
  PinnedStaging& staging() { return staging_; }
  int* fault_flag() const { return fault_; }

  DeviceBuffer buffer(std::size_t bytes) { return DeviceBuffer(allocator_, bytes); }
  // A buffer holding a copy of host memory (through pinned staging).
  template <class T>
  DeviceBuffer upload(const T* host, std::size_t count) {
    DeviceBuffer b = buffer(count * sizeof(T));
    staging_.upload(host, count * sizeof(T), b.data(), stream_);
    return b;
  }
  template <class T>
  DeviceBuffer upload(const std::vector<T>& host) {
    return upload(host.data(), host.size());
  }
  // Waits for the stream, then copies `count` elements to host memory.
  template <class T>
  void download(const void* device, T* host, std::size_t count) {
    staging_.download(device, count * sizeof(T), host, stream_);
  }
  template <class T>
  std::vector<T> download(const DeviceBuffer& b, std::size_t count) {
    std::vector<T> out(count);
    download(b.data(), out.data(), count);
    return out;
  }

  // Waits for all queued work; Error when a kernel flagged bad input (the
  // message names the kernel family) or failed.
  void synchronize();

 private:
  int device_ = 0;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  int* fault_ = nullptr;
  CachingAllocator allocator_;
  PinnedStaging staging_;
};

}  // namespace limelight::cuda
