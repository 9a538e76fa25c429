// The masked sequence loss on the CPU: target scoring (dot product or
// mixture head), the four masked losses and their sum, forward and backward.
// Batch rows are split across threads; embedding-table gradients are applied
// by partitioning item ids across threads, so every table row is accumulated
// by one thread in a fixed order and the result does not depend on
// scheduling.
#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/cpu_math.hpp"
#include "backend/scalar_math.hpp"
#include "backend/cpu/mixture_head.hpp"
#include "backend/cpu/parallel.hpp"

namespace limelight::cpu {

namespace {

// The forward's batch split, repeated by the backward.
struct LossState {
  int chunks;
};

inline float score_one(const float* rep, const float* E, const float* bias, std::int32_t id,
                       const backend::LossShape& s, float* w, float* sm) {
  const float* e = E + static_cast<std::int64_t>(id) * s.D;
  const float base = s.M > 0 ? mixture_head_forward(rep, e, s.M, s.D, w, sm) : dot(rep, e, s.D);
  return base + (bias ? bias[id] : 0.0f);
}

}  // namespace

backend::Backend::LossTotals CpuBackend::sequence_loss_forward(ops::LossKind kind, const LossShape& s,
                                                               const float* states, const float* table,
                                                               const float* bias, const std::int32_t* targets,
                                                               const std::int32_t* negatives, float* coef,
                                                               BackendPayload* payload) {
  const std::int64_t BL = s.B * s.L;
  double partial_sum[256] = {}, partial_count[256] = {};
  const int chunks = parallel_chunks(num_threads(), s.B, 2, [&](int c, std::int64_t b0, std::int64_t b1) {
    float w[64], sm[64];
    double sum = 0.0, count = 0.0;
    for (std::int64_t b = b0; b < b1; ++b)
      for (std::int64_t l = 0; l < s.L; ++l) {
        const std::int64_t r = b * s.L + l;
        for (std::int64_t j = 0; j <= s.N; ++j) coef[j * BL + r] = 0.0f;
        if (targets[r] == 0) continue;  // padding: masked out
        const float* rp = states + (b * s.S + l) * s.W;
        const float p = score_one(rp, table, bias, targets[r], s, w, sm);
        std::int64_t best = 0;
        float neg = 0.0f;
        scalar::hardest_negative(
            [&](std::int64_t k) { return score_one(rp, table, bias, negatives[k * BL + r], s, w, sm); }, s.N, neg,
            best);
        float value, d_p, d_n;
        scalar::loss_element(kind, p, neg, value, d_p, d_n);
        sum += value;
        count += 1.0;
        coef[r] = d_p;
        coef[(1 + best) * BL + r] = d_n;
      }
    partial_sum[c] = sum;
    partial_count[c] = count;
  });
  LossTotals totals{0.0, 0.0};
  for (int c = 0; c < chunks; ++c) {
    totals.sum += partial_sum[c];
    totals.count += partial_count[c];
  }
  if (payload) payload->state.put(LossState{chunks});
  return totals;
}

void CpuBackend::sequence_loss_backward(const LossShape& s, float d_loss, const float* states, const float* table,
                                        const std::int32_t* targets, const std::int32_t* negatives,
                                        const float* coef, float* d_states, const TableGrad& d_table,
                                        const TableGrad& d_bias, const BackendPayload& payload) {
  const std::int64_t BL = s.B * s.L;
  auto id_of = [&](std::int64_t j, std::int64_t r) { return j == 0 ? targets[r] : negatives[(j - 1) * BL + r]; };

  if (d_states) {
    parallel_chunks(payload.state.get<LossState>().chunks, s.B, 0, [&](int, std::int64_t b0, std::int64_t b1) {
      float w[64], sm[64];
      for (std::int64_t b = b0; b < b1; ++b)
        for (std::int64_t l = 0; l < s.L; ++l) {
          const std::int64_t r = b * s.L + l;
          const float* rp = states + (b * s.S + l) * s.W;
          float* dr = d_states + (b * s.S + l) * s.W;
          for (std::int64_t j = 0; j <= s.N; ++j) {
            const float c = coef[j * BL + r] * d_loss;
            if (c == 0.0f) continue;
            const float* e = table + static_cast<std::int64_t>(id_of(j, r)) * s.D;
            if (s.M == 0) {
              for (std::int64_t k = 0; k < s.D; ++k) dr[k] += c * e[k];
            } else {
              const float mixed = mixture_head_forward(rp, e, s.M, s.D, w, sm);
              mixture_head_backward(rp, e, s.M, s.D, w, sm, mixed, c, dr, nullptr);
            }
          }
        }
    });
  }

  if (!d_table.wanted() && !d_bias.wanted()) return;
  // Thread k applies the entries whose item id is k modulo the thread count.
  // A row-sparse gradient first gets its rows in entry order on one thread
  // (cheap: no arithmetic), so the threads then only look rows up.
  if (d_table.sparse || d_bias.sparse)
    for (std::int64_t j = 0; j <= s.N; ++j)
      for (std::int64_t r = 0; r < BL; ++r) {
        if (r + 16 < BL) {
          if (d_table.sparse) d_table.sparse->prefetch(id_of(j, r + 16));
          if (d_bias.sparse) d_bias.sparse->prefetch(id_of(j, r + 16));
        }
        const std::int32_t id = id_of(j, r);
        if (id == 0 || coef[j * BL + r] * d_loss == 0.0f) continue;
        if (d_table.sparse) d_table.sparse->row(id);
        if (d_bias.sparse) d_bias.sparse->row(id);
      }
  const int parts = num_threads();
  const IdPartition partition(parts);
  parallel_chunks(parts, parts, 2, [&](int, std::int64_t p0, std::int64_t p1) {
    float w[64], sm[64];
    for (std::int64_t j = 0; j <= s.N; ++j)
      for (std::int64_t r = 0; r < BL; ++r) {
        if (d_table.sparse && r + 16 < BL) d_table.sparse->prefetch(id_of(j, r + 16));
        const float c = coef[j * BL + r] * d_loss;
        if (c == 0.0f) continue;
        const std::int32_t id = id_of(j, r);
        if (id == 0 || partition.owner(id) < p0 || partition.owner(id) >= p1) continue;
        const float* rp = states + ((r / s.L) * s.S + r % s.L) * s.W;
        if (d_table.wanted()) {
          float* dst = d_table.dense ? d_table.dense + static_cast<std::int64_t>(id) * s.D : d_table.sparse->row(id);
          if (s.M == 0) {
            for (std::int64_t k = 0; k < s.D; ++k) dst[k] += c * rp[k];
          } else {
            const float* e = table + static_cast<std::int64_t>(id) * s.D;
            const float mixed = mixture_head_forward(rp, e, s.M, s.D, w, sm);
            mixture_head_backward(rp, e, s.M, s.D, w, sm, mixed, c, nullptr, dst);
          }
        }
        if (d_bias.wanted()) {
          float* dst = d_bias.dense ? d_bias.dense + id : d_bias.sparse->row(id);
          dst[0] += c;
        }
      }
  });
}

}  // namespace limelight::cpu
