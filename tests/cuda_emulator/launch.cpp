// The emulator's execution of a grid: blocks one after another, and each
// CUDA thread of a block a fiber (its own stack, switched in user space) on
// the OS thread of the stream it was queued on (cuda_emulator/streams.hpp,
// cuda_emulator/kernel_language.hpp).
//
// Why fibers: the kernels synchronise often (every shuffle is two warp
// barriers), and a barrier of OS threads costs a futex wake and a trip
// through the kernel's scheduler per thread; with one OS thread per CUDA
// thread the suite spent most of its time there. A fiber switch is a few
// instructions.
//
// Scheduling: passes over the block's threads resume, in thread order and
// the reverse order on alternate passes, each thread that has not returned
// and whose barrier has opened; it runs until it waits at a barrier or
// returns. A barrier opens when every thread still in the kernel has
// arrived; a thread that returns leaves the block's barrier and its warp's,
// as an exited thread no longer counts on the GPU. A pass in which no thread
// can run is a deadlock (threads waiting at different barriers, which hangs
// a GPU) and aborts with a message. Alternating the order makes a kernel
// that reads another thread's write without a barrier between more likely
// to give wrong answers in plain runs too; ThreadSanitizer is what finds
// such a read for certain.
//
// ThreadSanitizer: each CUDA thread is its own TSan fiber, and switches
// establish no happens-before. Barriers do (release on arrival, acquire on
// leaving, a sync object per phase parity so that leaving phase p does not
// acquire what faster threads released at phase p + 1), and so do the
// launch's start and end. A missing barrier is a reported race.
#include <cuda_runtime.h>
#include <sys/mman.h>

#include <atomic>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

// Set by tests/cuda_emulator/meson.build in ThreadSanitizer builds, which
// compile this file uninstrumented.
#ifndef CUDA_EMULATOR_TSAN
#define CUDA_EMULATOR_TSAN 0
#endif
#if CUDA_EMULATOR_TSAN
#include <sanitizer/tsan_interface.h>
#endif

#if !defined(__x86_64__)
#error "the emulator's fibers switch stacks in x86-64 assembly (cuda_emulator_switch in launch.cpp): port it first"
#endif

thread_local uint3 threadIdx{0, 0, 0};
thread_local uint3 blockIdx{0, 0, 0};
thread_local dim3 blockDim{1, 1, 1};
thread_local dim3 gridDim{1, 1, 1};

extern "C" {
// Pushes the System V callee-saved registers, MXCSR and the x87 control word,
// stores the stack pointer in *save and continues on the stack `load` points
// to, popping the same from there.
void cuda_emulator_switch(void** save, void* load);
// A fresh fiber's first return address: calls cuda_emulator_fiber_main with
// the fiber (from rbx), which never returns.
void cuda_emulator_fiber_start();
[[noreturn]] __attribute__((visibility("hidden"))) void cuda_emulator_fiber_main(void* fiber);
}

asm(R"(
  .text
  .globl cuda_emulator_switch
  .hidden cuda_emulator_switch
  .type cuda_emulator_switch, @function
cuda_emulator_switch:
  .cfi_startproc
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .cfi_endproc
  .size cuda_emulator_switch, .-cuda_emulator_switch

  .globl cuda_emulator_fiber_start
  .hidden cuda_emulator_fiber_start
  .type cuda_emulator_fiber_start, @function
cuda_emulator_fiber_start:
  .cfi_startproc
  .cfi_undefined rip
  movq %rbx, %rdi
  call cuda_emulator_fiber_main
  ud2
  .cfi_endproc
  .size cuda_emulator_fiber_start, .-cuda_emulator_fiber_start
)");

namespace cuda_emulator {

namespace {

constexpr std::size_t max_dynamic_shared = 48 * 1024;  // without the opt-in attribute, as on the GPU
constexpr unsigned max_threads_per_block = 1024;
constexpr std::size_t fiber_stack_bytes = 256 * 1024;  // kernels keep small arrays in "registers"
constexpr std::size_t guard_bytes = 4096;              // below each stack: an overflow faults

[[noreturn]] void misuse(const char* what) {
  std::fprintf(stderr, "cuda emulator: %s\n", what);
  std::abort();
}

void tsan_release([[maybe_unused]] void* sync_object) {
#if CUDA_EMULATOR_TSAN
  __tsan_release(sync_object);
#endif
}

void tsan_acquire([[maybe_unused]] void* sync_object) {
#if CUDA_EMULATOR_TSAN
  __tsan_acquire(sync_object);
#endif
}

struct Barrier;

// One CUDA thread index of every launch on this OS thread: fiber i always
// runs thread i, on its own stack.
struct Fiber {
  explicit Fiber(unsigned thread_index) : index(thread_index) {
    void* mapping = mmap(nullptr, guard_bytes + fiber_stack_bytes, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (mapping == MAP_FAILED) misuse("no memory for a CUDA thread's stack");
    if (mprotect(mapping, guard_bytes, PROT_NONE) != 0) misuse("cannot protect a CUDA thread's stack guard");
    stack = mapping;
    // The frame cuda_emulator_switch pops: MXCSR and the x87 control word,
    // r15, r14, r13, r12, rbx (the fiber), rbp, then the return address
    // cuda_emulator_fiber_start, which thus starts with a 16-byte aligned
    // stack as a call would leave it.
    auto* top = reinterpret_cast<std::uint64_t*>(static_cast<std::byte*>(mapping) + guard_bytes + fiber_stack_bytes);
    std::uint64_t* frame = top - 8;
    std::uint32_t control[2] = {0x1f80u, 0x037fu};  // the ABI's initial MXCSR and x87 control word
    std::memcpy(&frame[0], control, sizeof(control));
    frame[1] = frame[2] = frame[3] = frame[4] = 0;
    frame[5] = reinterpret_cast<std::uint64_t>(this);
    frame[6] = 0;
    frame[7] = reinterpret_cast<std::uint64_t>(&cuda_emulator_fiber_start);
    saved_sp = frame;
#if CUDA_EMULATOR_TSAN
    tsan_fiber = __tsan_create_fiber(0);
#endif
  }
  ~Fiber() {
#if CUDA_EMULATOR_TSAN
    __tsan_destroy_fiber(tsan_fiber);
#endif
    munmap(stack, guard_bytes + fiber_stack_bytes);
  }
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;

  unsigned index;
  void* stack = nullptr;
  void* saved_sp = nullptr;
  bool returned = false;          // from the kernel, in the running block
  Barrier* waiting_at = nullptr;  // and the phase it waits to see end
  std::uint64_t waiting_phase = 0;
#if CUDA_EMULATOR_TSAN
  void* tsan_fiber = nullptr;
#endif
};

// The launches of one OS thread (a stream's worker): its fibers and where
// they switch back to.
struct Scheduler {
  std::vector<std::unique_ptr<Fiber>> fibers;
  Fiber* running = nullptr;
  void* host_sp = nullptr;
#if CUDA_EMULATOR_TSAN
  void* host_tsan_fiber = nullptr;
#endif
  const std::function<void()>* thread_body = nullptr;
  // TSan's sync objects: the worker releases block_start before a block and
  // acquires block_end after it; two, so that a thread starting after
  // another returned is not ordered after it.
  char block_start = 0, block_end = 0;
};

thread_local Scheduler scheduler;

void yield_to_host() {
  Fiber& self = *scheduler.running;
#if CUDA_EMULATOR_TSAN
  __tsan_switch_to_fiber(scheduler.host_tsan_fiber, __tsan_switch_to_fiber_no_sync);
#endif
  cuda_emulator_switch(&self.saved_sp, scheduler.host_sp);
}

// __syncthreads and the warp's barrier: opens when every thread still in the
// kernel has arrived.
struct Barrier {
  explicit Barrier(unsigned threads) : expected(threads) {}
  void arrive_and_wait() {
    const std::uint64_t mine = phase;
    tsan_release(&sync_objects[mine & 1]);
    if (++arrived == expected) {
      open();
    } else {
      Fiber& self = *scheduler.running;
      self.waiting_at = this;
      self.waiting_phase = mine;
      yield_to_host();
    }
    tsan_acquire(&sync_objects[mine & 1]);
  }
  // A returned thread: the others no longer wait for it.
  void drop() {
    --expected;
    if (arrived > 0 && arrived == expected) open();
  }
  bool opened_since(std::uint64_t p) const { return phase != p; }

 private:
  void open() {
    arrived = 0;
    ++phase;
  }
  unsigned expected, arrived = 0;
  std::uint64_t phase = 0;
  char sync_objects[2] = {};
};

struct Warp {
  explicit Warp(unsigned lane_count) : sync(lane_count), lanes(static_cast<int>(lane_count)) {}
  Barrier sync;
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
  Barrier sync;
  std::vector<std::unique_ptr<Warp>> warps;
  std::unique_ptr<std::byte[], AlignedDelete> shared;
};

// The running block and the calling CUDA thread's linear index within it
// (set at every switch into a fiber).
thread_local Block* current_block = nullptr;
thread_local unsigned current_thread = 0;

Block& block() {
  if (!current_block) misuse("a device function was called outside a kernel");
  return *current_block;
}

Warp& warp() { return *block().warps[current_thread / 32]; }

bool valid_configuration(dim3 grid, dim3 block, std::size_t shared) {
  const unsigned long long threads = static_cast<unsigned long long>(block.x) * block.y * block.z;
  return threads >= 1 && threads <= max_threads_per_block && block.x <= 1024 && block.y <= 1024 && block.z <= 64 &&
         grid.x >= 1 && grid.x <= 0x7fffffffu && grid.y >= 1 && grid.y <= 65535 && grid.z >= 1 &&
         grid.z <= 65535 && shared <= max_dynamic_shared;
}

// One CUDA thread's turn in one block, on its fiber.
__attribute__((noinline)) void run_thread_of_block() {
  Fiber& self = *scheduler.running;
  tsan_acquire(&scheduler.block_start);  // the host's writes and the blocks before
  (*scheduler.thread_body)();
  Block& b = block();
  b.sync.drop();
  b.warps[self.index / 32]->sync.drop();
  tsan_release(&scheduler.block_end);
  self.returned = true;
}

void resume(Fiber& fiber, dim3 block_dim) {
  scheduler.running = &fiber;
  current_thread = fiber.index;
  threadIdx = uint3{fiber.index % block_dim.x, fiber.index / block_dim.x % block_dim.y,
                    fiber.index / (block_dim.x * block_dim.y)};
#if CUDA_EMULATOR_TSAN
  __tsan_switch_to_fiber(fiber.tsan_fiber, __tsan_switch_to_fiber_no_sync);
#endif
  cuda_emulator_switch(&scheduler.host_sp, fiber.saved_sp);
  scheduler.running = nullptr;
}

void run_block(unsigned threads, dim3 block_dim) {
  for (unsigned t = 0; t < threads; ++t) {
    Fiber& f = *scheduler.fibers[t];
    f.returned = false;
    f.waiting_at = nullptr;
  }
  unsigned left = threads;
  bool forward = true;
  while (left > 0) {
    bool ran = false;
    for (unsigned i = 0; i < threads; ++i) {
      Fiber& f = *scheduler.fibers[forward ? i : threads - 1 - i];
      if (f.returned) continue;
      if (f.waiting_at) {
        if (!f.waiting_at->opened_since(f.waiting_phase)) continue;
        f.waiting_at = nullptr;
      }
      resume(f, block_dim);
      ran = true;
      if (f.returned) --left;
    }
    if (!ran)
      misuse("deadlock: the threads still in a block wait at different barriers "
             "(__syncthreads or a warp operation not reached by all of them)");
    forward = !forward;
  }
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

namespace {
// Warp-wide shuffle and ballot instructions: counted once per warp, by its
// lowest lane in the mask, as a GPU issues one instruction for the warp.
std::atomic<std::uint64_t> warp_exchanges{0};

void count_exchange(unsigned mask, int lane) {
  if (lane == std::countr_zero(mask)) warp_exchanges.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

std::uint64_t warp_shuffles() { return warp_exchanges.load(std::memory_order_relaxed); }

std::uint64_t exchange_in_warp(unsigned mask, std::uint64_t bits, int source_lane) {
  Warp& w = warp();
  const int lane = static_cast<int>(current_thread % 32);
  if (!(mask >> lane & 1u)) misuse("a shuffle by a lane outside its mask");
  count_exchange(mask, lane);
  w.slots[lane] = bits;
  w.sync.arrive_and_wait();  // every lane has published
  const std::uint64_t out = source_lane >= 0 && source_lane < w.lanes ? w.slots[source_lane] : bits;
  w.sync.arrive_and_wait();  // every lane has read before the slots are reused
  return out;
}

void* dynamic_shared_memory() { return block().shared.get(); }

namespace {

// One grid on the calling OS thread (a stream's worker).
void execute_grid(dim3 grid, dim3 block_dim, std::size_t shared_bytes, const std::function<void()>& thread_body) {
  const unsigned threads = block_dim.x * block_dim.y * block_dim.z;
  while (scheduler.fibers.size() < threads)
    scheduler.fibers.push_back(std::make_unique<Fiber>(static_cast<unsigned>(scheduler.fibers.size())));
  scheduler.thread_body = &thread_body;
#if CUDA_EMULATOR_TSAN
  scheduler.host_tsan_fiber = __tsan_get_current_fiber();
#endif
  blockDim = block_dim;
  gridDim = grid;
  const unsigned long long blocks = static_cast<unsigned long long>(grid.x) * grid.y * grid.z;
  for (unsigned long long b = 0; b < blocks; ++b) {
    blockIdx = uint3{static_cast<unsigned>(b % grid.x), static_cast<unsigned>(b / grid.x % grid.y),
                     static_cast<unsigned>(b / (static_cast<unsigned long long>(grid.x) * grid.y))};
    Block running(threads, shared_bytes);
    current_block = &running;
    tsan_release(&scheduler.block_start);  // the worker's view (what it was queued after), fresh shared memory
    run_block(threads, block_dim);
    tsan_acquire(&scheduler.block_end);  // before the block's memory is freed, and what the stream runs next
    current_block = nullptr;
  }
  scheduler.thread_body = nullptr;
}

}  // namespace

void run_grid(dim3 grid, dim3 block_dim, std::size_t shared_bytes, CUstream_st* stream,
              std::function<void()> thread_body) {
  if (!is_live_stream(stream)) {
    record_error(cudaErrorInvalidResourceHandle);
    return;
  }
  if (!valid_configuration(grid, block_dim, shared_bytes)) {
    record_error(cudaErrorInvalidConfiguration);
    return;
  }
  if (current_block) misuse("a kernel launched from inside a kernel");
  count_launch();
  enqueue(stream, [grid, block_dim, shared_bytes, body = std::move(thread_body)] {
    execute_grid(grid, block_dim, shared_bytes, body);
  });
}

}  // namespace cuda_emulator

// A fiber's whole life: one turn per block it takes part in, parked in
// between (and between launches) where it yields.
extern "C" void cuda_emulator_fiber_main(void*) {
  for (;;) {
    cuda_emulator::run_thread_of_block();
    cuda_emulator::yield_to_host();
  }
}

unsigned __ballot_sync(unsigned mask, int predicate) {
  using namespace cuda_emulator;
  Warp& w = warp();
  const int lane = static_cast<int>(current_thread % 32);
  if (!(mask >> lane & 1u)) misuse("a ballot by a lane outside its mask");
  count_exchange(mask, lane);
  w.slots[lane] = predicate ? 1 : 0;
  w.sync.arrive_and_wait();
  unsigned out = 0;
  for (int l = 0; l < w.lanes; ++l) out |= static_cast<unsigned>(w.slots[l]) << l;
  w.sync.arrive_and_wait();
  return out;
}
