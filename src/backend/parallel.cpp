// Thread-count state of the CPU backend.
#include "backend/parallel.hpp"

#include <cblas.h>

#include <atomic>
#include <mutex>
#include <thread>

namespace limelight::cpu {

namespace {
std::atomic<int> configured{0};
std::once_flag blas_once;
}  // namespace

int num_threads() {
  const int n = configured.load(std::memory_order_relaxed);
  if (n > 0) return n;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

void ensure_threading() {
  std::call_once(blas_once, [] { openblas_set_num_threads(1); });
}

void set_num_threads(int n) {
  ensure_threading();
  configured.store(n > 0 ? n : 0, std::memory_order_relaxed);
}

}  // namespace limelight::cpu
