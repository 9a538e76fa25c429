// CUB's DeviceScan::ExclusiveSum as the CPU emulator provides it
// (std::exclusive_scan), with CUB's two-phase temporary-storage protocol and
// checks that the ranges are device memory. In-place scans are allowed, as
// in CUB.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <numeric>
#include <vector>

namespace cub {

struct DeviceScan {
  template <class In, class Out, class NumItems>
  static cudaError_t ExclusiveSum(void* temp_storage, std::size_t& temp_storage_bytes, const In* in, Out* out,
                                  NumItems num_items, cudaStream_t stream = nullptr) {
    const auto n = static_cast<std::size_t>(num_items);
    const std::size_t needed = 256;
    if (!temp_storage) {
      temp_storage_bytes = needed;
      return cudaSuccess;
    }
    if (temp_storage_bytes < needed || !cuda_emulator::is_live_stream(stream) ||
        !cuda_emulator::is_device_range(temp_storage, temp_storage_bytes) ||
        !cuda_emulator::is_device_range(in, n * sizeof(In)) || !cuda_emulator::is_device_range(out, n * sizeof(Out)))
      return cuda_emulator::record_error(cudaErrorInvalidValue);
    cuda_emulator::enqueue(stream, [=] {  // queued on the stream, as CUB's kernels are
      const std::vector<In> copy(in, in + n);
      std::exclusive_scan(copy.begin(), copy.end(), out, Out{});
    });
    return cudaSuccess;
  }
};

}  // namespace cub
