// A stable sort of (row id, code) pairs by id, for building row-sparse
// gradients in id order without a row map.
#pragma once

#include <cstdint>

namespace limelight::cpu {

// Sorts (id, code) pairs by id, keeping the codes of one id in their input
// order: least-significant-digit radix passes over the bits ids in [0, V)
// use. O(n) per pass whatever V is. ids[1] and codes[1] are spare buffers of
// n entries; the result is in ids[0]/codes[0] or in the spare pair,
// whichever the last pass wrote, returned as the pair's index.
int stable_sort_by_id(std::int32_t* ids[2], std::int32_t* codes[2], std::int64_t n, std::int64_t V);

}  // namespace limelight::cpu
