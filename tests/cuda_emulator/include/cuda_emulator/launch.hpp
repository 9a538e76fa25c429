// Kernel launch on the emulator: `launch(kernel, grid, block, shared,
// stream)(args...)` is what LL_LAUNCH (kernels/common.cuh) expands to in an
// emulator build, the counterpart of `kernel<<<grid, block, shared,
// stream>>>(args...)`. The arguments are converted to the kernel's
// parameter types and copied once, as CUDA copies them into the launch; the
// launch then runs to completion before it returns (streams are in order,
// and the emulator has one stream of execution).
#pragma once

#include <cstddef>
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "cuda_emulator/kernel_language.hpp"

struct CUstream_st;

namespace cuda_emulator {

// Checks the configuration like the CUDA runtime (a bad one sets the
// thread's last error, cudaErrorInvalidConfiguration, and runs nothing),
// then runs every block of the grid. Launches are serialised process-wide.
void run_grid(dim3 grid, dim3 block, std::size_t dynamic_shared_bytes, CUstream_st* stream,
              const std::function<void()>& thread_body);

template <class... Params>
class Launch {
 public:
  Launch(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t shared, CUstream_st* stream)
      : kernel_(kernel), grid_(grid), block_(block), shared_(shared), stream_(stream) {}

  template <class... Args>
  void operator()(Args&&... args) const {
    static_assert(sizeof...(Args) == sizeof...(Params), "kernel launched with the wrong number of arguments");
    const std::tuple<std::decay_t<Params>...> copied(std::forward<Args>(args)...);
    run_grid(grid_, block_, shared_, stream_, [&] { std::apply(kernel_, copied); });
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
