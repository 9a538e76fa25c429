// Finds and loads the CUDA backend library, liblimelight_cuda.so, the first
// time a CUDA device is asked for. The main library and the `limelight`
// binary link no CUDA library: a CPU user never maps cudart, cuBLAS or cuDNN.
//
// Search order: the file named by LIMELIGHT_CUDA_BACKEND; then the dynamic
// loader's own search (rpath, LD_LIBRARY_PATH, the system's library folders,
// where an installed liblimelight_cuda.so lives); then this build tree's copy.
#pragma once

#include <string>

namespace limelight::backend {

struct CudaBackendStatus {
  bool library_loaded = false;
  std::string library;  // the path that loaded, or every place tried
  int devices = 0;
  // Empty when usable; otherwise one sentence saying whether the library or
  // the device is missing, and why.
  std::string problem;
  bool usable() const { return library_loaded && devices > 0; }
};

// Loads once per process (thread-safe) and answers the same thereafter.
// When usable, the library has registered its backend and tensor allocator
// for Device::cuda (backend::get, allocator_for).
const CudaBackendStatus& cuda_backend();

// The dlopen handle of the loaded library (null unless library_loaded), for
// looking up the backend's entry points.
void* cuda_backend_handle();

}  // namespace limelight::backend
