// The k best of a stream of scored items, under "higher score, then lower
// id": a total order on distinct items, so the k best are unique and do not
// depend on the order the items arrive in or on how a catalogue is split
// between threads. The catalogue top-k of the CPU backend (scoring.cpp,
// quantised_table.cpp) and a streaming session's recommend
// (src/model/session/scoring.cpp) keep them in this one heap, so that their
// answers, ties included, are ordered alike.
#pragma once

#include <algorithm>
#include <cstddef>

namespace limelight::cpu {

// better(a, b): a ranks above b. Item is any {item, score} pair
// (backend::ScoredItem, Recommendation).
struct Better {
  template <class Item>
  bool operator()(const Item& a, const Item& b) const {
    return a.score > b.score || (a.score == b.score && a.item < b.item);
  }
};
inline constexpr Better better{};

// A min-heap of the best `cap` so far (the worst on top, items[0]) in caller
// memory; `size` items of it are in use.
template <class Item>
struct BoundedHeap {
  BoundedHeap(Item* heap_items, std::size_t heap_size, std::size_t heap_cap)
      : items(heap_items), size(heap_size), cap(heap_cap) {}

  Item* items;
  std::size_t size, cap;

  bool full() const { return size == cap; }
  void offer(const Item& r) {
    if (size < cap) {
      items[size++] = r;
      std::push_heap(items, items + size, better);
    } else if (better(r, items[0])) {
      std::pop_heap(items, items + size, better);
      items[size - 1] = r;
      std::push_heap(items, items + size, better);
    }
  }
  // The items best first; the heap is spent.
  void sort() { std::sort_heap(items, items + size, better); }
};

}  // namespace limelight::cpu
