// CUB's DeviceRadixSort::SortPairs as the CPU emulator provides it: a stable
// sort of (key, value) pairs by the key bits [begin_bit, end_bit), which is
// what CUB's radix sort computes. The two-phase protocol is kept: a call
// with no temporary storage asks for its size, and a later call with less
// than that, or with pointers outside device memory, fails as CUB would.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <type_traits>
#include <vector>

namespace cub {

struct DeviceRadixSort {
  template <class Key, class Value, class NumItems>
  static cudaError_t SortPairs(void* temp_storage, std::size_t& temp_storage_bytes, const Key* keys_in, Key* keys_out,
                               const Value* values_in, Value* values_out, NumItems num_items, int begin_bit = 0,
                               int end_bit = sizeof(Key) * 8, cudaStream_t stream = nullptr) {
    static_assert(std::is_unsigned_v<Key>, "the emulator's radix sort takes unsigned keys, as the backend passes");
    const auto n = static_cast<std::size_t>(num_items);
    const std::size_t needed = n * (sizeof(Key) + sizeof(Value)) + 256;
    if (!temp_storage) {
      temp_storage_bytes = needed;
      return cudaSuccess;
    }
    if (temp_storage_bytes < needed || begin_bit < 0 || end_bit > static_cast<int>(sizeof(Key) * 8) ||
        begin_bit >= end_bit || !cuda_emulator::is_live_stream(stream) ||
        !cuda_emulator::is_device_range(temp_storage, temp_storage_bytes) ||
        !cuda_emulator::is_device_range(keys_in, n * sizeof(Key)) ||
        !cuda_emulator::is_device_range(keys_out, n * sizeof(Key)) ||
        !cuda_emulator::is_device_range(values_in, n * sizeof(Value)) ||
        !cuda_emulator::is_device_range(values_out, n * sizeof(Value)))
      return cuda_emulator::record_error(cudaErrorInvalidValue);
    // Queued on the stream, as CUB's kernels are.
    cuda_emulator::enqueue(stream, [=] {
      const int bits = end_bit - begin_bit;
      const Key mask = bits >= static_cast<int>(sizeof(Key) * 8) ? static_cast<Key>(~Key{0})
                                                                  : static_cast<Key>((Key{1} << bits) - 1);
      auto digit = [&](Key k) { return static_cast<Key>((k >> begin_bit) & mask); };
      std::vector<std::size_t> order(n);
      std::iota(order.begin(), order.end(), std::size_t{0});
      std::stable_sort(order.begin(), order.end(),
                       [&](std::size_t a, std::size_t b) { return digit(keys_in[a]) < digit(keys_in[b]); });
      std::vector<Key> keys(n);
      std::vector<Value> values(n);
      for (std::size_t i = 0; i < n; ++i) {
        keys[i] = keys_in[order[i]];
        values[i] = values_in[order[i]];
      }
      std::copy(keys.begin(), keys.end(), keys_out);
      std::copy(values.begin(), values.end(), values_out);
    });
    return cudaSuccess;
  }
};

}  // namespace cub
