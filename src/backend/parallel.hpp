// Threads on the CPU backend. limelight parallelises over the batch itself,
// in coarse chunks (one per thread, one parallel region per op), and runs
// OpenBLAS single-threaded inside them: per-step fork/join inside OpenBLAS
// and fine-grained loops fought over two cores and cost more than they gave.
// Work split by chunks is combined in chunk order, so results do not depend
// on scheduling.
#pragma once

#include <cstdint>

namespace limelight::cpu {

// Threads used by parallel_chunks (default: the hardware's).
int num_threads();
// Sets the thread count (n >= 1) and puts OpenBLAS in single-threaded mode.
void set_num_threads(int n);
// Called once by every entry point that runs ops: applies the default.
void ensure_threading();

// Splits [0, n) into at most num_threads() contiguous chunks and runs
// fn(chunk, begin, end) for each, in parallel when n >= min_parallel.
// Returns the number of chunks used. chunks > 0 forces that many (a backward
// pass repeating its forward's split).
template <class Fn>
int parallel_chunks(std::int64_t n, std::int64_t min_parallel, Fn&& fn, int chunks = 0);

}  // namespace limelight::cpu

#include <algorithm>

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#endif

namespace limelight::cpu {

// Flushes denormal floats to zero in this thread while alive, restoring the
// caller's mode after. As a model trains, activations and gradients reach
// denormal magnitudes (below 1.2e-38, far under float32's precision for these
// values), and arithmetic on them is many times slower on x86: a CNN's epoch
// time tripled over a few epochs without this.
class FlushDenormals {
 public:
#if defined(__SSE__) || defined(__x86_64__)
  FlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040u); }  // FTZ | DAZ
  ~FlushDenormals() { _mm_setcsr(saved_); }

 private:
  unsigned saved_;
#endif
};

// Which of `parts` owners an item id belongs to (id modulo parts), for
// scattering into a table without two threads touching one row. A mask when
// parts is a power of two: the modulo's division was a fifth of a pooling step.
class IdPartition {
 public:
  explicit IdPartition(int parts) : parts_(parts), mask_((parts & (parts - 1)) == 0 ? parts - 1 : -1) {}
  int owner(std::int32_t id) const { return mask_ >= 0 ? (id & mask_) : id % parts_; }
  int parts() const { return parts_; }

 private:
  int parts_;
  int mask_;
};

template <class Fn>
int parallel_chunks(std::int64_t n, std::int64_t min_parallel, Fn&& fn, int chunks) {
  const int threads = chunks > 0 ? chunks
                      : n >= min_parallel ? static_cast<int>(std::min<std::int64_t>(num_threads(), n))
                                          : 1;
  if (threads <= 1) {
    FlushDenormals flush;
    fn(0, std::int64_t{0}, n);
    return 1;
  }
#pragma omp parallel for num_threads(threads) schedule(static, 1)
  for (int c = 0; c < threads; ++c) {
    FlushDenormals flush;
    const std::int64_t begin = n * c / threads, end = n * (c + 1) / threads;
    fn(c, begin, end);
  }
  return threads;
}

}  // namespace limelight::cpu
