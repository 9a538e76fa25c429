// The items a session has seen (Session::seen_): a set with linear probing
// in a flat array of (item + 1, count) pairs, 0 marking an empty slot, whose
// slot count is a power of two. An unbounded session only adds, and grows
// the array to keep its load at most 1/2; a bounded one counts each item's
// occurrences in its window and removes one as it leaves, in an array of
// 2 max_events slots that never grows.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace limelight::detail::seen_set {

inline constexpr std::int64_t kMinSlots = 16;

// Slots for `distinct` items at a load of at most 1/2.
inline std::int64_t slots_for(std::int64_t distinct) {
  return std::max<std::int64_t>(kMinSlots,
                                static_cast<std::int64_t>(std::bit_ceil(static_cast<std::uint64_t>(2 * distinct))));
}

inline std::int64_t home(std::int32_t item, std::int64_t slots) {
  const std::uint32_t h = static_cast<std::uint32_t>(item) * 2654435769u;
  return static_cast<std::int64_t>(h >> (32 - std::countr_zero(static_cast<std::uint64_t>(slots))));
}

// The slot holding `item`, or the empty slot where it would go.
inline std::int64_t find(const std::vector<std::int32_t>& table, std::int32_t item) {
  const std::int64_t slots = static_cast<std::int64_t>(table.size()) / 2, mask = slots - 1;
  for (std::int64_t i = home(item, slots);; i = (i + 1) & mask) {
    const std::int32_t key = table[static_cast<std::size_t>(2 * i)];
    if (key == 0 || key == item + 1) return i;
  }
}

inline bool has(const std::vector<std::int32_t>& table, std::int32_t item) {
  return table[static_cast<std::size_t>(2 * find(table, item))] != 0;
}

// Places an item known to be absent, with its count (rehashing).
inline void insert(std::vector<std::int32_t>& table, std::int32_t item, std::int32_t count) {
  const std::int64_t slots = static_cast<std::int64_t>(table.size()) / 2, mask = slots - 1;
  std::int64_t i = home(item, slots);
  while (table[static_cast<std::size_t>(2 * i)] != 0) i = (i + 1) & mask;
  table[static_cast<std::size_t>(2 * i)] = item + 1;
  table[static_cast<std::size_t>(2 * i + 1)] = count;
}

// One more occurrence of `item`; `size` counts the distinct items. With
// `grows` (an unbounded session) the array doubles before the load passes 1/2.
inline void add(std::vector<std::int32_t>& table, std::int64_t& size, bool grows, std::int32_t item) {
  if (grows && 2 * (size + 1) > static_cast<std::int64_t>(table.size()) / 2) {
    std::vector<std::int32_t> grown(table.size() * 2, 0);
    for (std::size_t i = 0; i < table.size(); i += 2)
      if (table[i] != 0) insert(grown, table[i] - 1, table[i + 1]);
    table.swap(grown);
  }
  const std::size_t i = static_cast<std::size_t>(2 * find(table, item));
  if (table[i] == 0) {
    table[i] = item + 1;
    table[i + 1] = 0;
    ++size;
  }
  ++table[i + 1];
}

// One occurrence of `item` fewer (bounded sessions: it has left the window).
inline void remove(std::vector<std::int32_t>& table, std::int64_t& size, std::int32_t item) {
  const std::int64_t slots = static_cast<std::int64_t>(table.size()) / 2, mask = slots - 1;
  std::int64_t i = find(table, item);
  std::int32_t* t = table.data();
  if (t[2 * i] == 0 || --t[2 * i + 1] > 0) return;
  --size;
  // Backward-shift deletion keeps every probe chain unbroken.
  for (std::int64_t j = (i + 1) & mask; t[2 * j] != 0; j = (j + 1) & mask) {
    const std::int64_t k = home(t[2 * j] - 1, slots);
    const bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
    if (stays) continue;
    t[2 * i] = t[2 * j];
    t[2 * i + 1] = t[2 * j + 1];
    i = j;
  }
  t[2 * i] = 0;
  t[2 * i + 1] = 0;
}

}  // namespace limelight::detail::seen_set
