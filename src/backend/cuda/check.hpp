// Error checking for every CUDA runtime, cuBLAS and cuDNN call of the GPU
// backend. One generic macro, LL_GPU_CHECK, turns a failed status into a
// limelight::Error naming the statement, the file and line, and the library's
// own error string; CUDA_CHECK, CUBLAS_CHECK and CUDNN_CHECK are its typed
// spellings. LL_LAUNCH_CHECK follows every kernel launch. Faults that kernels
// detect in their input (an id outside the table) are raised on the device as
// bits of a flag that Context::synchronize() turns into an Error.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

namespace limelight::cuda {

// Bits of the device fault flag; each names the kernel family that set it.
enum DeviceFault : int {
  fault_gather_id = 1,
  fault_scatter_id = 2,
  fault_sparse_grad_id = 4,
  fault_adam_row = 8,
  fault_loss_id = 16,
  fault_mixture_id = 32,
  fault_exclude_id = 64,
};

namespace detail {
[[noreturn]] void throw_status(const char* library, const char* status_name, const char* description,
                               const char* statement, const char* file, int line);

inline void check_status(cudaError_t status, const char* statement, const char* file, int line) {
  if (status != cudaSuccess)
    throw_status("CUDA", cudaGetErrorName(status), cudaGetErrorString(status), statement, file, line);
}
inline void check_status(cublasStatus_t status, const char* statement, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw_status("cuBLAS", cublasGetStatusName(status), cublasGetStatusString(status), statement, file, line);
}
inline void check_status(cudnnStatus_t status, const char* statement, const char* file, int line) {
  if (status != CUDNN_STATUS_SUCCESS)
    throw_status("cuDNN", "cudnnStatus_t", cudnnGetErrorString(status), statement, file, line);
}
// Before a launch (LL_LAUNCH): an error already pending comes from earlier
// work, and is reported as such rather than blamed on `kernel`.
void check_before_launch(const char* kernel, const char* file, int line);
// After a launch: configuration errors now, not at the next synchronisation.
void check_launch(const char* kernel, const char* file, int line);
}  // namespace detail

}  // namespace limelight::cuda

#define LL_GPU_CHECK(statement) ::limelight::cuda::detail::check_status((statement), #statement, __FILE__, __LINE__)
#define CUDA_CHECK(statement) LL_GPU_CHECK(static_cast<cudaError_t>(statement))
#define CUBLAS_CHECK(statement) LL_GPU_CHECK(static_cast<cublasStatus_t>(statement))
#define CUDNN_CHECK(statement) LL_GPU_CHECK(static_cast<cudnnStatus_t>(statement))
#define LL_LAUNCH_CHECK(kernel) ::limelight::cuda::detail::check_launch(kernel, __FILE__, __LINE__)
