// The CUDA emulator itself, on kernels written here: barriers with exiting
// threads, shuffles in full and partial warps, atomics, dynamic shared
// memory, launch configuration errors, the runtime's argument checks, and
// the cuBLAS and CUB stand-ins. Built into test_gpu in emulator builds only.
#include <cublas_v2.h>
#include <cub/device/device_radix_sort.cuh>
#include <cuda_runtime.h>
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <numeric>
#include <vector>

namespace {

template <class T>
T* device_copy(const std::vector<T>& host) {
  T* p = nullptr;
  REQUIRE(cudaMalloc(&p, host.size() * sizeof(T)) == cudaSuccess);
  REQUIRE(cudaMemcpy(p, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice) == cudaSuccess);
  return p;
}

// Threads above `stay` return at once; the others sum through shared memory
// across __syncthreads, which must not wait for the exited ones.
__global__ void sum_with_early_exit(const int* in, int stay, int* out) {
  __shared__ int partial[256];
  if (static_cast<int>(threadIdx.x) >= stay) return;
  partial[threadIdx.x] = in[blockIdx.x * blockDim.x + threadIdx.x];
  __syncthreads();
  if (threadIdx.x == 0) {
    int s = 0;
    for (int i = 0; i < stay; ++i) s += partial[i];
    out[blockIdx.x] = s;
  }
}

__global__ void shuffles(int* out) {
  const int lane = static_cast<int>(threadIdx.x % 32), t = static_cast<int>(threadIdx.x);
  out[4 * t + 0] = __shfl_xor_sync(0xffffffffu, t, 1);
  out[4 * t + 1] = __shfl_down_sync(0xffffffffu, t, 3);
  out[4 * t + 2] = __shfl_up_sync(0xffffffffu, t, 2);
  out[4 * t + 3] = __shfl_sync(0xffffffffu, t, 5) + 0 * lane;
}

__global__ void count_atomically(int* count, float* total) {
  atomicAdd(count, 1);
  atomicAdd(total, 0.5f);
}

__global__ void inspect_shared(std::uintptr_t* address, unsigned* first_word) {
  float* const buffer = static_cast<float*>(cuda_emulator::dynamic_shared_memory());
  if (threadIdx.x == 0) {
    address[blockIdx.x] = reinterpret_cast<std::uintptr_t>(buffer);
    unsigned word;
    std::memcpy(&word, buffer, sizeof(word));
    first_word[blockIdx.x] = word;
    buffer[0] = 1.0f;  // the next block must not see it
  }
}

}  // namespace

TEST_CASE("emulator: __syncthreads does not wait for threads that returned") {
  std::vector<int> in(3 * 256);
  std::iota(in.begin(), in.end(), 0);
  int* d_in = device_copy(in);
  int* d_out = device_copy(std::vector<int>(3, -1));
  cuda_emulator::launch(sum_with_early_exit, dim3(3), dim3(256), 0, nullptr)(d_in, 100, d_out);
  REQUIRE(cudaGetLastError() == cudaSuccess);
  std::vector<int> out(3);
  cudaMemcpy(out.data(), d_out, sizeof(int) * 3, cudaMemcpyDeviceToHost);
  for (int b = 0; b < 3; ++b) CHECK(out[b] == 100 * (256 * b) + 99 * 100 / 2);
  cudaFree(d_in);
  cudaFree(d_out);
}

TEST_CASE("emulator: shuffles in a full warp and in a partial one") {
  const int threads = 40;  // a warp of 32 and one of 8
  int* d_out = device_copy(std::vector<int>(4 * threads, -1));
  cuda_emulator::launch(shuffles, dim3(1), dim3(threads), 0, nullptr)(d_out);
  std::vector<int> out(4 * threads);
  cudaMemcpy(out.data(), d_out, sizeof(int) * out.size(), cudaMemcpyDeviceToHost);
  for (int t = 0; t < threads; ++t) {
    const int warp_base = t / 32 * 32, lanes = t < 32 ? 32 : 8, lane = t % 32;
    INFO("thread ", t);
    CHECK(out[4 * t + 0] == ((lane ^ 1) < lanes ? warp_base + (lane ^ 1) : t));
    CHECK(out[4 * t + 1] == (lane + 3 < lanes ? t + 3 : t));
    CHECK(out[4 * t + 2] == (lane >= 2 ? t - 2 : t));
    CHECK(out[4 * t + 3] == (5 < lanes ? warp_base + 5 : t));
  }
  cudaFree(d_out);
}

TEST_CASE("emulator: atomics from every thread of several blocks") {
  int* count = device_copy(std::vector<int>{0});
  float* total = device_copy(std::vector<float>{0.0f});
  cuda_emulator::launch(count_atomically, dim3(4), dim3(128), 0, nullptr)(count, total);
  int c = 0;
  float t = 0.0f;
  cudaMemcpy(&c, count, sizeof(int), cudaMemcpyDeviceToHost);
  cudaMemcpy(&t, total, sizeof(float), cudaMemcpyDeviceToHost);
  CHECK(c == 512);
  CHECK(t == 256.0f);
  cudaFree(count);
  cudaFree(total);
}

TEST_CASE("emulator: dynamic shared memory is 16-byte aligned, poisoned and fresh per block") {
  std::uintptr_t* address = device_copy(std::vector<std::uintptr_t>(2, 0));
  unsigned* word = device_copy(std::vector<unsigned>(2, 0));
  cuda_emulator::launch(inspect_shared, dim3(2), dim3(32), 64, nullptr)(address, word);
  std::vector<std::uintptr_t> a(2);
  std::vector<unsigned> w(2);
  cudaMemcpy(a.data(), address, sizeof(std::uintptr_t) * 2, cudaMemcpyDeviceToHost);
  cudaMemcpy(w.data(), word, sizeof(unsigned) * 2, cudaMemcpyDeviceToHost);
  CHECK(a[0] % 16 == 0);
  CHECK(a[1] % 16 == 0);
  CHECK(w[0] == 0xffffffffu);
  CHECK(w[1] == 0xffffffffu);
  cudaFree(address);
  cudaFree(word);
}

TEST_CASE("emulator: a bad launch configuration runs nothing and leaves cudaErrorInvalidConfiguration") {
  int* count = device_copy(std::vector<int>{0});
  float* total = device_copy(std::vector<float>{0.0f});
  cuda_emulator::launch(count_atomically, dim3(1), dim3(2048), 0, nullptr)(count, total);
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  cuda_emulator::launch(count_atomically, dim3(1), dim3(32), 49 * 1024, nullptr)(count, total);
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  int c = -1;
  cudaMemcpy(&c, count, sizeof(int), cudaMemcpyDeviceToHost);
  CHECK(c == 0);
  cudaFree(count);
  cudaFree(total);
}

TEST_CASE("emulator: copies, memsets and handles are checked as the runtime checks them") {
  std::vector<float> host(8, 1.0f);
  float* device = nullptr;
  REQUIRE(cudaMalloc(&device, 8 * sizeof(float)) == cudaSuccess);
  CHECK(cudaMemcpy(host.data(), host.data(), 32, cudaMemcpyHostToDevice) == cudaErrorInvalidValue);
  CHECK(cudaMemcpy(device, host.data(), 36, cudaMemcpyHostToDevice) == cudaErrorInvalidValue);  // past the end
  CHECK(cudaMemcpy(device + 1, host.data(), 28, cudaMemcpyHostToDevice) == cudaSuccess);
  CHECK(cudaMemset(host.data(), 0, 4) == cudaErrorInvalidValue);
  cudaStream_t stream = nullptr;
  REQUIRE(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) == cudaSuccess);
  CHECK(cudaMemsetAsync(device, 0, 32, stream) == cudaSuccess);
  REQUIRE(cudaStreamDestroy(stream) == cudaSuccess);
  CHECK(cudaMemsetAsync(device, 0, 32, stream) == cudaErrorInvalidResourceHandle);
  CHECK(cudaFree(host.data()) == cudaErrorInvalidValue);
  CHECK(cudaFree(device) == cudaSuccess);
  CHECK(cudaMemset(device, 0, 4) == cudaErrorInvalidValue);  // freed
  cudaGetLastError();
}

TEST_CASE("emulator: cuBLAS Sgemm is column-major and checks leading dimensions") {
  cublasHandle_t handle = nullptr;
  REQUIRE(cublasCreate(&handle) == CUBLAS_STATUS_SUCCESS);
  // Column-major A (2 x 3), B (3 x 2): C = A B (2 x 2).
  const std::vector<float> a{1, 2, 3, 4, 5, 6}, b{1, 0, 1, 0, 1, 0};
  float* dA = device_copy(a);
  float* dB = device_copy(b);
  float* dC = device_copy(std::vector<float>(4, 0.0f));
  const float one = 1.0f, zero = 0.0f;
  CHECK(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 3, &one, dA, 2, dB, 3, &zero, dC, 2) ==
        CUBLAS_STATUS_SUCCESS);
  std::vector<float> c(4);
  cudaMemcpy(c.data(), dC, sizeof(float) * 4, cudaMemcpyDeviceToHost);
  CHECK(c == std::vector<float>{6, 8, 3, 4});  // columns: A(:,0)+A(:,2), A(:,1)
  CHECK(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 3, &one, dA, 1, dB, 3, &zero, dC, 2) ==
        CUBLAS_STATUS_INVALID_VALUE);
  std::vector<float> host(6);
  CHECK(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 3, &one, host.data(), 2, dB, 3, &zero, dC, 2) ==
        CUBLAS_STATUS_EXECUTION_FAILED);
  CHECK(cublasDestroy(handle) == CUBLAS_STATUS_SUCCESS);
  CHECK(cublasDestroy(handle) == CUBLAS_STATUS_NOT_INITIALIZED);
  cudaFree(dA);
  cudaFree(dB);
  cudaFree(dC);
}

TEST_CASE("emulator: CUB radix sort stand-in is stable and asks for its temporary storage") {
  const std::vector<std::uint32_t> keys{3, 1, 3, 0, 1, 3};
  const std::vector<std::int32_t> values{0, 1, 2, 3, 4, 5};
  std::uint32_t* k_in = device_copy(keys);
  std::uint32_t* k_out = device_copy(keys);
  std::int32_t* v_in = device_copy(values);
  std::int32_t* v_out = device_copy(values);
  std::size_t bytes = 0;
  REQUIRE(cub::DeviceRadixSort::SortPairs(nullptr, bytes, k_in, k_out, v_in, v_out, 6) == cudaSuccess);
  void* temp = nullptr;
  REQUIRE(cudaMalloc(&temp, bytes) == cudaSuccess);
  std::size_t too_few = bytes - 1;
  CHECK(cub::DeviceRadixSort::SortPairs(temp, too_few, k_in, k_out, v_in, v_out, 6) == cudaErrorInvalidValue);
  cudaGetLastError();
  REQUIRE(cub::DeviceRadixSort::SortPairs(temp, bytes, k_in, k_out, v_in, v_out, 6) == cudaSuccess);
  std::vector<std::int32_t> order(6);
  cudaMemcpy(order.data(), v_out, sizeof(std::int32_t) * 6, cudaMemcpyDeviceToHost);
  CHECK(order == std::vector<std::int32_t>{3, 1, 4, 0, 2, 5});
  for (void* p : {static_cast<void*>(k_in), static_cast<void*>(k_out), static_cast<void*>(v_in),
                  static_cast<void*>(v_out), temp})
    cudaFree(p);
}
