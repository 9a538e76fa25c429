// Builds the messages of GPU errors. Out of memory and a missing device or
// driver get a sentence saying so before the library's own words, because
// those are the failures a user can act on.
#include "backend/cuda/check.hpp"

#include <cstring>
#include <sstream>
#include <string>

#include "limelight/error.hpp"

namespace limelight::cuda::detail {

namespace {
const char* hint(const char* status_name) {
  const std::string s = status_name ? status_name : "";
  if (s == "cudaErrorMemoryAllocation" || s == "CUBLAS_STATUS_ALLOC_FAILED") return "out of device memory; ";
  if (s == "cudaErrorNoDevice" || s == "cudaErrorInsufficientDriver" || s == "cudaErrorInvalidDevice")
    return "no usable CUDA device; ";
  if (s == "cudaErrorLaunchFailure" || s == "cudaErrorIllegalAddress") return "a kernel failed on the device; ";
  return "";
}
}  // namespace

void throw_status(const char* library, const char* status_name, const char* description, const char* statement,
                  const char* file, int line) {
  std::ostringstream out;
  out << library << " error in `" << statement << "` at " << file << ":" << line << ": " << hint(status_name)
      << (description ? description : "unknown error") << " (" << (status_name ? status_name : "?") << ")";
  throw Error(out.str());
}

void check_before_launch(const char* kernel, const char* file, int line) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess) {
    const std::string statement = std::string("work queued before the launch of kernel ") + kernel;
    throw_status("CUDA", cudaGetErrorName(status), cudaGetErrorString(status), statement.c_str(), file, line);
  }
}

void check_launch(const char* kernel, const char* file, int line) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess) {
    const std::string statement = std::string("launch of kernel ") + kernel;
    throw_status("CUDA", cudaGetErrorName(status), cudaGetErrorString(status), statement.c_str(), file, line);
  }
}

}  // namespace limelight::cuda::detail
