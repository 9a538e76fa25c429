// The emulator's streams and events: see include/cuda_emulator/streams.hpp.
//
// A stream is a FIFO of work and one worker thread that runs it. The only
// happens-before between a stream's work and anything else is what CUDA
// promises: the host's queueing of an item before it runs, an item before
// the next on the same stream, an event's record before a wait on it (on a
// stream, or on the host), and a stream's drained work before a host
// synchronisation returns. Nothing here is shared between the workers of
// two streams except through those, so ThreadSanitizer sees two streams'
// unordered accesses to one buffer as the race they are.
#include <cuda_runtime.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "cuda_emulator/streams.hpp"

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
extern "C" void AnnotateIgnoreSyncBegin(const char* file, int line);
extern "C" void AnnotateIgnoreSyncEnd(const char* file, int line);
extern "C" void AnnotateIgnoreReadsBegin(const char* file, int line);
extern "C" void AnnotateIgnoreReadsEnd(const char* file, int line);
extern "C" void AnnotateIgnoreWritesBegin(const char* file, int line);
extern "C" void AnnotateIgnoreWritesEnd(const char* file, int line);
#endif

namespace {

#if defined(__SANITIZE_THREAD__)
// The emulator's own bookkeeping, hidden from ThreadSanitizer: its locks
// order nothing (the only order TSan sees is what the Records say), and the
// data they protect is not the program's.
struct IgnoreSync {
  IgnoreSync() {
    AnnotateIgnoreSyncBegin(__FILE__, __LINE__);
    AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
    AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
  }
  ~IgnoreSync() {
    AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
    AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
    AnnotateIgnoreSyncEnd(__FILE__, __LINE__);
  }
};
void tsan_acquire(void* sync) { __tsan_acquire(sync); }
void tsan_release(void* sync) { __tsan_release(sync); }
#else
struct IgnoreSync {
  IgnoreSync() {}  // user-provided: a scope guard, not an unused variable
  ~IgnoreSync() {}
};
void tsan_acquire(void*) {}
void tsan_release(void*) {}
#endif

}  // namespace

namespace {

// A point in a stream: done once the stream has run everything queued up to
// it. Its address is the ThreadSanitizer sync object that the host releases
// when it queues the item behind it, and the worker when it has run that
// item; a wait for it acquires it, so that the wait is ordered after the
// work queued up to this point and nothing later. Atomics, relaxed: no order
// of their own (see IgnoreSync).
struct Record {
  std::atomic<bool> done{false};
  std::atomic<std::int64_t> when_ns{0};  // steady clock, when the stream reached it
};

// Where records complete and are waited for: a mutex and condition variable
// hidden from ThreadSanitizer, which would otherwise order a waiter after
// whatever the other threads that took the mutex had done.
class Completion {
 public:
  void complete(Record& record) {
    record.when_ns.store(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count(),
        std::memory_order_relaxed);
    tsan_release(&record);
    IgnoreSync hidden;
    std::lock_guard<std::mutex> lock(mutex_);
    record.done.store(true, std::memory_order_relaxed);
    completed_.notify_all();
  }

  void wait_for(Record& record) {
    {
      IgnoreSync hidden;
      std::unique_lock<std::mutex> lock(mutex_);
      completed_.wait(lock, [&] { return record.done.load(std::memory_order_relaxed); });
    }
    tsan_acquire(&record);
  }

 private:
  std::mutex mutex_;
  std::condition_variable completed_;
};

// A stream's queue and its worker. Shared by the handle, the worker and any
// wait queued on another stream, so that a destroyed stream lives until its
// work is done and nobody waits on it.
class Queue {
 public:
  explicit Queue(bool synchronises_with_null) : blocking(synchronises_with_null) {}

  static std::shared_ptr<Queue> start(bool synchronises_with_null) {
    auto queue = std::make_shared<Queue>(synchronises_with_null);
    std::thread([queue] { queue->run(); }).detach();
    return queue;
  }

  // Appends `work`; returns the point just after it.
  std::shared_ptr<Record> push(std::function<void()> work) {
    auto after = std::make_shared<Record>();
    tsan_release(after.get());  // what the host did before queueing it
    IgnoreSync hidden;
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(Item{std::move(work), after});
    last_ = after;
    changed_.notify_all();
    return after;
  }

  // The point after the last item queued so far (null: nothing ever queued).
  std::shared_ptr<Record> last() {
    IgnoreSync hidden;
    std::lock_guard<std::mutex> lock(mutex_);
    return last_;
  }

  void wait_for(const std::shared_ptr<Record>& point) {
    if (point) completion_.wait_for(*point);
  }

  // No more work: the worker drains the queue and ends, as cudaStreamDestroy
  // returns at once and releases the stream when its work is done.
  void close() {
    IgnoreSync hidden;
    std::lock_guard<std::mutex> lock(mutex_);
    closing_ = true;
    changed_.notify_all();
  }

  const bool blocking;  // ordered with the legacy default stream

 private:
  struct Item {
    std::function<void()> work;
    std::shared_ptr<Record> after;
  };

  void run() {
    for (;;) {
      Item item;
      {
        IgnoreSync hidden;
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [&] { return !queue_.empty() || closing_; });
        if (queue_.empty()) return;
        item = std::move(queue_.front());
        queue_.pop_front();
      }
      tsan_acquire(item.after.get());  // the host's view when it queued the item
      item.work();
      item.work = nullptr;  // what it captured goes before the point completes
      completion_.complete(*item.after);
    }
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Item> queue_;
  std::shared_ptr<Record> last_;
  bool closing_ = false;
  Completion completion_;
};

// An event: its most recent record (null: never recorded, which counts as
// complete), set and read by the host threads that record and wait.
struct EventState {
  std::mutex host_mutex;
  std::shared_ptr<Record> latest;
  Completion completion;

  std::shared_ptr<Record> latest_record() {
    std::lock_guard<std::mutex> lock(host_mutex);
    return latest;
  }
};

}  // namespace

struct CUstream_st {
  std::shared_ptr<Queue> queue;
};

// The state outlives the handle while a record or a wait on it is queued.
struct CUevent_st {
  unsigned flags;
  std::shared_ptr<EventState> state;
};

namespace {

struct Registry {
  std::mutex mutex;
  std::set<CUstream_st*> streams;  // live, created by cudaStreamCreate*
  std::vector<std::weak_ptr<Queue>> destroyed;  // whose work may still be running
  std::set<CUevent_st*> events;
};

Registry& registry() {
  static Registry r;
  return r;
}

// The legacy default stream: started on first use, never destroyed.
const std::shared_ptr<Queue>& null_stream() {
  static const auto* const queue = new std::shared_ptr<Queue>(Queue::start(true));
  return *queue;
}

struct Counts {
  std::uint64_t synchronisations = 0, launches = 0;
};
thread_local Counts counts;

bool live_stream_locked(CUstream_st* stream) { return !stream || registry().streams.count(stream) != 0; }

bool live_event(CUevent_st* event) {
  std::lock_guard<std::mutex> lock(registry().mutex);
  return event && registry().events.count(event) != 0;
}

// Points of streams to wait for, each with its stream.
using Positions = std::vector<std::pair<std::shared_ptr<Queue>, std::shared_ptr<Record>>>;

}  // namespace

namespace cuda_emulator {

bool is_live_stream(cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(registry().mutex);
  return live_stream_locked(stream);
}

bool enqueue(CUstream_st* stream, std::function<void()> work) {
  // Where the legacy stream's implicit ordering applies: the points to wait
  // for, taken when the work is queued.
  Positions before;
  std::shared_ptr<Queue> target;
  {
    std::lock_guard<std::mutex> lock(registry().mutex);
    if (!live_stream_locked(stream)) return false;
    if (!stream) {
      target = null_stream();
      for (CUstream_st* s : registry().streams)
        if (s->queue->blocking) before.emplace_back(s->queue, s->queue->last());
    } else {
      target = stream->queue;
      if (target->blocking) before.emplace_back(null_stream(), null_stream()->last());
    }
  }
  if (before.empty()) {
    target->push(std::move(work));
  } else {
    target->push([before = std::move(before), work = std::move(work)] {
      for (const auto& [queue, point] : before) queue->wait_for(point);
      work();
    });
  }
  return true;
}

void wait_for_stream(CUstream_st* stream) {
  ++counts.synchronisations;
  std::shared_ptr<Queue> queue;
  {
    std::lock_guard<std::mutex> lock(registry().mutex);
    queue = stream ? stream->queue : null_stream();
  }
  queue->wait_for(queue->last());
}

void wait_for_device() {
  ++counts.synchronisations;
  Positions positions;
  {
    std::lock_guard<std::mutex> lock(registry().mutex);
    for (CUstream_st* s : registry().streams) positions.emplace_back(s->queue, s->queue->last());
    positions.emplace_back(null_stream(), null_stream()->last());
    auto& destroyed = registry().destroyed;
    std::erase_if(destroyed, [](const std::weak_ptr<Queue>& q) { return q.expired(); });
    for (const auto& weak : destroyed)
      if (auto queue = weak.lock()) positions.emplace_back(queue, queue->last());
  }
  for (const auto& [queue, point] : positions) queue->wait_for(point);
}

HostCounts host_counts() { return HostCounts{counts.synchronisations, counts.launches}; }

void count_launch() { ++counts.launches; }

}  // namespace cuda_emulator

cudaError_t cudaDeviceSynchronize() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess) return cudaErrorNoDevice;
  cuda_emulator::wait_for_device();
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags) {
  if (!stream || (flags & ~unsigned{cudaStreamNonBlocking})) return cuda_emulator::record_error(cudaErrorInvalidValue);
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess) return cudaErrorNoDevice;
  *stream = new CUstream_st{Queue::start(!(flags & cudaStreamNonBlocking))};
  std::lock_guard<std::mutex> lock(registry().mutex);
  registry().streams.insert(*stream);
  return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  {
    std::lock_guard<std::mutex> lock(registry().mutex);
    if (!stream || registry().streams.erase(stream) == 0)
      return cuda_emulator::record_error(cudaErrorInvalidResourceHandle);
    registry().destroyed.push_back(stream->queue);  // cudaDeviceSynchronize and cudaFree still wait for it
  }
  stream->queue->close();
  delete stream;
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (!cuda_emulator::is_live_stream(stream)) return cuda_emulator::record_error(cudaErrorInvalidResourceHandle);
  cuda_emulator::wait_for_stream(stream);
  return cudaSuccess;
}

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned flags) {
  if (flags != 0) return cuda_emulator::record_error(cudaErrorInvalidValue);
  if (!live_event(event)) return cuda_emulator::record_error(cudaErrorInvalidResourceHandle);
  std::shared_ptr<EventState> state = event->state;
  std::shared_ptr<Record> record = state->latest_record();
  // An event never recorded is complete: the wait is a no-op, as in CUDA.
  if (!record) return cudaSuccess;
  if (!cuda_emulator::enqueue(stream, [state, record] { state->completion.wait_for(*record); }))
    return cuda_emulator::record_error(cudaErrorInvalidResourceHandle);
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, cudaEventDefault); }

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags) {
  if (!event || (flags & ~unsigned{cudaEventBlockingSync | cudaEventDisableTiming}))
    return cuda_emulator::record_error(cudaErrorInvalidValue);
  *event = new CUevent_st{flags, std::make_shared<EventState>()};
  std::lock_guard<std::mutex> lock(registry().mutex);
  registry().events.insert(*event);
  return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  {
    std::lock_guard<std::mutex> lock(registry().mutex);
    if (!event || registry().events.erase(event) == 0)
      return cuda_emulator::record_error(cudaErrorInvalidResourceHandle);
  }
  delete event;  // a record or wait still queued keeps the state
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (!live_event(event)) return cuda_emulator::record_error(cudaErrorInvalidResourceHandle);
  if (!cuda_emulator::is_live_stream(stream)) return cuda_emulator::record_error(cudaErrorInvalidResourceHandle);
  std::shared_ptr<EventState> state = event->state;
  auto record = std::make_shared<Record>();
  {
    std::lock_guard<std::mutex> lock(state->host_mutex);
    state->latest = record;
  }
  cuda_emulator::enqueue(stream, [state, record] { state->completion.complete(*record); });
  return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (!live_event(event)) return cuda_emulator::record_error(cudaErrorInvalidResourceHandle);
  ++counts.synchronisations;
  if (const std::shared_ptr<Record> record = event->state->latest_record()) event->state->completion.wait_for(*record);
  return cudaSuccess;
}

cudaError_t cudaEventQuery(cudaEvent_t event) {
  if (!live_event(event)) return cuda_emulator::record_error(cudaErrorInvalidResourceHandle);
  const std::shared_ptr<Record> record = event->state->latest_record();
  if (!record) return cudaSuccess;
  if (!record->done.load(std::memory_order_relaxed)) return cudaErrorNotReady;
  tsan_acquire(record.get());  // the host may now read what the work before it wrote
  return cudaSuccess;
}

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!ms) return cuda_emulator::record_error(cudaErrorInvalidValue);
  if (!live_event(start) || !live_event(end) || (start->flags & cudaEventDisableTiming) ||
      (end->flags & cudaEventDisableTiming))
    return cuda_emulator::record_error(cudaErrorInvalidResourceHandle);
  const std::shared_ptr<Record> a = start->state->latest_record(), b = end->state->latest_record();
  if (!a || !b) return cuda_emulator::record_error(cudaErrorInvalidResourceHandle);
  if (!a->done.load(std::memory_order_relaxed) || !b->done.load(std::memory_order_relaxed)) return cudaErrorNotReady;
  const std::int64_t ns = b->when_ns.load(std::memory_order_relaxed) - a->when_ns.load(std::memory_order_relaxed);
  *ms = static_cast<float>(static_cast<double>(ns) / 1e6);
  return cudaSuccess;
}
