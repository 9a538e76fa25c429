// Helpers of the GPU tests: a TEST_CASE that doctest reports as skipped when
// no device is usable, random data, upload/download, and the float32
// comparison with a labelled report of the first mismatches.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "backend/cuda/allocator.hpp"
#include "backend/cuda/context.hpp"
#include "backend/cuda/device.hpp"

// Skipped (not failed) without a device: doctest evaluates the decorator at
// registration, before main, and counts the case as skipped.
#define GPU_TEST_CASE(name) TEST_CASE(name * doctest::skip(!::limelight::cuda::cuda_available()))

namespace gpu_test {

// True in the ThreadSanitizer pass (scripts/test_gpu_emulated.sh --tsan):
// the two top-k cases shrink their catalogues there (one merge pass instead
// of two), the slowest cases under the sanitizer by far; every other case
// runs as in the plain pass.
inline bool reduced() {
  static const bool r = [] {
    const char* v = std::getenv("LIMELIGHT_GPU_TEST_REDUCED");
    return v && *v && std::string(v) != "0";
  }();
  return r;
}

// Device::cuda tensors and arenas (the primitives' scratch and payloads)
// need the backend's allocator registered; idempotent.
inline void install_device_allocator() { limelight::cuda::install_allocator(); }

inline std::vector<float> random_floats(std::size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

inline std::vector<std::int32_t> random_ids(std::size_t n, std::int32_t V, std::mt19937& rng) {
  std::uniform_int_distribution<std::int32_t> dist(0, V - 1);
  std::vector<std::int32_t> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

template <class T>
std::vector<T> download(limelight::cuda::Context& ctx, const limelight::cuda::DeviceBuffer& b, std::size_t n) {
  return ctx.download<T>(b, n);
}

// |got - want| <= atol + rtol |want| everywhere; reports the first five
// mismatches and the largest difference under `label`.
inline void check_close(const std::string& label, const std::vector<float>& got, const std::vector<float>& want,
                        double rtol = 1e-5, double atol = 1e-6) {
  REQUIRE_MESSAGE(got.size() == want.size(), label, ": ", got.size(), " values, expected ", want.size());
  std::ostringstream report;
  int bad = 0;
  double worst = 0.0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double diff = std::fabs(static_cast<double>(got[i]) - want[i]);
    const bool finite = std::isfinite(got[i]) == std::isfinite(want[i]);
    if (diff > worst) worst = diff;
    if (!finite || diff > atol + rtol * std::fabs(want[i])) {
      if (bad < 5) report << "  [" << i << "] got " << got[i] << " want " << want[i] << "\n";
      ++bad;
    }
  }
  INFO(label, ": ", bad, " of ", got.size(), " out of tolerance, max |diff| ", worst, "\n", report.str());
  CHECK(bad == 0);
}

}  // namespace gpu_test
