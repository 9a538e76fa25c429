// The pieces of the float32 catalogue scan (scoring.cpp) that the int8 table
// (quantised_table.cpp) reuses: its rescoring recomputes a block with the
// float32 path's own call, so that it returns the float32 path's scores, and
// offers scores to the same per-row heaps in the same way.
#pragma once

#include <cstdint>

#include "backend/backend.hpp"
#include "backend/cpu/top_k_heap.hpp"

namespace limelight::cpu {

using ScoredHeap = BoundedHeap<backend::ScoredItem>;

// Items per block of the catalogue pass: 64 KiB of a D = 32 table, 128 KiB
// of scores for 64 rows. Block boundaries do not depend on the thread count,
// so neither do scores.
inline constexpr std::int64_t score_block = 512;

// `rows` final states (D floats each, 2 M D for the mixture head) against
// the (V, D) item table and its (V) biases.
struct Catalogue {
  const float* states;
  std::int64_t rows;
  const float* table;
  const float* bias;
  std::int64_t V, D, M;
};

// Scores of items [v0, v0 + n) for every row into out (rows, ld); `work`
// holds 2 M score_block floats for the mixture head.
void score_block_into(const Catalogue& c, std::int64_t v0, std::int64_t n, float* out, std::int64_t ld, float* work);

// Offers the scores s[0, n) of items v0 + i, in id order, to a row's heap in
// groups of `group`, skipping the excluded items and, once the heap is full,
// every group with no score above its worst. (Its definition carries
// LL_SIMD_CLONES; a declaration with it would make each caller's file build
// a resolver of its own over clones it cannot see.)
void offer_scores(ScoredHeap& heap, const float* s, std::int64_t n, std::int64_t v0, const unsigned char* excluded,
                  std::int64_t group);
// offer_scores in groups of 8, never inlined into a scan (scoring.cpp says why).
void offer_scores_outlined(ScoredHeap& heap, const float* s, std::int64_t n, std::int64_t v0,
                           const unsigned char* excluded);

}  // namespace limelight::cpu
