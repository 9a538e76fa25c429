// The emulator's execution of a grid: one OS thread per CUDA thread of a
// block, blocks one after another (see cuda_emulator/kernel_language.hpp).
//
// The threads of a launch are made once and run every block in turn. Per
// block there is a fresh block barrier (__syncthreads), one barrier per warp
// (shuffles, __syncwarp) and the dynamic shared memory; a thread that
// returns from the kernel leaves both barriers, then waits at the barrier
// between blocks, whose completion step sets up the next block.
#include <cuda_runtime.h>

#include <barrier>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

thread_local uint3 threadIdx{0, 0, 0};
thread_local uint3 blockIdx{0, 0, 0};
thread_local dim3 blockDim{1, 1, 1};
thread_local dim3 gridDim{1, 1, 1};

namespace cuda_emulator {

namespace {

constexpr std::size_t max_dynamic_shared = 48 * 1024;  // without the opt-in attribute, as on the GPU
constexpr unsigned max_threads_per_block = 1024;

[[noreturn]] void misuse(const char* what) {
  std::fprintf(stderr, "cuda emulator: %s\n", what);
  std::abort();
}

struct Warp {
  explicit Warp(std::ptrdiff_t lanes) : sync(lanes), lanes(static_cast<int>(lanes)) {}
  std::barrier<> sync;
  int lanes;
  std::uint64_t slots[32] = {};
};

struct Block {
  Block(unsigned threads, std::size_t shared_bytes) : sync(threads) {
    for (unsigned first = 0; first < threads; first += 32)
      warps.push_back(std::make_unique<Warp>(std::min<unsigned>(32, threads - first)));
    if (shared_bytes) {
      shared.reset(new (std::align_val_t{16}) std::byte[shared_bytes]);
      std::memset(shared.get(), 0xff, shared_bytes);
    }
  }
  struct AlignedDelete {
    void operator()(std::byte* p) const { ::operator delete[](p, std::align_val_t{16}); }
  };
  std::barrier<> sync;
  std::vector<std::unique_ptr<Warp>> warps;
  std::unique_ptr<std::byte[], AlignedDelete> shared;
};

// The calling CUDA thread's block and linear index within it.
thread_local Block* current_block = nullptr;
thread_local unsigned current_thread = 0;

Block& block() {
  if (!current_block) misuse("a device function was called outside a kernel");
  return *current_block;
}

Warp& warp() { return *block().warps[current_thread / 32]; }

std::mutex& device_mutex() {
  static std::mutex m;
  return m;
}

bool valid_configuration(dim3 grid, dim3 block, std::size_t shared) {
  const unsigned long long threads = static_cast<unsigned long long>(block.x) * block.y * block.z;
  return threads >= 1 && threads <= max_threads_per_block && block.x <= 1024 && block.y <= 1024 && block.z <= 64 &&
         grid.x >= 1 && grid.x <= 0x7fffffffu && grid.y >= 1 && grid.y <= 65535 && grid.z >= 1 &&
         grid.z <= 65535 && shared <= max_dynamic_shared;
}

}  // namespace

void sync_block() { block().sync.arrive_and_wait(); }

void sync_warp(unsigned mask) {
  if (!(mask >> (current_thread % 32) & 1u)) misuse("__syncwarp by a lane outside its mask");
  warp().sync.arrive_and_wait();
}

int lane_id() {
  block();
  return static_cast<int>(current_thread % 32);
}

std::uint64_t exchange_in_warp(unsigned mask, std::uint64_t bits, int source_lane) {
  Warp& w = warp();
  const int lane = static_cast<int>(current_thread % 32);
  if (!(mask >> lane & 1u)) misuse("a shuffle by a lane outside its mask");
  w.slots[lane] = bits;
  w.sync.arrive_and_wait();  // every lane has published
  const std::uint64_t out = source_lane >= 0 && source_lane < w.lanes ? w.slots[source_lane] : bits;
  w.sync.arrive_and_wait();  // every lane has read before the slots are reused
  return out;
}

void* dynamic_shared_memory() { return block().shared.get(); }

void run_grid(dim3 grid, dim3 block_dim, std::size_t shared_bytes, CUstream_st* stream,
              const std::function<void()>& thread_body) {
  if (!is_live_stream(stream)) {
    record_error(cudaErrorInvalidResourceHandle);
    return;
  }
  if (!valid_configuration(grid, block_dim, shared_bytes)) {
    record_error(cudaErrorInvalidConfiguration);
    return;
  }
  if (current_block) misuse("a kernel launched from inside a kernel");
  std::lock_guard<std::mutex> lock(device_mutex());
  const unsigned threads = block_dim.x * block_dim.y * block_dim.z;
  const unsigned long long blocks = static_cast<unsigned long long>(grid.x) * grid.y * grid.z;
  unsigned long long block_index = 0;
  std::optional<Block> running(std::in_place, threads, shared_bytes);
  auto next_block = [&]() noexcept {
    running.reset();
    if (++block_index < blocks) running.emplace(threads, shared_bytes);
  };
  std::barrier between_blocks(threads, next_block);

  auto cuda_thread = [&](unsigned linear) {
    current_thread = linear;
    threadIdx = uint3{linear % block_dim.x, linear / block_dim.x % block_dim.y, linear / (block_dim.x * block_dim.y)};
    blockDim = block_dim;
    gridDim = grid;
    while (block_index < blocks) {
      const unsigned long long b = block_index;
      blockIdx = uint3{static_cast<unsigned>(b % grid.x), static_cast<unsigned>(b / grid.x % grid.y),
                       static_cast<unsigned>(b / (static_cast<unsigned long long>(grid.x) * grid.y))};
      current_block = &*running;
      thread_body();
      // An exited thread no longer takes part in __syncthreads or shuffles.
      running->sync.arrive_and_drop();
      running->warps[linear / 32]->sync.arrive_and_drop();
      current_block = nullptr;
      between_blocks.arrive_and_wait();
    }
  };
  std::vector<std::jthread> pool;
  pool.reserve(threads);
  for (unsigned t = 0; t < threads; ++t) pool.emplace_back(cuda_thread, t);
}

}  // namespace cuda_emulator

unsigned __ballot_sync(unsigned mask, int predicate) {
  using namespace cuda_emulator;
  Warp& w = warp();
  const int lane = static_cast<int>(current_thread % 32);
  if (!(mask >> lane & 1u)) misuse("a ballot by a lane outside its mask");
  w.slots[lane] = predicate ? 1 : 0;
  w.sync.arrive_and_wait();
  unsigned out = 0;
  for (int l = 0; l < w.lanes; ++l) out |= static_cast<unsigned>(w.slots[l]) << l;
  w.sync.arrive_and_wait();
  return out;
}
