// The GPU runtime glue: device discovery without a device, error messages
// of the check macros, the caching allocator's size classes and steady
// state, pinned staging, and the device fault flag. The first cases need no
// GPU and run everywhere; the rest are skipped without one.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "backend/cuda/check.hpp"
#include "backend/cuda/primitives.hpp"
#include "kernels/elementwise.cuh"
#include "gpu_test.hpp"
#include "limelight/ops.hpp"
#include "limelight/tape.hpp"

using namespace limelight;
using namespace limelight::cuda;
using namespace limelight::cuda::raw;  // the kernels' own call forms

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

// A block freed on one stream and handed to another: the second stream's
// work waits (on the device) for the first's, whose kernels may still be
// writing it. Without the wait ThreadSanitizer reports the two fills racing
// on the emulator, and a device could keep the first fill's values.
GPU_TEST_CASE("gpu: a tensor block freed on one stream is reused by another after the first's work") {
  CachingAllocator alloc(CachingAllocator::Sharing::across_streams);
  cudaStream_t first = nullptr, second = nullptr;
  REQUIRE(cudaStreamCreateWithFlags(&first, cudaStreamNonBlocking) == cudaSuccess);
  REQUIRE(cudaStreamCreateWithFlags(&second, cudaStreamNonBlocking) == cudaSuccess);
  const std::int64_t n = 1 << 16;
  auto* a = static_cast<float*>(alloc.allocate(n * sizeof(float), first));
  kernels::fill(a, n, 1.0f, first);
  alloc.deallocate(a, first);
  auto* b = static_cast<float*>(alloc.allocate(n * sizeof(float), second));
  REQUIRE(b == a);  // the one cached block
  kernels::fill(b, n, 2.0f, second);
  std::vector<float> host(static_cast<std::size_t>(n));
  REQUIRE(cudaMemcpyAsync(host.data(), b, host.size() * sizeof(float), cudaMemcpyDeviceToHost, second) == cudaSuccess);
  CHECK(std::count(host.begin(), host.end(), 2.0f) == n);
  alloc.deallocate(b, second);
  REQUIRE(cudaStreamSynchronize(second) == cudaSuccess);
  cudaStreamDestroy(first);
  cudaStreamDestroy(second);
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

// Ids already on the device are not searched before the op (that would wait
// for the device): the gather's kernel checks each against the table's rows
// (V, passed through the Backend), reads nothing past it, and the next read
// on the host throws naming the kernel.
GPU_TEST_CASE("gpu: an id outside the table in a device tensor becomes an Error at the next read, naming the kernel") {
  gpu_test::install_device_allocator();
  Parameter table("table", Tensor::from_vector(std::vector<float>(5 * 3, 1.0f), Shape{5, 3}).to(Device::cuda));
  const Tensor ids = Tensor::from_vector(std::vector<std::int32_t>{1, 5, 2}, Shape{3}).to(Device::cuda);
  Tape t(true, Device::cuda);
  const Var rows = ops::embedding(t, t.parameter(table), ids);
  CHECK_THROWS_WITH_AS((void)t.value(rows).to(Device::cpu), doctest::Contains("gather_rows"), Error);
  const Tensor good = Tensor::from_vector(std::vector<std::int32_t>{1, 4, 2}, Shape{3}).to(Device::cuda);
  t.reset();
  const Var fine = ops::embedding(t, t.parameter(table), good);
  CHECK(t.value(fine).to(Device::cpu).to_vector() == std::vector<float>(9, 1.0f));  // the flag was cleared
}

GPU_TEST_CASE("gpu: pinned staging copies large transfers in fixed chunks and never grows") {
  Context ctx(0, 4096);
  std::mt19937 rng(2);
  for (std::size_t n : {std::size_t{1}, std::size_t{1024}, std::size_t{1025}, std::size_t{25003}}) {
    const auto host = gpu_test::random_floats(n, rng);
    DeviceBuffer d = ctx.upload(host);
    CHECK(ctx.download<float>(d, n) == host);
  }
  CHECK(ctx.staging().chunk_bytes() == 4096);
  CHECK(ctx.staging().host_allocations() == 2);
  CHECK(ctx.staging().pinned_bytes() == 2 * 4096);
}

GPU_TEST_CASE("gpu: a device buffer outlives the Context that made it") {
  const std::vector<float> values{1.0f, 2.0f, 3.0f, -4.5f};
  DeviceBuffer kept;
  {
    Context made;
    kept = made.upload(values);
    made.synchronize();
  }
  Context reader;
  CHECK(reader.download<float>(kept, values.size()) == values);
}

GPU_TEST_CASE("gpu: a Context serves one thread; a ContextPool gives each serving thread its own") {
  Context ctx;
  std::string error;
  std::thread([&] {
    try {
      ctx.synchronize();
    } catch (const Error& e) {
      error = e.what();
    }
  }).join();
  CHECK(error.find("used by a thread it does not serve") != std::string::npos);

  ContextPool pool;
  const std::vector<float> table{0, 0, 1, 1, 2, 2, 3, 3};  // (4, 2)
  std::atomic<int> wrong{0};
  auto serve = [&](int seed) {
    for (int call = 0; call < 3; ++call) {
      ContextPool::Lease lease = pool.lease();
      const std::vector<std::int32_t> ids{(seed + call) % 4, (seed + 2 * call) % 4};
      DeviceBuffer t = lease->upload(table), i = lease->upload(ids), out = lease->buffer(4 * sizeof(float));
      gather_rows(*lease, t.as<float>(), 4, 2, i.as<std::int32_t>(), 2, out.as<float>());
      lease->synchronize();
      const auto got = lease->download<float>(out, 4);
      for (int r = 0; r < 2; ++r)
        if (got[2 * r] != static_cast<float>(ids[r]) || got[2 * r + 1] != static_cast<float>(ids[r])) ++wrong;
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back(serve, t);
  for (auto& t : threads) t.join();
  CHECK(wrong == 0);
  CHECK(pool.contexts_made() >= 1);
  CHECK(pool.contexts_made() <= 4);
  const std::size_t made = pool.contexts_made();
  serve(7);  // a returned Context serves the next lease
  CHECK(pool.contexts_made() == made);
}

GPU_TEST_CASE("gpu: an error left pending by earlier work is not blamed on the next kernel") {
  Context ctx;
  // A memset of the null address fails and leaves its error pending, unread.
  // (Host memory would not do on a device: where the driver manages
  // heterogeneous memory, a memset of a std::vector's memory succeeds.)
  CHECK(cudaMemsetAsync(nullptr, 0, 4 * sizeof(float), ctx.stream()) == cudaErrorInvalidValue);
  const std::vector<float> table(6, 1.0f);
  DeviceBuffer t = ctx.upload(table), ids = ctx.upload(std::vector<std::int32_t>{1, 2});
  DeviceBuffer out = ctx.buffer(2 * 3 * sizeof(float));
  CHECK_THROWS_WITH_AS(gather_rows(ctx, t.as<float>(), 2, 3, ids.as<std::int32_t>(), 2, out.as<float>()),
                       doctest::Contains("work queued before the launch of kernel gather_rows_kernel"), Error);
  CHECK(cudaGetLastError() == cudaSuccess);  // reported once, then cleared
  CHECK_NOTHROW(gather_rows(ctx, t.as<float>(), 3, 2, ids.as<std::int32_t>(), 2, out.as<float>()));
}

GPU_TEST_CASE("gpu: sparse rows of a popular id are summed in segments, deterministically") {
  Context ctx;
  std::mt19937 rng(3);
  // Id 5 fills 1000 of 1300 positions: eight segments of 128 and a partial one.
  const std::int64_t n = 1300, D = 40, V = 50;
  auto ids = gpu_test::random_ids(static_cast<std::size_t>(n), static_cast<std::int32_t>(V), rng);
  for (std::int64_t i = 0; i < 1000; ++i) ids[static_cast<std::size_t>(i * 13 / 10)] = 5;
  const auto grad = gpu_test::random_floats(static_cast<std::size_t>(n * D), rng);
  std::map<std::int32_t, std::vector<double>> exact;
  std::map<std::int32_t, std::vector<float>> sequential, magnitude;
  std::map<std::int32_t, int> length;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int32_t id = ids[static_cast<std::size_t>(i)];
    if (id == 0) continue;
    ++length[id];
    auto& e = exact.try_emplace(id, std::vector<double>(D, 0.0)).first->second;
    auto& s = sequential.try_emplace(id, std::vector<float>(D, 0.0f)).first->second;
    auto& m = magnitude.try_emplace(id, std::vector<float>(D, 0.0f)).first->second;
    for (std::int64_t d = 0; d < D; ++d) {
      const float g = grad[static_cast<std::size_t>(i * D + d)];
      e[static_cast<std::size_t>(d)] += g;
      s[static_cast<std::size_t>(d)] += g;
      m[static_cast<std::size_t>(d)] += std::fabs(g);
    }
  }
  DeviceBuffer dG = ctx.upload(grad), dI = ctx.upload(ids);
  DeviceBuffer rows = ctx.buffer(static_cast<std::size_t>(n) * sizeof(std::int32_t));
  DeviceBuffer values = ctx.buffer(static_cast<std::size_t>(n * D) * sizeof(float));
  std::vector<float> first;
  for (int run = 0; run < 2; ++run) {
    const std::int64_t count = sparse_rows_sorted(ctx, dG.as<float>(), V, D, dI.as<std::int32_t>(), n,
                                                  rows.as<std::int32_t>(), values.as<float>());
    REQUIRE(count == static_cast<std::int64_t>(exact.size()));
    const auto got_rows = ctx.download<std::int32_t>(rows, static_cast<std::size_t>(count));
    const auto got = ctx.download<float>(values, static_cast<std::size_t>(count * D));
    int bad = 0;
    for (std::int64_t r = 0; r < count; ++r) {
      const std::int32_t id = got_rows[static_cast<std::size_t>(r)];
      for (std::int64_t d = 0; d < D; ++d) {
        const float g = got[static_cast<std::size_t>(r * D + d)];
        if (length[id] <= 128) {
          bad += g != sequential[id][static_cast<std::size_t>(d)];  // one segment: the CPU's order and bits
        } else {
          // float32 summation bound: n ulp-sized errors on the magnitudes.
          const double bound = 1.2e-7 * length[id] * magnitude[id][static_cast<std::size_t>(d)];
          bad += std::fabs(g - exact[id][static_cast<std::size_t>(d)]) > bound;
        }
      }
    }
    CHECK(bad == 0);
    if (run == 0) first = got;
    else CHECK(got == first);
  }
  CHECK(length[5] >= 1000);
}
