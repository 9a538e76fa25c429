// Device discovery: see device.hpp.
#include "backend/cuda/device.hpp"

#include <string>

#include "backend/cuda/check.hpp"
#include "limelight/error.hpp"

namespace limelight::cuda {

namespace {
struct Discovery {
  int count = 0;
  std::string problem;
};

Discovery discover() {
  Discovery d;
  const cudaError_t status = cudaGetDeviceCount(&d.count);
  if (status != cudaSuccess) {
    cudaGetLastError();  // clear it so later runtime calls do not report it again
    d.count = 0;
    d.problem =
        std::string("cudaGetDeviceCount: ") + cudaGetErrorString(status) + " (" + cudaGetErrorName(status) + ")";
  } else if (d.count == 0) {
    d.problem = "cudaGetDeviceCount found no device";
  }
  return d;
}

const Discovery& discovery() {
  static const Discovery d = discover();
  return d;
}
}  // namespace

int device_count() { return discovery().count; }

std::string no_device_reason() { return discovery().problem; }

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
