// Serving on the CPU: final states scored against the whole catalogue (one
// GEMV for a single sequence, a GEMM for several, the mixture head over the
// GEMM's dot products) and the top k by a bounded heap.
#include <algorithm>
#include <cstring>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/mixture_head.hpp"

namespace limelight::cpu {

void CpuBackend::score_catalogue(const float* states, std::int64_t rows, const float* table, const float* bias,
                                 std::int64_t V, std::int64_t D, std::int64_t M, float* scores, Arena& scratch) {
  if (M == 0) {
    for (std::int64_t r = 0; r < rows; ++r) std::memcpy(scores + r * V, bias, sizeof(float) * V);
    // One sequence is a matrix-vector product; a GEMM would repack the table on every call.
    if (rows == 1)
      gemv(false, V, D, 1.0f, table, D, states, 1.0f, scores);
    else
      gemm(false, true, rows, V, D, 1.0f, states, D, table, D, 1.0f, scores, V);
    return;
  }
  Tensor dots = scratch.tensor(Shape{2 * M, V});  // taste and attention dot products with every item
  float* p = dots.f32();
  float w[64 * mix_block];
  for (std::int64_t r = 0; r < rows; ++r) {
    gemm(false, true, 2 * M, V, D, 1.0f, states + r * 2 * M * D, D, table, D, 0.0f, p, V);
    float* out = scores + r * V;
    for (std::int64_t v0 = 0; v0 < V; v0 += mix_block) {
      const std::int64_t count = std::min(mix_block, V - v0);
      mixture_mix(p + M * V + v0, p + v0, V, M, count, w, out + v0);
      for (std::int64_t i = 0; i < count; ++i) out[v0 + i] += bias[v0 + i];
    }
  }
}

std::size_t CpuBackend::top_k(const float* scores, std::int64_t V, const unsigned char* excluded, int k,
                              ScoredItem* out) {
  // A min-heap of the best k so far (worst on top); better = higher score, then lower id.
  auto better = [](const ScoredItem& a, const ScoredItem& b) {
    return a.score > b.score || (a.score == b.score && a.item < b.item);
  };
  std::size_t n = 0;
  const std::size_t cap = static_cast<std::size_t>(k);
  for (std::int32_t v = 0; v < V; ++v) {
    if (excluded[v]) continue;
    const ScoredItem r{v, scores[v]};
    if (n < cap) {
      out[n++] = r;
      std::push_heap(out, out + n, better);
    } else if (better(r, out[0])) {
      std::pop_heap(out, out + n, better);
      out[n - 1] = r;
      std::push_heap(out, out + n, better);
    }
  }
  std::sort_heap(out, out + n, better);
  return n;
}

}  // namespace limelight::cpu
