// Pinned (page-locked) host staging for host-to-device copies of minibatches
// and device-to-host copies of results. cudaMemcpyAsync from pageable memory
// is staged by the driver and synchronous; from pinned memory it is a DMA on
// the stream. Two slots alternate so the host can fill one while the other's
// copy is in flight; a slot is reused only after the event recorded behind
// its last copy has completed. Slots grow to the largest request and then
// stay: steady state makes no cudaHostAlloc.
#pragma once

#include <cstddef>

#include <cuda_runtime.h>

namespace limelight::cuda {

class PinnedStaging {
 public:
  PinnedStaging() = default;
  PinnedStaging(const PinnedStaging&) = delete;
  PinnedStaging& operator=(const PinnedStaging&) = delete;
  ~PinnedStaging();  // never throws

  // Copies `bytes` of pageable host memory into a pinned slot, then queues
  // the copy to `device` on `stream`. Returns once the host data is staged.
  void upload(const void* host, std::size_t bytes, void* device, cudaStream_t stream);
  // Queues the copy from `device` and waits for it: `host` holds the data on return.
  void download(const void* device, std::size_t bytes, void* host, cudaStream_t stream);

  std::size_t host_allocations() const { return host_allocations_; }

 private:
  struct Slot {
    void* data = nullptr;
    std::size_t capacity = 0;
    cudaEvent_t done = nullptr;
    bool pending = false;
  };
  Slot& acquire(std::size_t bytes);
  Slot slots_[2];
  int next_ = 0;
  std::size_t host_allocations_ = 0;
};

}  // namespace limelight::cuda
