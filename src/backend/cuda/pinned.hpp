// Pinned (page-locked) host staging for host-to-device copies of minibatches
// and device-to-host copies of results. cudaMemcpyAsync from pageable memory
// is staged by the driver and synchronous; from pinned memory it is a DMA on
// the stream. Two slots of a fixed size alternate: a transfer larger than a
// slot goes in slot-sized chunks, so the host fills (or drains) one slot
// while the other's copy is in flight, and the pinned memory never exceeds
// two slots whatever the largest transfer. A slot is reused only after the
// event recorded behind its last copy has completed. Steady state makes no
// cudaHostAlloc.
#pragma once

#include <cstddef>

#include <cuda_runtime.h>

namespace limelight::cuda {

class PinnedStaging {
 public:
  static constexpr std::size_t default_chunk_bytes = std::size_t{4} << 20;

  explicit PinnedStaging(std::size_t chunk_bytes = default_chunk_bytes);
  PinnedStaging(const PinnedStaging&) = delete;
  PinnedStaging& operator=(const PinnedStaging&) = delete;
  ~PinnedStaging();  // never throws

  // Copies `bytes` of pageable host memory through the slots and queues the
  // copies to `device` on `stream`. Returns once the host data is staged.
  void upload(const void* host, std::size_t bytes, void* device, cudaStream_t stream);
  // Queues the copies from `device` and waits for them: `host` holds the data on return.
  void download(const void* device, std::size_t bytes, void* host, cudaStream_t stream);

  // The stream every copy went to has been synchronised: every slot is free.
  void drained() {
    for (Slot& s : slots_) s.pending = false;
  }

  std::size_t chunk_bytes() const { return chunk_bytes_; }
  std::size_t host_allocations() const { return host_allocations_; }
  std::size_t pinned_bytes() const;

 private:
  struct Slot {
    void* data = nullptr;
    cudaEvent_t done = nullptr;
    bool pending = false;
  };
  // The next slot, once its last copy has completed.
  Slot& acquire();
  std::size_t chunk_bytes_;
  Slot slots_[2];
  int next_ = 0;
  std::size_t host_allocations_ = 0;
};

}  // namespace limelight::cuda
