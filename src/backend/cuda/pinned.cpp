// Pinned host staging: see pinned.hpp.
#include "backend/cuda/pinned.hpp"

#include <cstdio>
#include <cstring>

#include "backend/cuda/check.hpp"

namespace limelight::cuda {

PinnedStaging::~PinnedStaging() {
  for (Slot& s : slots_) {
    if (s.done) {
      if (cudaEventSynchronize(s.done) != cudaSuccess || cudaEventDestroy(s.done) != cudaSuccess)
        std::fprintf(stderr, "limelight: PinnedStaging: event release failed\n");
    }
    if (s.data && cudaFreeHost(s.data) != cudaSuccess) std::fprintf(stderr, "limelight: cudaFreeHost failed\n");
  }
}

PinnedStaging::Slot& PinnedStaging::acquire(std::size_t bytes) {
  Slot& s = slots_[next_];
  next_ ^= 1;
  if (!s.done) CUDA_CHECK(cudaEventCreateWithFlags(&s.done, cudaEventDisableTiming));
  if (s.pending) {
    CUDA_CHECK(cudaEventSynchronize(s.done));
    s.pending = false;
  }
  if (s.capacity < bytes) {
    if (s.data) CUDA_CHECK(cudaFreeHost(s.data));
    s.data = nullptr;
    s.capacity = 0;
    CUDA_CHECK(cudaHostAlloc(&s.data, bytes, cudaHostAllocDefault));
    s.capacity = bytes;
    ++host_allocations_;
  }
  return s;
}

void PinnedStaging::upload(const void* host, std::size_t bytes, void* device, cudaStream_t stream) {
  if (bytes == 0) return;
  Slot& s = acquire(bytes);
  std::memcpy(s.data, host, bytes);
  CUDA_CHECK(cudaMemcpyAsync(device, s.data, bytes, cudaMemcpyHostToDevice, stream));
  CUDA_CHECK(cudaEventRecord(s.done, stream));
  s.pending = true;
}

void PinnedStaging::download(const void* device, std::size_t bytes, void* host, cudaStream_t stream) {
  if (bytes == 0) return;
  Slot& s = acquire(bytes);
  CUDA_CHECK(cudaMemcpyAsync(s.data, device, bytes, cudaMemcpyDeviceToHost, stream));
  CUDA_CHECK(cudaEventRecord(s.done, stream));
  CUDA_CHECK(cudaEventSynchronize(s.done));
  std::memcpy(host, s.data, bytes);
}

}  // namespace limelight::cuda
