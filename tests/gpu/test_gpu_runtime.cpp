// The GPU runtime glue: device discovery without a device, error messages
// of the check macros, the caching allocator's size classes and steady
// state, pinned staging, and the device fault flag. The first cases need no
// GPU and run everywhere; the rest are skipped without one.
#include <cstring>
#include <string>

#include "backend/cuda/check.hpp"
#include "backend/cuda/primitives.hpp"
#include "gpu_test.hpp"

using namespace limelight;
using namespace limelight::cuda;

TEST_CASE("gpu: cuda_available answers without throwing, with or without a device") {
  const bool available = cuda_available();
  CHECK(available == (device_count() > 0));
  CHECK(cuda_available() == available);  // cached, stable
  if (!available) {
    CHECK_THROWS_WITH_AS([] { Context ctx; }(), doctest::Contains("no usable CUDA device"), Error);
    CHECK_THROWS_WITH_AS(device_info(0), doctest::Contains("no CUDA device 0"), Error);
  } else {
    CHECK_THROWS_WITH_AS([] { Context ctx(device_count()); }(), doctest::Contains("no CUDA device"), Error);
    const DeviceInfo info = device_info(0);
    MESSAGE("device 0: ", info.name, " sm_", info.major, info.minor, ", ", info.total_memory >> 20, " MiB, cuDNN ",
            info.cudnn_version, ", cuBLAS ", info.cublas_version);
    CHECK(info.multiprocessors > 0);
  }
}

TEST_CASE("gpu: check macros name the statement, file, line and the library's error") {
  try {
    CUDA_CHECK(cudaErrorMemoryAllocation);
    FAIL("CUDA_CHECK did not throw");
  } catch (const Error& e) {
    const std::string m = e.what();
    CHECK(m.find("cudaErrorMemoryAllocation") != std::string::npos);
    CHECK(m.find("out of device memory") != std::string::npos);
    CHECK(m.find("test_gpu_runtime.cpp:") != std::string::npos);
    CHECK(m.find("`static_cast<cudaError_t>(cudaErrorMemoryAllocation)`") != std::string::npos);
  }
  CHECK_THROWS_WITH_AS(CUDA_CHECK(cudaErrorNoDevice), doctest::Contains("no usable CUDA device"), Error);
  CHECK_THROWS_WITH_AS(CUBLAS_CHECK(CUBLAS_STATUS_NOT_INITIALIZED), doctest::Contains("CUBLAS_STATUS_NOT_INITIALIZED"),
                       Error);
  CHECK_THROWS_WITH_AS(CUDNN_CHECK(CUDNN_STATUS_BAD_PARAM), doctest::Contains("cuDNN error in"), Error);
  CHECK_NOTHROW(CUDA_CHECK(cudaSuccess));
  CHECK_NOTHROW(CUBLAS_CHECK(CUBLAS_STATUS_SUCCESS));
}

TEST_CASE("gpu: allocator size classes round up by at most a quarter") {
  CHECK(CachingAllocator::size_class(1) == 512);
  CHECK(CachingAllocator::size_class(512) == 512);
  CHECK(CachingAllocator::size_class(513) == 640);
  CHECK(CachingAllocator::size_class(1024) == 1024);
  CHECK(CachingAllocator::size_class(1025) == 1280);
  for (std::size_t bytes : {600ul, 4097ul, 1000000ul, 1280000000ul, (1ul << 33) + 1}) {
    const std::size_t c = CachingAllocator::size_class(bytes);
    CHECK(c >= bytes);
    CHECK(c - bytes <= bytes / 4);
    CHECK(CachingAllocator::size_class(c) == c);  // a class is its own class
  }
}

GPU_TEST_CASE("gpu: allocator makes no cudaMalloc in steady state and reports out of memory") {
  CachingAllocator alloc;
  for (int step = 0; step < 5; ++step) {
    void* a = alloc.allocate(1000);
    void* b = alloc.allocate(1 << 20);
    void* c = alloc.allocate(3000);
    CHECK(reinterpret_cast<std::uintptr_t>(a) % 256 == 0);
    alloc.deallocate(b);
    alloc.deallocate(a);
    alloc.deallocate(c);
    if (step == 0) REQUIRE(alloc.stats().device_mallocs == 3);
  }
  CachingAllocator::Stats s = alloc.stats();
  CHECK(s.device_mallocs == 3);
  CHECK(s.cache_hits == 12);
  CHECK(s.bytes_in_use == 0);
  CHECK(s.bytes_cached == 1024 + 3072 + (1 << 20));
  CHECK_THROWS_WITH_AS(alloc.deallocate(reinterpret_cast<void*>(0x1000)), doctest::Contains("did not allocate"), Error);
  CHECK_THROWS_WITH_AS(alloc.allocate(std::size_t{1} << 50), doctest::Contains("out of device memory"), Error);
  alloc.release_cached();
  CHECK(alloc.stats().bytes_cached == 0);
  CHECK(alloc.stats().device_frees == 3);
}

GPU_TEST_CASE("gpu: pinned staging round-trips and stops allocating host memory") {
  Context ctx;
  std::mt19937 rng(1);
  for (int step = 0; step < 4; ++step) {
    const auto host = gpu_test::random_floats(10000, rng);
    DeviceBuffer d = ctx.upload(host);
    CHECK(ctx.download<float>(d, host.size()) == host);
  }
  CHECK(ctx.staging().host_allocations() == 2);  // one per slot, at the first step
  CHECK(ctx.allocator().stats().device_mallocs == 1);
}

GPU_TEST_CASE("gpu: an id outside the table becomes an Error naming the kernel") {
  Context ctx;
  const std::vector<float> table(4 * 3, 1.0f);
  DeviceBuffer t = ctx.upload(table);
  DeviceBuffer ids = ctx.upload(std::vector<std::int32_t>{1, 7, 2});
  DeviceBuffer out = ctx.buffer(3 * 3 * sizeof(float));
  gather_rows(ctx, t.as<float>(), 4, 3, ids.as<std::int32_t>(), 3, out.as<float>());
  CHECK_THROWS_WITH_AS(ctx.synchronize(), doctest::Contains("gather_rows"), Error);
  CHECK_NOTHROW(ctx.synchronize());  // the flag was cleared
  CHECK_THROWS_WITH_AS(gemm(ctx, false, false, 2, 2, 2, 1.0f, t.as<float>(), 1, t.as<float>(), 2, 0.0f,
                            out.as<float>(), 2),
                       doctest::Contains("leading dimensions"), Error);
}
