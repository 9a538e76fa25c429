// The radix sort of sort_by_id.hpp.
#include "backend/cpu/sort_by_id.hpp"

#include <algorithm>

namespace limelight::cpu {

int stable_sort_by_id(std::int32_t* ids[2], std::int32_t* codes[2], std::int64_t n, std::int64_t V) {
  int bits = 0;
  while (bits < 31 && (std::int64_t{1} << bits) < V) ++bits;
  // Digits of up to 12 bits (two passes for ids below 16M): each pass is a
  // serial walk over the entries, and a 4096-bucket histogram still sits
  // in L1.
  const int passes = std::max(1, (bits + 11) / 12);
  const int digit = (bits + passes - 1) / passes;
  const std::int32_t mask = (std::int32_t{1} << digit) - 1;
  std::int64_t start[(1 << 12) + 1];
  int from = 0;
  for (int shift = 0; shift < bits; shift += digit) {
    std::fill_n(start, mask + 2, std::int64_t{0});
    for (std::int64_t i = 0; i < n; ++i) ++start[((ids[from][i] >> shift) & mask) + 1];
    for (std::int32_t b = 0; b < mask; ++b) start[b + 1] += start[b];
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t at = start[(ids[from][i] >> shift) & mask]++;
      ids[1 - from][at] = ids[from][i];
      codes[1 - from][at] = codes[from][i];
    }
    from = 1 - from;
  }
  return from;
}

}  // namespace limelight::cpu
