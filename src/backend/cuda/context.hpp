// Context: everything the GPU primitives run with. One stream (all work of
// the backend is ordered on it), a cuBLAS handle bound to that stream with
// TF32 off, the caching device allocator, pinned staging for host copies and
// a device flag in which kernels report bad input. Constructing one on a
// machine without a usable device throws an Error saying so; check
// cuda_available() first to choose the CPU path instead.
//
// A Context serves one thread at a time: its stream, staging slots and fault
// flag belong to one sequence of work, and a fault raised by one thread's
// kernel must not be reported to another. The thread that made it may use
// it; a ContextPool lease hands it to another thread. Use from any other
// thread is an Error. Threads that serve at once (the const calls of a
// model, docs/reliability.md) each lease their own Context from a pool.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "backend/cuda/allocator.hpp"
#include "backend/cuda/pinned.hpp"

namespace limelight::cuda {

class Context {
 public:
  explicit Context(int device = 0, std::size_t staging_chunk_bytes = PinnedStaging::default_chunk_bytes);
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  ~Context();  // never throws

  int device() const { return device_; }
  int multiprocessors() const { return multiprocessors_; }
  cudaStream_t stream() const {
    check_thread();
    return stream_;
  }
  cublasHandle_t blas() const {
    check_thread();
    return blas_;
  }
  CachingAllocator& allocator() { return *allocator_; }
  PinnedStaging& staging() {
    check_thread();
    return staging_;
  }
  int* fault_flag() const {
    check_thread();
    return fault_;
  }

  // Device memory that stays valid after this Context is gone.
  DeviceBuffer buffer(std::size_t bytes) { return DeviceBuffer(allocator_, bytes); }
  // A buffer holding a copy of host memory (through pinned staging).
  template <class T>
  DeviceBuffer upload(const T* host, std::size_t count) {
    check_thread();
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
    check_thread();
    staging_.download(device, count * sizeof(T), host, stream_);
  }
  template <class T>
  std::vector<T> download(const DeviceBuffer& b, std::size_t count) {
    std::vector<T> out(count);
    download(b.data(), out.data(), count);
    return out;
  }

  // Waits for all queued work; Error when a kernel flagged bad input (the
  // message names the kernel family) or failed. One host synchronisation.
  void synchronize();

  // Copies `bytes` of device memory to `host` behind the queued work and
  // waits for both, as synchronize() does: one host synchronisation for up
  // to read_back_bytes, one per staging chunk beyond.
  void read_back(const void* device, void* host, std::size_t bytes);
  static constexpr std::size_t read_back_bytes = 64 * 1024;

 private:
  friend class ContextPool;
  // Error unless the calling thread is the one this Context serves.
  void check_thread() const;
  int device_ = 0;
  int multiprocessors_ = 1;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  int* fault_ = nullptr;
  // Pinned host memory a read-back lands in: the fault flag, then the data.
  unsigned char* read_back_ = nullptr;
  std::shared_ptr<CachingAllocator> allocator_ = std::make_shared<CachingAllocator>();
  PinnedStaging staging_;
  std::atomic<std::thread::id> user_;
};

// Contexts for threads that work at once: lease() hands out a free Context,
// or makes one, for the lease's lifetime; a returned Context (with its
// cached device memory and pinned slots) waits for the next lease. Each
// Context keeps its own allocator, so memory one stream released is never
// handed to another stream while the first may still use it. Thread-safe.
class ContextPool {
 public:
  explicit ContextPool(int device = 0) : device_(device) {}
  ContextPool(const ContextPool&) = delete;
  ContextPool& operator=(const ContextPool&) = delete;

  class Lease {
   public:
    Lease(Lease&& other) noexcept : pool_(other.pool_), context_(std::move(other.context_)) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    Context& operator*() const { return *context_; }
    Context* operator->() const { return context_.get(); }

   private:
    friend class ContextPool;
    Lease(ContextPool& pool, std::unique_ptr<Context> context) : pool_(&pool), context_(std::move(context)) {}
    ContextPool* pool_;
    std::unique_ptr<Context> context_;
  };

  // The calling thread's Context until the lease ends. The pool must outlive
  // its leases.
  Lease lease();
  std::size_t contexts_made() const;

 private:
  int device_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Context>> idle_;
  std::size_t made_ = 0;
};

// The calling thread's Context on device 0, leased from a process-wide pool
// the first time the thread asks and returned to it when the thread ends.
// The backend's primitives and the tensor allocator run on it: each host
// thread (the trainer, every serving thread) queues its work on its own
// stream and sees only its own kernels' faults.
Context& thread_context();
// The calling thread's Context if it has one (never makes one): null on a
// thread that never asked, or whose lease ended with it.
Context* thread_context_if_any();

}  // namespace limelight::cuda
