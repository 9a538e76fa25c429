// Device discovery. A binary built with CUDA must run its CPU paths on a
// machine without a GPU or driver, so cuda_available() never throws: any
// error of cudaGetDeviceCount (no driver, no device, a driver too old for the
// runtime) means "no GPU".
#pragma once

#include <cstddef>
#include <string>

namespace limelight::cuda {

// True when at least one device can be used. Computed once, thread-safe.
bool cuda_available();
int device_count();  // 0 when cuda_available() is false
// Why there is no device (the runtime's error), or "" when there is one.
std::string no_device_reason();

struct DeviceInfo {
  std::string name;
  int major = 0, minor = 0;  // compute capability
  int multiprocessors = 0;
  std::size_t total_memory = 0;
  int runtime_version = 0, driver_version = 0, cudnn_version = 0, cublas_version = 0;
};
// Error when `device` does not exist.
DeviceInfo device_info(int device = 0);

}  // namespace limelight::cuda
