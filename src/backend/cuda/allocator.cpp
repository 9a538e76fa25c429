// The caching device allocator: see allocator.hpp.
#include "backend/cuda/allocator.hpp"

#include <bit>
#include <cstdio>
#include <mutex>

#include "backend/cuda/check.hpp"
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
    for (void* p : blocks)
      if (cudaFree(p) != cudaSuccess) std::fprintf(stderr, "limelight: cudaFree of a cached block failed\n");
  for (auto& [p, size] : live_)
    if (cudaFree(p) != cudaSuccess) std::fprintf(stderr, "limelight: cudaFree of a live block failed\n");
}

void* CachingAllocator::allocate(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  const std::size_t size = size_class(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  void* p = nullptr;
  auto it = free_.find(size);
  if (it != free_.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
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

void CachingAllocator::deallocate(void* ptr) {
  if (!ptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = live_.find(ptr);
  LL_CHECK(it != live_.end(), "CachingAllocator: deallocate of ", ptr, ", a pointer it did not allocate");
  const std::size_t size = it->second;
  live_.erase(it);
  free_[size].push_back(ptr);
  stats_.bytes_in_use -= size;
  stats_.bytes_cached += size;
}

void CachingAllocator::release_cached_locked() {
  for (auto& [size, blocks] : free_) {
    for (void* p : blocks) {
      CUDA_CHECK(cudaFree(p));
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

namespace {

// Device::cuda memory for limelight's Tensor and Arena. The backend's work
// runs on each Context's own non-blocking stream, which the runtime's
// synchronous calls do not order against: zero and copy wait for the whole
// device before and after, so that they never overlap a kernel.
class TensorAllocator final : public DeviceAllocator {
 public:
  void* allocate(std::size_t bytes) override { return cache_.allocate(bytes); }
  void deallocate(void* p) noexcept override {
    try {
      cache_.deallocate(p);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "limelight: device tensor: %s\n", e.what());
    }
  }
  void zero(void* p, std::size_t bytes) override {
    if (!bytes) return;
    CUDA_CHECK(cudaDeviceSynchronize());
    CUDA_CHECK(cudaMemset(p, 0, bytes));
    CUDA_CHECK(cudaDeviceSynchronize());
  }
  void copy(void* dst, Device dst_device, const void* src, Device src_device, std::size_t bytes) override {
    if (!bytes) return;
    const cudaMemcpyKind kind = src_device == Device::cpu
                                    ? (dst_device == Device::cpu ? cudaMemcpyHostToHost : cudaMemcpyHostToDevice)
                                    : (dst_device == Device::cpu ? cudaMemcpyDeviceToHost : cudaMemcpyDeviceToDevice);
    CUDA_CHECK(cudaDeviceSynchronize());
    CUDA_CHECK(cudaMemcpy(dst, src, bytes, kind));
    CUDA_CHECK(cudaDeviceSynchronize());
  }

 private:
  CachingAllocator cache_;
};

}  // namespace

void install_allocator() {
  static std::once_flag once;
  // Never destroyed: tensors may be freed during static destruction.
  std::call_once(once, [] { register_allocator(Device::cuda, new TensorAllocator); });
}

}  // namespace limelight::cuda
