// The caching device allocator: see allocator.hpp.
#include "backend/cuda/allocator.hpp"

#include <algorithm>
#include <bit>
#include <iterator>
#include <cstdio>
#include <cstring>

#include "backend/cuda/check.hpp"
#include "backend/cuda/context.hpp"
#include "kernels/elementwise.cuh"
#include "limelight/error.hpp"
#include "limelight/tensor.hpp"

namespace limelight::cuda {

std::size_t CachingAllocator::size_class(std::size_t bytes) {
  constexpr std::size_t min_class = 512;
  if (bytes <= min_class) return min_class;
  // Four classes per power of two: the step is a quarter of the power below.
  const std::size_t power = std::bit_floor(bytes);
  const std::size_t step = power / 4;
  return (bytes + step - 1) / step * step;
}

CachingAllocator::~CachingAllocator() {
  // Destructors never throw: failures are reported and the rest still freed.
  for (auto& [size, blocks] : free_)
    for (const FreeBlock& b : blocks) {
      if (b.freed) cudaEventDestroy(b.freed);
      if (cudaFree(b.data) != cudaSuccess) std::fprintf(stderr, "limelight: cudaFree of a cached block failed\n");
    }
  for (cudaEvent_t e : idle_events_) cudaEventDestroy(e);
  for (auto& [p, size] : live_)
    if (cudaFree(p) != cudaSuccess) std::fprintf(stderr, "limelight: cudaFree of a live block failed\n");
}

void* CachingAllocator::allocate(std::size_t bytes, cudaStream_t stream) {
  if (bytes == 0) return nullptr;
  const std::size_t size = size_class(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  void* p = nullptr;
  auto it = free_.find(size);
  if (it != free_.end() && !it->second.empty()) {
    std::vector<FreeBlock>& blocks = it->second;
    // The stream's own block first: its order covers the earlier use.
    auto own = std::find_if(blocks.rbegin(), blocks.rend(), [&](const FreeBlock& b) { return b.stream == stream; });
    const FreeBlock b = own != blocks.rend() ? *own : blocks.back();
    blocks.erase(own != blocks.rend() ? std::next(own).base() : blocks.end() - 1);
    if (b.freed) {
      if (b.stream != stream) CUDA_CHECK(cudaStreamWaitEvent(stream, b.freed, 0));
      idle_events_.push_back(b.freed);
    }
    p = b.data;
    stats_.bytes_cached -= size;
    ++stats_.cache_hits;
  } else {
    cudaError_t status = cudaMalloc(&p, size);
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      release_cached_locked();
      status = cudaMalloc(&p, size);
    }
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      ::limelight::detail::fail("CachingAllocator: out of device memory allocating ", bytes, " bytes (class ", size, "; ",
                   stats_.bytes_in_use, " bytes in use, peak ", stats_.peak_bytes_in_use, ")");
    }
    CUDA_CHECK(status);
    ++stats_.device_mallocs;
  }
  live_.emplace(p, size);
  stats_.bytes_in_use += size;
  if (stats_.bytes_in_use > stats_.peak_bytes_in_use) stats_.peak_bytes_in_use = stats_.bytes_in_use;
  return p;
}

void CachingAllocator::deallocate(void* ptr, cudaStream_t stream) {
  if (!ptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = live_.find(ptr);
  LL_CHECK(it != live_.end(), "CachingAllocator: deallocate of ", ptr, ", a pointer it did not allocate");
  const std::size_t size = it->second;
  cudaEvent_t freed = nullptr;
  if (sharing_ == Sharing::across_streams) {
    if (idle_events_.empty()) {
      CUDA_CHECK(cudaEventCreateWithFlags(&freed, cudaEventDisableTiming));
    } else {
      freed = idle_events_.back();
      idle_events_.pop_back();
    }
    CUDA_CHECK(cudaEventRecord(freed, stream));
  }
  live_.erase(it);
  free_[size].push_back(FreeBlock{ptr, stream, freed});
  stats_.bytes_in_use -= size;
  stats_.bytes_cached += size;
}

void CachingAllocator::release_cached_locked() {
  for (auto& [size, blocks] : free_) {
    for (const FreeBlock& b : blocks) {
      CUDA_CHECK(cudaFree(b.data));  // waits for the device: any use of the block is done
      if (b.freed) idle_events_.push_back(b.freed);
      ++stats_.device_frees;
      stats_.bytes_cached -= size;
    }
    blocks.clear();
  }
}

void CachingAllocator::release_cached() {
  std::lock_guard<std::mutex> lock(mutex_);
  release_cached_locked();
}

CachingAllocator::Stats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

DeviceBuffer::~DeviceBuffer() {
  if (!allocator_ || !data_) return;
  try {
    allocator_->deallocate(data_);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "limelight: DeviceBuffer: %s\n", e.what());
  }
}

}  // namespace limelight::cuda

// ---- The Device::cuda memory of tensors and arenas.
namespace limelight::cuda {

namespace {

class TensorAllocator final : public DeviceAllocator {
 public:
  void* allocate(std::size_t bytes) override { return blocks_->allocate(bytes, thread_context().stream()); }

  void deallocate(void* p) noexcept override {
    if (!p) return;
    try {
      // Ordered after this thread's queued work on the block. A thread with
      // no Context (one freeing during its exit) queued none: the device's
      // queues drain first instead.
      Context* ctx = thread_context_if_any();
      if (!ctx && cudaDeviceSynchronize() != cudaSuccess)
        std::fprintf(stderr, "limelight: cuda: queued work failed before a tensor's memory was freed\n");
      blocks_->deallocate(p, ctx ? ctx->stream() : nullptr);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "limelight: cuda tensor memory: %s\n", e.what());
    }
  }

  void zero(void* p, std::size_t bytes) override {
    if (bytes == 0) return;
    Context& ctx = thread_context();
    CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, ctx.stream()));
  }

  // The calling thread's stream: its kernels and copies. (Each thread queues
  // on a stream of its own, and nothing orders one stream after another.)
  void synchronize() override { thread_context().synchronize(); }

  void copy(void* dst, Device dst_device, const void* src, Device src_device, std::size_t bytes) override {
    if (bytes == 0) return;
    if (dst_device == Device::cpu && src_device == Device::cpu) {
      std::memcpy(dst, src, bytes);
      return;
    }
    Context& ctx = thread_context();
    if (dst_device == Device::cpu) {
      // The host reads the result now: report a fault of the work before it.
      ctx.read_back(src, dst, bytes);
    } else if (src_device == Device::cpu) {
      if (bytes <= kernels::small_write_bytes) kernels::write_small(dst, src, bytes, ctx.stream());
      else ctx.staging().upload(src, bytes, dst, ctx.stream());
    } else {
      CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, ctx.stream()));
    }
  }

 private:
  // Shared, like a DeviceBuffer's: never destroyed before the process ends.
  std::shared_ptr<CachingAllocator> blocks_ =
      std::make_shared<CachingAllocator>(CachingAllocator::Sharing::across_streams);
};

}  // namespace

void install_allocator() {
  // Never destroyed: tensors of static lifetime may be freed during exit.
  static TensorAllocator* const allocator = [] {
    auto* a = new TensorAllocator;
    register_allocator(Device::cuda, a);
    return a;
  }();
  (void)allocator;
}

}  // namespace limelight::cuda
