// Thread-count state of the CPU backend.
#include "backend/cpu/parallel.hpp"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <omp.h>

namespace limelight::cpu {

namespace {
std::atomic<int> configured{0};
std::once_flag blas_once;

void ensure_blas_single_threaded() {
  std::call_once(blas_once, [] { openblas_set_num_threads(1); });
}

}  // namespace

int num_threads() {
  ensure_blas_single_threaded();
  const int n = configured.load(std::memory_order_relaxed);
  if (n > 0) return n;
  // OpenMP's own setting (OMP_NUM_THREADS, else the hardware's).
  return std::clamp(omp_get_max_threads(), 1, 256);
}

void set_num_threads(int n) {
  ensure_blas_single_threaded();
  configured.store(n > 0 ? std::min(n, 256) : 0, std::memory_order_relaxed);  // the ops keep per-chunk partials for up to 256
}

}  // namespace limelight::cpu
