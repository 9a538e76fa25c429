// A caching allocator for device memory. Blocks are rounded up to a size
// class and, when freed, kept on that class's free list instead of being
// returned with cudaFree, so a training loop whose steps ask for the same
// sizes makes no cudaMalloc after its first step. Classes are a quarter of a
// power of two apart (at most 25% waste) with a 512-byte minimum.
//
// Reuse is ordered on the device, never by waiting on the host. An
// allocator serving one stream (a Context's own) needs nothing for it: a
// block freed on the host and handed out again is only touched by kernels
// queued after the ones that used it. One shared by streams (the tensors',
// used by every thread) records an event on the freeing stream; a block is
// handed to the same stream at once, and to another after that stream is
// made to wait for the event (cudaStreamWaitEvent, on the device). On out of
// memory the cached blocks are released and the allocation tried once more
// before an Error is thrown.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include <cuda_runtime.h>

namespace limelight::cuda {

class CachingAllocator {
 public:
  struct Stats {
    std::size_t device_mallocs = 0;  // cudaMalloc calls that succeeded
    std::size_t device_frees = 0;    // cudaFree calls
    std::size_t cache_hits = 0;      // allocations served from a free list
    std::size_t bytes_in_use = 0;    // class bytes handed out and not yet freed
    std::size_t bytes_cached = 0;    // class bytes on free lists
    std::size_t peak_bytes_in_use = 0;
  };

  enum class Sharing { one_stream, across_streams };
  explicit CachingAllocator(Sharing sharing = Sharing::one_stream) : sharing_(sharing) {}
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;
  ~CachingAllocator();  // frees everything; never throws

  // 256-byte aligned device memory of at least `bytes` (nullptr for 0), for
  // work queued on `stream` (across_streams only; one_stream ignores it).
  void* allocate(std::size_t bytes, cudaStream_t stream = nullptr);
  // Returns a block whose last use is queued on `stream`. Error for a
  // pointer this allocator did not hand out.
  void deallocate(void* ptr, cudaStream_t stream = nullptr);
  // cudaFree of every cached block.
  void release_cached();
  Stats stats() const;

  // The class a request of `bytes` is rounded up to (host-only arithmetic).
  static std::size_t size_class(std::size_t bytes);

 private:
  struct FreeBlock {
    void* data;
    cudaStream_t stream;  // where its last use was queued
    cudaEvent_t freed;    // recorded there at the free (across_streams), or null
  };
  void release_cached_locked();
  const Sharing sharing_;
  mutable std::mutex mutex_;
  std::map<std::size_t, std::vector<FreeBlock>> free_;
  std::vector<cudaEvent_t> idle_events_;
  std::unordered_map<void*, std::size_t> live_;
  Stats stats_;
};

// Owns one block of a CachingAllocator; move-only. It shares ownership of
// the allocator, so a buffer (a tensor's storage) may outlive the Context
// that made it: the allocator, and with it the device memory it caches, goes
// when the last of them does.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(std::shared_ptr<CachingAllocator> allocator, std::size_t bytes)
      : allocator_(std::move(allocator)), data_(allocator_->allocate(bytes)), bytes_(bytes) {}
  DeviceBuffer(DeviceBuffer&& other) noexcept { swap(other); }
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    DeviceBuffer(std::move(other)).swap(*this);
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer();

  void* data() const { return data_; }
  template <class T>
  T* as() const {
    return static_cast<T*>(data_);
  }
  std::size_t bytes() const { return bytes_; }

 private:
  void swap(DeviceBuffer& other) noexcept {
    std::swap(allocator_, other.allocator_);
    std::swap(data_, other.data_);
    std::swap(bytes_, other.bytes_);
  }
  std::shared_ptr<CachingAllocator> allocator_;
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

// Registers the memory of Device::cuda tensors and arenas (limelight::
// DeviceAllocator, include/limelight/tensor.hpp): blocks from one process-wide
// CachingAllocator; zero and copies on the calling thread's Context stream
// (thread_context(), context.hpp), host copies through its fixed-size pinned
// chunks (a few bytes: in a kernel's arguments), reads back in one wait. A
// freed block is ordered after the work the freeing thread queued on it
// (CachingAllocator::Sharing::across_streams); work another thread queued
// on it must have been waited for, as the library's calls do before they
// return. Once per process; thread-safe; later calls do nothing.
void install_allocator();

}  // namespace limelight::cuda
