// The CUDA emulator itself, on kernels written here: barriers with exiting
// threads, shuffles in full and partial warps, atomics, dynamic shared
// memory, launch configuration errors, the runtime's argument checks, and
// the cuBLAS and CUB stand-ins. Built into test_gpu in emulator builds only.
#include <cublas_v2.h>
#include <cub/device/device_radix_sort.cuh>
#include <cuda_runtime.h>
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <numeric>
#include <string>
#include <vector>

namespace {

template <class T>
T* device_copy(const std::vector<T>& host) {
  T* p = nullptr;
  REQUIRE(cudaMalloc(&p, host.size() * sizeof(T)) == cudaSuccess);
  REQUIRE(cudaMemcpy(p, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice) == cudaSuccess);
  // From pageable memory the copy returns once the data is staged, before it
  // lands, and nothing orders a non-blocking stream after it.
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
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

// Every thread publishes its index and reads both neighbours'; with the
// barrier the reads see this launch's values, without it some thread reads
// before its neighbour has written, whichever order the threads run in.
__global__ void read_neighbours(int* out, bool with_barrier) {
  __shared__ int published[64];
  const int t = static_cast<int>(threadIdx.x), n = static_cast<int>(blockDim.x);
  published[t] = 1000 * static_cast<int>(blockIdx.x) + t;
  if (with_barrier) __syncthreads();
  out[blockIdx.x * blockDim.x + t] = published[(t + 1) % n] + published[(t + n - 1) % n];
}

// Lanes 0-15 wait at the block's barrier, lanes 16-31 at the warp's: on a
// GPU this hangs.
__global__ void divergent_barriers() {
  if (threadIdx.x < 16)
    __syncthreads();
  else
    __syncwarp();
}

// Holds its stream until the host opens the gate: work queued behind it has
// not run, whatever the host does meanwhile.
__global__ void wait_at_gate(int* gate) {
  while (std::atomic_ref<int>(*gate).load(std::memory_order_acquire) == 0) std::this_thread::yield();
}

__global__ void write_value(int* x, int value) { *x = value; }

__global__ void copy_value(const int* from, int* to) { *to = *from; }

std::vector<int> neighbour_sums(bool with_barrier) {
  int* d_out = device_copy(std::vector<int>(2 * 64, -1));
  cuda_emulator::launch(read_neighbours, dim3(2), dim3(64), 0, nullptr)(d_out, with_barrier);
  std::vector<int> out(2 * 64);
  cudaMemcpy(out.data(), d_out, sizeof(int) * out.size(), cudaMemcpyDeviceToHost);
  cudaFree(d_out);
  return out;
}

}  // namespace

TEST_CASE("emulator: a read of another thread's write needs the barrier, in either thread order") {
  const std::vector<int> with = neighbour_sums(true);
  int right = 0;
  for (int b = 0; b < 2; ++b)
    for (int t = 0; t < 64; ++t)
      right += with[b * 64 + t] == 2000 * b + (t + 1) % 64 + (t + 63) % 64;
  CHECK(right == 128);
#if !defined(__SANITIZE_THREAD__)  // there the race is reported instead, and fails the run
  // Without it, the threads of each block run up to their return one after
  // another, so the first of them reads a neighbour that has not written.
  const std::vector<int> without = neighbour_sums(false);
  int wrong = 0;
  for (int b = 0; b < 2; ++b)
    for (int t = 0; t < 64; ++t)
      wrong += without[b * 64 + t] != 2000 * b + (t + 1) % 64 + (t + 63) % 64;
  CHECK(wrong > 0);
#endif
}

#if defined(__SANITIZE_THREAD__)
constexpr bool under_thread_sanitizer = true;  // whose runtime does not follow fibers into a forked child
#else
constexpr bool under_thread_sanitizer = false;
#endif

TEST_CASE("emulator: threads waiting at different barriers abort with a message, where a GPU hangs" *
          doctest::skip(under_thread_sanitizer)) {
  int message[2];
  REQUIRE(pipe(message) == 0);
  std::fflush(nullptr);  // the child must not write what this process has buffered
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    dup2(message[1], STDERR_FILENO);
    dup2(message[1], STDOUT_FILENO);  // and doctest's report of the abort
    // A stream of the child's own: the parent's workers are not in the fork.
    cudaStream_t stream = nullptr;
    if (cudaStreamCreate(&stream) != cudaSuccess) _exit(3);
    cuda_emulator::launch(divergent_barriers, dim3(1), dim3(32), 0, stream)();
    cudaStreamSynchronize(stream);
    _exit(0);  // not reached: the launch aborts
  }
  close(message[1]);
  std::string said;
  char buffer[256];
  for (ssize_t n; (n = read(message[0], buffer, sizeof(buffer))) > 0;) said.append(buffer, static_cast<std::size_t>(n));
  close(message[0]);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  INFO("the child said: ", said);
  CHECK(!(WIFEXITED(status) && WEXITSTATUS(status) == 0));
  CHECK(said.find("cuda emulator: deadlock") != std::string::npos);
}

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
  // A blocking stream: its memset is ordered after the null stream's copy
  // (on a non-blocking one the two would race, and ThreadSanitizer says so).
  cudaStream_t stream = nullptr;
  REQUIRE(cudaStreamCreate(&stream) == cudaSuccess);
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

TEST_CASE("emulator: a stream runs apart from the host, and an event orders another stream after it") {
  std::atomic<int> gate{0};
  int* d = device_copy(std::vector<int>{0, 0});
  cudaStream_t first = nullptr, second = nullptr;
  cudaEvent_t written = nullptr;
  REQUIRE(cudaStreamCreateWithFlags(&first, cudaStreamNonBlocking) == cudaSuccess);
  REQUIRE(cudaStreamCreateWithFlags(&second, cudaStreamNonBlocking) == cudaSuccess);
  REQUIRE(cudaEventCreateWithFlags(&written, cudaEventDisableTiming) == cudaSuccess);
  cuda_emulator::launch(wait_at_gate, dim3(1), dim3(1), 0, first)(reinterpret_cast<int*>(&gate));
  cuda_emulator::launch(write_value, dim3(1), dim3(1), 0, first)(d, 7);
  REQUIRE(cudaEventRecord(written, first) == cudaSuccess);
  REQUIRE(cudaStreamWaitEvent(second, written, 0) == cudaSuccess);
  cuda_emulator::launch(copy_value, dim3(1), dim3(1), 0, second)(d, d + 1);
  // Queued, not run: the launches returned with the gate still shut.
  CHECK(cudaEventQuery(written) == cudaErrorNotReady);
  const std::uint64_t waits = cuda_emulator::host_counts().synchronisations;
  gate.store(1, std::memory_order_release);
  REQUIRE(cudaStreamSynchronize(second) == cudaSuccess);
  CHECK(cuda_emulator::host_counts().synchronisations == waits + 1);
  CHECK(cudaEventQuery(written) == cudaSuccess);
  int copied = 0;
  REQUIRE(cudaMemcpyAsync(&copied, d + 1, sizeof(int), cudaMemcpyDeviceToHost, second) == cudaSuccess);
  CHECK(copied == 7);  // the second stream ran after the first's write
  cudaEventDestroy(written);
  cudaStreamDestroy(first);
  cudaStreamDestroy(second);
  cudaFree(d);
}

TEST_CASE("emulator: a copy to pageable host memory is done when the call returns; to pinned memory, at a synchronisation") {
  std::atomic<int> gate{0};
  int* d = device_copy(std::vector<int>{5});
  int* pinned = nullptr;
  REQUIRE(cudaHostAlloc(&pinned, sizeof(int), cudaHostAllocDefault) == cudaSuccess);
  *pinned = -1;
  cudaStream_t stream = nullptr;
  REQUIRE(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) == cudaSuccess);
  cuda_emulator::launch(wait_at_gate, dim3(1), dim3(1), 0, stream)(reinterpret_cast<int*>(&gate));
  REQUIRE(cudaMemcpyAsync(pinned, d, sizeof(int), cudaMemcpyDeviceToHost, stream) == cudaSuccess);  // returns at once
  std::atomic<bool> opened{false};
  std::thread opener([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    opened.store(true);
    gate.store(1, std::memory_order_release);
  });
  int pageable = -1;
  REQUIRE(cudaMemcpyAsync(&pageable, d, sizeof(int), cudaMemcpyDeviceToHost, stream) == cudaSuccess);
  CHECK(opened.load());  // it waited for the gate, and for the copy behind it
  CHECK(pageable == 5);
  REQUIRE(cudaStreamSynchronize(stream) == cudaSuccess);
  CHECK(*pinned == 5);
  opener.join();
  cudaStreamDestroy(stream);
  cudaFreeHost(pinned);
  cudaFree(d);
}

TEST_CASE("emulator: the legacy default stream waits for blocking streams, not for non-blocking ones") {
  std::atomic<int> blocking_gate{0}, non_blocking_gate{0};
  int* d = device_copy(std::vector<int>{0, 0});
  cudaStream_t blocking = nullptr, non_blocking = nullptr;
  cudaEvent_t after_null = nullptr, after_gate = nullptr;
  REQUIRE(cudaStreamCreate(&blocking) == cudaSuccess);
  REQUIRE(cudaStreamCreateWithFlags(&non_blocking, cudaStreamNonBlocking) == cudaSuccess);
  REQUIRE(cudaEventCreate(&after_null) == cudaSuccess);
  REQUIRE(cudaEventCreate(&after_gate) == cudaSuccess);
  cuda_emulator::launch(wait_at_gate, dim3(1), dim3(1), 0, non_blocking)(reinterpret_cast<int*>(&non_blocking_gate));
  REQUIRE(cudaEventRecord(after_gate, non_blocking) == cudaSuccess);
  cuda_emulator::launch(write_value, dim3(1), dim3(1), 0, nullptr)(d, 1);
  REQUIRE(cudaEventRecord(after_null, nullptr) == cudaSuccess);
  // The null stream's work is done while the non-blocking stream still waits
  // at its gate (the synchronisation would hang if the one waited for the other).
  REQUIRE(cudaEventSynchronize(after_null) == cudaSuccess);
  CHECK(cudaEventQuery(after_gate) == cudaErrorNotReady);
  cuda_emulator::launch(wait_at_gate, dim3(1), dim3(1), 0, blocking)(reinterpret_cast<int*>(&blocking_gate));
  cuda_emulator::launch(write_value, dim3(1), dim3(1), 0, nullptr)(d + 1, 2);
  REQUIRE(cudaEventRecord(after_null, nullptr) == cudaSuccess);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(cudaEventQuery(after_null) == cudaErrorNotReady);  // behind the blocking stream's gate
  blocking_gate.store(1, std::memory_order_release);
  non_blocking_gate.store(1, std::memory_order_release);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  std::vector<int> out(2);
  cudaMemcpy(out.data(), d, 2 * sizeof(int), cudaMemcpyDeviceToHost);
  CHECK(out == std::vector<int>{1, 2});
  cudaEventDestroy(after_null);
  cudaEventDestroy(after_gate);
  cudaStreamDestroy(blocking);
  cudaStreamDestroy(non_blocking);
  cudaFree(d);
}
