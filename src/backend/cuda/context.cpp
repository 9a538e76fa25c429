// Context: see context.hpp.
#include "backend/cuda/context.hpp"

#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

#include "backend/cuda/check.hpp"
#include "backend/cuda/device.hpp"
#include "limelight/error.hpp"

namespace limelight::cuda {

namespace {
// Where a read-back's data starts in the pinned buffer, after the fault flag.
constexpr std::size_t read_back_offset = 256;
}  // namespace

Context::Context(int device, std::size_t staging_chunk_bytes)
    : device_(device), staging_(staging_chunk_bytes), user_(std::this_thread::get_id()) {
  LL_CHECK(cuda_available(), "cuda::Context: no usable CUDA device (no GPU, or no driver); use the CPU backend");
  LL_CHECK(device >= 0 && device < device_count(), "cuda::Context: no CUDA device ", device, " (", device_count(),
           " available)");
  try {
    CUDA_CHECK(cudaSetDevice(device));
    cudaDeviceProp prop{};
    CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    multiprocessors_ = prop.multiProcessorCount > 0 ? prop.multiProcessorCount : 1;
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    CUBLAS_CHECK(cublasCreate(&blas_));
    CUBLAS_CHECK(cublasSetStream(blas_, stream_));
    // CUBLAS_DEFAULT_MATH keeps float GEMMs in float32 (no TF32); parity with
    // the CPU backend depends on it.
    CUBLAS_CHECK(cublasSetMathMode(blas_, CUBLAS_DEFAULT_MATH));
    CUDA_CHECK(cudaMalloc(&fault_, sizeof(int)));
    CUDA_CHECK(cudaMemsetAsync(fault_, 0, sizeof(int), stream_));
    CUDA_CHECK(cudaHostAlloc(&read_back_, read_back_offset + read_back_bytes, cudaHostAllocDefault));
  } catch (...) {
    if (read_back_) cudaFreeHost(read_back_);
    if (fault_) cudaFree(fault_);
    if (blas_) cublasDestroy(blas_);
    if (stream_) cudaStreamDestroy(stream_);
    throw;
  }
}

Context::~Context() {
  if (stream_ && cudaStreamSynchronize(stream_) != cudaSuccess)
    std::fprintf(stderr, "limelight: cuda::Context: pending work failed at destruction\n");
  if (read_back_) cudaFreeHost(read_back_);
  if (fault_) cudaFree(fault_);
  if (blas_) cublasDestroy(blas_);
  if (stream_) cudaStreamDestroy(stream_);
}

void Context::check_thread() const {
  LL_CHECK(user_.load(std::memory_order_relaxed) == std::this_thread::get_id(),
           "cuda::Context: used by a thread it does not serve; a Context serves the thread that made it or "
           "the holder of its ContextPool lease (one Context per thread at a time)");
}

void Context::synchronize() {
  check_thread();
  // The flag comes back through pinned memory behind the queued work: the
  // stream's one wait covers both.
  CUDA_CHECK(cudaMemcpyAsync(read_back_, fault_, sizeof(int), cudaMemcpyDeviceToHost, stream_));
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  staging_.drained();
  int fault = 0;
  std::memcpy(&fault, read_back_, sizeof fault);
  if (fault == 0) return;
  CUDA_CHECK(cudaMemsetAsync(fault_, 0, sizeof(int), stream_));
  std::string kernels;
  const std::pair<int, const char*> names[] = {
      {fault_gather_id, "gather_rows"},         {fault_scatter_id, "scatter_add_rows"},
      {fault_sparse_grad_id, "sparse_rows_sorted"}, {fault_adam_row, "adam_lazy"},
      {fault_loss_id, "sequence_loss"},         {fault_mixture_id, "mixture_score"},
      {fault_exclude_id, "score_top_k exclude"}};
  for (const auto& [bit, name] : names)
    if (fault & bit) kernels += (kernels.empty() ? "" : ", ") + std::string(name);
  ::limelight::detail::fail("cuda: an item id outside the table reached the device in ", kernels,
               "; those entries were skipped and the results are invalid");
}

void Context::read_back(const void* device, void* host, std::size_t bytes) {
  check_thread();
  if (bytes > read_back_bytes) {  // in staging chunks, a wait each
    staging_.download(device, bytes, host, stream_);
    synchronize();
    return;
  }
  if (bytes) CUDA_CHECK(cudaMemcpyAsync(read_back_ + read_back_offset, device, bytes, cudaMemcpyDeviceToHost, stream_));
  synchronize();
  if (bytes) std::memcpy(host, read_back_ + read_back_offset, bytes);
}

ContextPool::Lease ContextPool::lease() {
  std::unique_ptr<Context> context;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!idle_.empty()) {
      context = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (!context) {
    context = std::make_unique<Context>(device_);
    std::lock_guard<std::mutex> lock(mutex_);
    ++made_;
  }
  context->user_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  return Lease(*this, std::move(context));
}

std::size_t ContextPool::contexts_made() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return made_;
}

ContextPool::Lease::~Lease() {
  if (!context_) return;
  context_->user_.store(std::thread::id{}, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(pool_->mutex_);
  pool_->idle_.push_back(std::move(context_));
}

namespace {
// Trivially destructible, so it may be read after the thread's other
// thread_local objects are gone (a tensor freed during thread exit).
thread_local Context* leased = nullptr;

struct ThreadLease {
  explicit ThreadLease(ContextPool::Lease l) : lease(std::move(l)) { leased = &*lease; }
  ~ThreadLease() { leased = nullptr; }
  ContextPool::Lease lease;
};
}  // namespace

Context& thread_context() {
  // Never destroyed: the leases of threads that end during exit return to it.
  static ContextPool* const pool = new ContextPool(0);
  thread_local std::optional<ThreadLease> lease;
  if (!lease) lease.emplace(pool->lease());
  return *leased;
}

Context* thread_context_if_any() { return leased; }

}  // namespace limelight::cuda
