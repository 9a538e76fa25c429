// The emulator's cuBLAS: Sgemm and Sgemv in column-major through OpenBLAS,
// with cuBLAS's argument checks (see include/cublas_v2.h), queued on the
// handle's stream as cuBLAS queues its kernels.
#include <cblas.h>
#include <cublas_v2.h>

#include <algorithm>
#include <mutex>
#include <set>

struct cublasContext {
  cudaStream_t stream = nullptr;
  cublasMath_t math = CUBLAS_DEFAULT_MATH;
};

namespace {

std::mutex handles_mutex;
std::set<const cublasContext*> handles;

bool live(cublasHandle_t handle) {
  std::lock_guard<std::mutex> lock(handles_mutex);
  return handle && handles.count(handle) != 0;
}

// A column-major rows x cols matrix with leading dimension ld lies in one
// device allocation.
bool on_device(const float* a, long rows, long cols, long ld) {
  if (rows == 0 || cols == 0) return true;
  return cuda_emulator::is_device_range(a, static_cast<std::size_t>((cols - 1) * ld + rows) * sizeof(float));
}

CBLAS_TRANSPOSE to_cblas(cublasOperation_t op) { return op == CUBLAS_OP_N ? CblasNoTrans : CblasTrans; }

// OpenBLAS is not instrumented: under ThreadSanitizer, its reads and writes
// of a column-major matrix are declared column by column, so that a GEMM on
// one stream and a kernel on another touching the same memory unordered is
// reported as the race it is.
#if defined(__SANITIZE_THREAD__)
extern "C" void __tsan_read_range(const void* addr, unsigned long size);
extern "C" void __tsan_write_range(const void* addr, unsigned long size);
void declare_access(const float* a, long rows, long cols, long ld, bool write) {
  for (long c = 0; c < cols; ++c) {
    const unsigned long bytes = static_cast<unsigned long>(rows) * sizeof(float);
    if (write) __tsan_write_range(a + c * ld, bytes);
    else __tsan_read_range(a + c * ld, bytes);
  }
}
#else
void declare_access(const float*, long, long, long, bool) {}
#endif

}  // namespace

const char* cublasGetStatusName(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}

const char* cublasGetStatusString(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "an absent device architectural feature is required";
    case CUBLAS_STATUS_MAPPING_ERROR: return "an access to GPU memory space failed";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "an internal operation failed";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
  }
  return "unknown error";
}

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  if (!handle) return CUBLAS_STATUS_INVALID_VALUE;
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    cudaGetLastError();
    return CUBLAS_STATUS_NOT_INITIALIZED;
  }
  *handle = new cublasContext;
  std::lock_guard<std::mutex> lock(handles_mutex);
  handles.insert(*handle);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  {
    std::lock_guard<std::mutex> lock(handles_mutex);
    if (!handle || handles.erase(handle) == 0) return CUBLAS_STATUS_NOT_INITIALIZED;
  }
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  if (!live(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!cuda_emulator::is_live_stream(stream)) return CUBLAS_STATUS_INVALID_VALUE;
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
  if (!live(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->math = mode;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetProperty(libraryPropertyType type, int* value) {
  if (!value || type < MAJOR_VERSION || type > PATCH_LEVEL) return CUBLAS_STATUS_INVALID_VALUE;
  *value = 0;  // not a cuBLAS
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                           int k, const float* alpha, const float* A, int lda, const float* B, int ldb,
                           const float* beta, float* C, int ldc) {
  if (!live(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!cuda_emulator::is_live_stream(handle->stream)) return CUBLAS_STATUS_EXECUTION_FAILED;
  const long a_rows = transa == CUBLAS_OP_N ? m : k, a_cols = transa == CUBLAS_OP_N ? k : m;
  const long b_rows = transb == CUBLAS_OP_N ? k : n, b_cols = transb == CUBLAS_OP_N ? n : k;
  if (m < 0 || n < 0 || k < 0 || !alpha || !beta || lda < std::max(1L, a_rows) || ldb < std::max(1L, b_rows) ||
      ldc < std::max(1, m))
    return CUBLAS_STATUS_INVALID_VALUE;
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  if ((k > 0 && (!on_device(A, a_rows, a_cols, lda) || !on_device(B, b_rows, b_cols, ldb))) ||
      !on_device(C, m, n, ldc))
    return CUBLAS_STATUS_EXECUTION_FAILED;  // the GPU would fault on the access
  // alpha and beta are host scalars (the default pointer mode): read now.
  cuda_emulator::enqueue(handle->stream, [=, alpha = *alpha, beta = *beta] {
    if (k > 0) {
      declare_access(A, a_rows, a_cols, lda, false);
      declare_access(B, b_rows, b_cols, ldb, false);
    }
    declare_access(C, m, n, ldc, true);
    cblas_sgemm(CblasColMajor, to_cblas(transa), to_cblas(transb), m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
  });
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemv(cublasHandle_t handle, cublasOperation_t trans, int m, int n, const float* alpha,
                           const float* A, int lda, const float* x, int incx, const float* beta, float* y, int incy) {
  if (!live(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!cuda_emulator::is_live_stream(handle->stream)) return CUBLAS_STATUS_EXECUTION_FAILED;
  if (m < 0 || n < 0 || !alpha || !beta || lda < std::max(1, m) || incx == 0 || incy == 0)
    return CUBLAS_STATUS_INVALID_VALUE;
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  const long x_len = trans == CUBLAS_OP_N ? n : m, y_len = trans == CUBLAS_OP_N ? m : n;
  if (incx < 0 || incy < 0) return CUBLAS_STATUS_NOT_SUPPORTED;  // the backend never passes one
  if (!on_device(A, m, n, lda) || !on_device(x, 1, x_len, incx) || !on_device(y, 1, y_len, incy))
    return CUBLAS_STATUS_EXECUTION_FAILED;
  cuda_emulator::enqueue(handle->stream, [=, alpha = *alpha, beta = *beta] {
    declare_access(A, m, n, lda, false);
    declare_access(x, 1, x_len, incx, false);
    declare_access(y, 1, y_len, incy, true);
    cblas_sgemv(CblasColMajor, to_cblas(trans), m, n, alpha, A, lda, x, incx, beta, y, incy);
  });
  return CUBLAS_STATUS_SUCCESS;
}
