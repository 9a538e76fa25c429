// Pinned host staging: see pinned.hpp.
#include "backend/cuda/pinned.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "backend/cuda/check.hpp"
#include "limelight/error.hpp"

namespace limelight::cuda {

PinnedStaging::PinnedStaging(std::size_t chunk_bytes) : chunk_bytes_(chunk_bytes) {
  LL_CHECK(chunk_bytes >= 1, "PinnedStaging: chunk size must be at least one byte");
}

PinnedStaging::~PinnedStaging() {
  for (Slot& s : slots_) {
    if (s.done) {
      if (cudaEventSynchronize(s.done) != cudaSuccess || cudaEventDestroy(s.done) != cudaSuccess)
        std::fprintf(stderr, "limelight: PinnedStaging: event release failed\n");
    }
    if (s.data && cudaFreeHost(s.data) != cudaSuccess) std::fprintf(stderr, "limelight: cudaFreeHost failed\n");
  }
}

std::size_t PinnedStaging::pinned_bytes() const {
  return (slots_[0].data ? chunk_bytes_ : 0) + (slots_[1].data ? chunk_bytes_ : 0);
}

PinnedStaging::Slot& PinnedStaging::acquire() {
  Slot& s = slots_[next_];
  next_ ^= 1;
  if (!s.done) CUDA_CHECK(cudaEventCreateWithFlags(&s.done, cudaEventDisableTiming));
  if (s.pending) {
    CUDA_CHECK(cudaEventSynchronize(s.done));
    s.pending = false;
  }
  if (!s.data) {
    CUDA_CHECK(cudaHostAlloc(&s.data, chunk_bytes_, cudaHostAllocDefault));
    ++host_allocations_;
  }
  return s;
}

void PinnedStaging::upload(const void* host, std::size_t bytes, void* device, cudaStream_t stream) {
  const auto* from = static_cast<const char*>(host);
  auto* to = static_cast<char*>(device);
  for (std::size_t at = 0; at < bytes; at += chunk_bytes_) {
    const std::size_t n = std::min(chunk_bytes_, bytes - at);
    Slot& s = acquire();
    std::memcpy(s.data, from + at, n);
    CUDA_CHECK(cudaMemcpyAsync(to + at, s.data, n, cudaMemcpyHostToDevice, stream));
    CUDA_CHECK(cudaEventRecord(s.done, stream));
    s.pending = true;
  }
}

void PinnedStaging::download(const void* device, std::size_t bytes, void* host, cudaStream_t stream) {
  if (bytes == 0) return;
  const auto* from = static_cast<const char*>(device);
  auto* to = static_cast<char*>(host);
  auto queue = [&](std::size_t at) -> Slot& {
    Slot& s = acquire();
    CUDA_CHECK(cudaMemcpyAsync(s.data, from + at, std::min(chunk_bytes_, bytes - at), cudaMemcpyDeviceToHost, stream));
    CUDA_CHECK(cudaEventRecord(s.done, stream));
    s.pending = true;
    return s;
  };
  // The next chunk's copy is queued before this one is drained.
  Slot* current = &queue(0);
  for (std::size_t at = 0; at < bytes; at += chunk_bytes_) {
    Slot* next = at + chunk_bytes_ < bytes ? &queue(at + chunk_bytes_) : nullptr;
    CUDA_CHECK(cudaEventSynchronize(current->done));
    current->pending = false;
    std::memcpy(to + at, current->data, std::min(chunk_bytes_, bytes - at));
    current = next;
  }
}

}  // namespace limelight::cuda
