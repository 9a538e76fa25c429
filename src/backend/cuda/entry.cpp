// The C entry points of liblimelight_cuda.so, looked up by the loader of the
// main library (src/backend/cuda_loader.cpp) after it dlopens this library.
// C linkage keeps the names stable; the loader checks the ABI version first.
#include <cstddef>
#include <cstring>
#include <exception>
#include <string>

#include "backend/cuda/cuda_backend.hpp"
#include "backend/cuda/device.hpp"
#include "backend/cuda_entry.hpp"

extern "C" int limelight_cuda_abi_version() { return LIMELIGHT_CUDA_ABI_VERSION; }

extern "C" int limelight_cuda_device_count(char* problem, std::size_t capacity) {
  const int count = limelight::cuda::device_count();
  if (problem && capacity > 0) {
    const std::string reason = limelight::cuda::no_device_reason();
    std::strncpy(problem, reason.c_str(), capacity - 1);
    problem[capacity - 1] = '\0';
  }
  return count;
}

extern "C" int limelight_cuda_install(char* problem, std::size_t capacity) {
  try {
    limelight::cuda::install();
    return 0;
  } catch (const std::exception& e) {
    if (problem && capacity > 0) {
      std::strncpy(problem, e.what(), capacity - 1);
      problem[capacity - 1] = '\0';
    }
    return -1;
  }
}
