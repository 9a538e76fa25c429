// Threads on the CPU backend. limelight parallelises over the batch itself,
// in coarse chunks (one per thread, one parallel region per op), and runs
// OpenBLAS single-threaded inside them: per-step fork/join inside OpenBLAS
// and fine-grained loops fought over two cores and cost more than they gave.
// Work split by chunks is combined in chunk order, so results do not depend
// on scheduling.
#pragma once

#include <cstdint>

namespace limelight::cpu {

// The configured thread count (default: OpenMP's, OMP_NUM_THREADS or the
// hardware's). A primitive reads it once, at entry, and passes it on, so
// that a concurrent change cannot make it size scratch for one count and
// split work for another. The first call puts OpenBLAS in single-threaded mode.
int num_threads();
// Sets the thread count (n >= 1; 0 restores the default).
void set_num_threads(int n);

// How many chunks parallel_chunks makes of [0, n) with `threads` threads.
inline int chunk_count(int threads, std::int64_t n, std::int64_t min_parallel);

// Splits [0, n) into chunks = chunk_count(threads, n, min_parallel)
// contiguous chunks and runs fn(chunk, begin, end) for each, in parallel.
// Returns the number of chunks. A backward pass repeating its forward's
// split passes the forward's chunk count as `threads` with min_parallel 0.
template <class Fn>
int parallel_chunks(int threads, std::int64_t n, std::int64_t min_parallel, Fn&& fn);

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

inline int chunk_count(int threads, std::int64_t n, std::int64_t min_parallel) {
  return n >= min_parallel && n > 1 ? static_cast<int>(std::min<std::int64_t>(std::max(threads, 1), n)) : 1;
}

template <class Fn>
int parallel_chunks(int threads, std::int64_t n, std::int64_t min_parallel, Fn&& fn) {
  const int chunks = chunk_count(threads, n, min_parallel);
  if (chunks <= 1) {
    FlushDenormals flush;
    fn(0, std::int64_t{0}, n);
    return 1;
  }
#pragma omp parallel for num_threads(chunks) schedule(static, 1)
  for (int c = 0; c < chunks; ++c) {
    FlushDenormals flush;
    const std::int64_t begin = n * c / chunks, end = n * (c + 1) / chunks;
    fn(c, begin, end);
  }
  return chunks;
}

}  // namespace limelight::cpu
