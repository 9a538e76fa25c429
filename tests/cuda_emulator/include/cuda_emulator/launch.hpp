// Kernel launch on the emulator: `launch(kernel, grid, block, shared,
// stream)(args...)` is what LL_LAUNCH (kernels/common.cuh) expands to in an
// emulator build, the counterpart of `kernel<<<grid, block, shared,
// stream>>>(args...)`. The arguments are converted to the kernel's
// parameter types and copied once, as CUDA copies them into the launch, and
// the grid is queued on the stream (cuda_emulator/streams.hpp): it runs on
// the stream's worker after the work queued there before.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

#include "cuda_emulator/kernel_language.hpp"

struct CUstream_st;

namespace cuda_emulator {

// Checks the configuration like the CUDA runtime (a bad one sets the
// thread's last error, cudaErrorInvalidConfiguration, and queues nothing),
// then queues the grid on the stream: its blocks one after another, each of
// its threads running thread_body.
void run_grid(dim3 grid, dim3 block, std::size_t dynamic_shared_bytes, CUstream_st* stream,
              std::function<void()> thread_body);

// Warp-wide shuffle and ballot instructions run so far in the process, each
// counted once per warp (what a GPU issues): what a kernel's design costs in
// cross-lane traffic, read before and after a call.
std::uint64_t warp_shuffles();

template <class... Params>
class Launch {
 public:
  Launch(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t shared, CUstream_st* stream)
      : kernel_(kernel), grid_(grid), block_(block), shared_(shared), stream_(stream) {}

  template <class... Args>
  void operator()(Args&&... args) const {
    static_assert(sizeof...(Args) == sizeof...(Params), "kernel launched with the wrong number of arguments");
    auto copied = std::make_shared<const std::tuple<std::decay_t<Params>...>>(std::forward<Args>(args)...);
    run_grid(grid_, block_, shared_, stream_, [kernel = kernel_, copied] { std::apply(kernel, *copied); });
  }

 private:
  void (*kernel_)(Params...);
  dim3 grid_, block_;
  std::size_t shared_;
  CUstream_st* stream_;
};

template <class... Params>
Launch<Params...> launch(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t shared, CUstream_st* stream) {
  return Launch<Params...>(kernel, grid, block, shared, stream);
}

}  // namespace cuda_emulator
