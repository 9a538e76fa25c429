// Device discovery: see device.hpp.
#include "backend/cuda/device.hpp"

#include "backend/cuda/check.hpp"
#include "limelight/error.hpp"

namespace limelight::cuda {

namespace {
int count_devices() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear it so later runtime calls do not report it again
    return 0;
  }
  return count;
}
}  // namespace

int device_count() {
  static const int count = count_devices();
  return count;
}

bool cuda_available() { return device_count() > 0; }

DeviceInfo device_info(int device) {
  LL_CHECK(device >= 0 && device < device_count(), "device_info: no CUDA device ", device, " (", device_count(),
           " available)");
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  DeviceInfo info;
  info.name = prop.name;
  info.major = prop.major;
  info.minor = prop.minor;
  info.multiprocessors = prop.multiProcessorCount;
  info.total_memory = prop.totalGlobalMem;
  CUDA_CHECK(cudaRuntimeGetVersion(&info.runtime_version));
  CUDA_CHECK(cudaDriverGetVersion(&info.driver_version));
  info.cudnn_version = static_cast<int>(cudnnGetVersion());
  int cublas_version = 0;
  CUBLAS_CHECK(cublasGetProperty(MAJOR_VERSION, &cublas_version));
  int part = 0;
  CUBLAS_CHECK(cublasGetProperty(MINOR_VERSION, &part));
  info.cublas_version = cublas_version * 100 + part;
  return info;
}

}  // namespace limelight::cuda
