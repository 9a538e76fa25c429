// The emulator's streams (streams.cpp): each stream runs its queued work in
// order on a worker thread of its own, apart from the host threads that
// queue it, as a GPU runs a stream's work apart from the CPU. Work on two
// streams runs concurrently unless an event or a host synchronisation
// orders it, so a missing wait is a wrong answer, or a report under
// ThreadSanitizer, as it would be a wrong answer on a device.
//
// The null stream is the legacy default stream: work queued there waits for
// the work queued before it on every blocking stream (those created without
// cudaStreamNonBlocking), and work queued on a blocking stream waits for the
// null stream's, as CUDA specifies.
//
// The calling thread's counts are what a profiler would show of the host's
// side: host synchronisations (a call that waits on the host for queued
// device work: stream, event and device synchronisation, a copy to pageable
// host memory, cudaFree) and the kernels it queued.
#pragma once

#include <cstdint>
#include <functional>

struct CUstream_st;

namespace cuda_emulator {

// Queues `work` on `stream` (null: the legacy default stream) behind what is
// queued there; false, and nothing queued, for a stream that is not live.
bool enqueue(CUstream_st* stream, std::function<void()> work);

// Waits on the host until the work queued so far on `stream` has run
// (counted as a host synchronisation).
void wait_for_stream(CUstream_st* stream);

// Waits on the host until the work queued so far on every stream has run
// (counted as a host synchronisation).
void wait_for_device();

struct HostCounts {
  std::uint64_t synchronisations = 0;  // host waits for queued device work
  std::uint64_t launches = 0;          // kernels queued
};
// The calling host thread's counts since it started.
HostCounts host_counts();
void count_launch();

}  // namespace cuda_emulator
