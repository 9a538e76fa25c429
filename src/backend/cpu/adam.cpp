// Adam on the CPU, following PyTorch 1.13's single-tensor implementation
// operation by operation so that results match to rounding. Every element is
// updated independently, so splitting the elements (dense) or the touched
// rows (lazy) across threads gives the same bytes for any thread count.
#include <algorithm>
#include <cmath>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/cpu_math.hpp"
#include "backend/cpu/parallel.hpp"

namespace limelight::cpu {

namespace {
// One element of PyTorch's update; the float casts mirror its scalar handling.
inline void adam_element(float& p, float g, float& m, float& v, const backend::AdamStep& c) {
  if (c.weight_decay != 0.0f) g = g + c.weight_decay * p;
  m = m * c.beta1 + c.one_minus_beta1 * g;
  v = v * c.beta2 + c.one_minus_beta2 * g * g;
  const float denom = std::sqrt(v) / static_cast<float>(c.bias_correction2_sqrt) + c.eps;
  p = p + c.neg_step_size * m / denom;
}

// A span of elements, for the dense update and for each run of rows of the
// lazy one. The sqrt and the two divisions are what a core spends its time
// on (a 10M-item table's dense update ran at SSE width and was bound by
// them, not by memory), so the loop is cloned for wider units.
LL_SIMD_CLONES
void adam_span(float* __restrict w, const float* __restrict g, float* __restrict m, float* __restrict v, std::int64_t n,
               const backend::AdamStep c) {
  for (std::int64_t k = 0; k < n; ++k) adam_element(w[k], g[k], m[k], v[k], c);
}

// Below this many elements a second thread costs more than it saves.
constexpr std::int64_t min_parallel_elements = 1 << 16;
}  // namespace

void CpuBackend::adam_dense(const AdamStep& c, float* w, const float* g, float* m, float* v, std::int64_t n) {
  parallel_chunks(num_threads(), n, min_parallel_elements, [&](int, std::int64_t k0, std::int64_t k1) {
    adam_span(w + k0, g + k0, m + k0, v + k0, k1 - k0, c);
  });
}

void CpuBackend::adam_lazy(const AdamStep& c, float* w, float* m, float* v, std::int64_t D, const SparseRows& grad) {
  const auto& rows = grad.rows();
  const float* g = grad.values();
  const auto count = static_cast<std::int64_t>(rows.size());
  // Rows of a big table cost a cache miss each whatever their width, so a
  // few thousand narrow rows (a bias) are already worth a second thread.
  const std::int64_t min_rows = std::min<std::int64_t>(min_parallel_elements / std::max<std::int64_t>(D, 1), 4096);
  parallel_chunks(num_threads(), count, min_rows,
                  [&](int, std::int64_t r0, std::int64_t r1) {
                    // Rows of a big table are cache misses: ask for a later row's
                    // weights and moments while this one is updated.
                    constexpr std::int64_t ahead = 8;
                    for (std::int64_t r = r0; r < r1; ++r) {
                      if (r + ahead < r1) {
                        const std::int64_t next = static_cast<std::int64_t>(rows[static_cast<std::size_t>(r + ahead)]) * D;
                        for (std::int64_t d = 0; d < D; d += 16) {
                          __builtin_prefetch(w + next + d, 1);
                          __builtin_prefetch(m + next + d, 1);
                          __builtin_prefetch(v + next + d, 1);
                        }
                      }
                      // Rows listed in ascending id order (most of a small table) come
                      // in runs of consecutive ids, contiguous in the table and in the
                      // gradient alike: one long loop over the run.
                      std::int64_t e = r + 1;
                      while (e < r1 && rows[static_cast<std::size_t>(e)] == rows[static_cast<std::size_t>(e - 1)] + 1) ++e;
                      const std::int64_t base = static_cast<std::int64_t>(rows[static_cast<std::size_t>(r)]) * D;
                      const std::int64_t n = (e - r) * D;
                      // The dense update's loop, so that a row gets the same bytes either way.
                      adam_span(w + base, g + r * D, m + base, v + base, n, c);
                      r = e - 1;
                    }
                  });
}

}  // namespace limelight::cpu
