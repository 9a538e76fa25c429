// Embedding tables on the CPU: id checks, row gathers, gradient scatters
// (dense by item-id partition across threads, or into a row-sparse
// accumulator), and target scoring by dot product or the mixture head.
#include <cstring>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/mixture_head.hpp"
#include "backend/cpu/parallel.hpp"

namespace limelight::cpu {

namespace {
inline void accumulate(float* __restrict dst, const float* __restrict src, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) dst[i] += src[i];
}
}  // namespace

std::int64_t CpuBackend::find_bad_id(const std::int32_t* ids, std::int64_t n, std::int64_t V) {
  for (std::int64_t i = 0; i < n; ++i)
    if (ids[i] < 0 || ids[i] >= V) return i;
  return -1;
}

// The CPU's ids were searched by the op before these calls (find_bad_id): V
// is not checked again.
void CpuBackend::gather_rows(const float* table, std::int64_t, std::int64_t D, const std::int32_t* ids,
                             std::int64_t n, float* out) {
  parallel_chunks(num_threads(), n, 4096, [&](int, std::int64_t i0, std::int64_t i1) {
    for (std::int64_t i = i0; i < i1; ++i)
      std::memcpy(out + i * D, table + static_cast<std::int64_t>(ids[i]) * D,
                  sizeof(float) * static_cast<std::size_t>(D));
  });
}

void CpuBackend::scatter_add_rows(const float* grad, std::int64_t, std::int64_t D, const std::int32_t* ids,
                                  std::int64_t n, const TableGrad& d_table) {
  // A row-sparse gradient gets its rows in id order on one thread first, so
  // that the threads below only look rows up.
  if (d_table.sparse)
    for (std::int64_t i = 0; i < n; ++i) {
      if (i + 16 < n) d_table.sparse->prefetch(ids[i + 16]);
      if (ids[i] != 0) d_table.sparse->row(ids[i]);
    }
  // Thread k adds the rows whose id is k modulo the thread count: no two
  // threads touch one row, and each row sums in a fixed order.
  auto row_of = [&](std::int32_t id) {
    return d_table.dense ? d_table.dense + static_cast<std::int64_t>(id) * D : d_table.sparse->row(id);
  };
  const int parts = n * D >= 65536 ? num_threads() : 1;
  const IdPartition partition(parts);
  parallel_chunks(parts, parts, 2, [&](int, std::int64_t p0, std::int64_t p1) {
    for (std::int64_t i = 0; i < n; ++i) {
      if (d_table.sparse && i + 16 < n) d_table.sparse->prefetch(ids[i + 16]);
      const std::int32_t id = ids[i];
      if (id == 0 || partition.owner(id) < p0 || partition.owner(id) >= p1) continue;
      accumulate(row_of(id), grad + i * D, D);
    }
  });
}

void CpuBackend::score_rows(const float* rep, const float* table, const float* bias, std::int64_t D,
                            const std::int32_t* ids, std::int64_t n, float* out) {
  for (std::int64_t i = 0; i < n; ++i)
    out[i] = dot(rep + i * D, table + static_cast<std::int64_t>(ids[i]) * D, D) + (bias ? bias[ids[i]] : 0.0f);
}

void CpuBackend::score_rows_backward(const float* d_out, const float* rep, const float* table, std::int64_t D,
                                     const std::int32_t* ids, std::int64_t n, float* d_rep, float* d_entries) {
  for (std::int64_t r = 0; r < n; ++r) {
    if (d_rep) {
      const float* e = table + static_cast<std::int64_t>(ids[r]) * D;
      for (std::int64_t k = 0; k < D; ++k) d_rep[r * D + k] += d_out[r] * e[k];
    }
    if (d_entries)
      for (std::int64_t k = 0; k < D; ++k) d_entries[r * D + k] = d_out[r] * rep[r * D + k];
  }
}

void CpuBackend::mixture_score(const float* rep, const float* table, const float* bias, std::int64_t,
                               std::int64_t D, std::int64_t M, const std::int32_t* ids, std::int64_t n, float* out,
                               float* weights) {
  float s[64];
  for (std::int64_t i = 0; i < n; ++i)
    out[i] = mixture_head_forward(rep + i * 2 * M * D, table + static_cast<std::int64_t>(ids[i]) * D, M, D,
                                  weights + i * M, s) +
             (bias ? bias[ids[i]] : 0.0f);
}

void CpuBackend::mixture_score_backward(const float* d_out, const float* rep, const float* table, std::int64_t,
                                        std::int64_t D, std::int64_t M, const std::int32_t* ids, std::int64_t n,
                                        const float* weights, float* d_rep, float* d_entries) {
  if (d_entries) std::memset(d_entries, 0, sizeof(float) * static_cast<std::size_t>(n * D));
  float s[64];
  for (std::int64_t r = 0; r < n; ++r) {
    const float* e = table + static_cast<std::int64_t>(ids[r]) * D;
    const float* rr = rep + r * 2 * M * D;
    const float* w = weights + r * M;
    float mixed = 0.0f;
    for (std::int64_t m = 0; m < M; ++m) {
      s[m] = dot(rr + m * D, e, D);
      mixed += w[m] * s[m];
    }
    mixture_head_backward(rr, e, M, D, w, s, mixed, d_out[r], d_rep ? d_rep + r * 2 * M * D : nullptr,
                          d_entries ? d_entries + r * D : nullptr);
  }
}

}  // namespace limelight::cpu
