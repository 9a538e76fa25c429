// The fused pooled sequence loss on the CPU: pooling fused with the
// dot-product loss. One pass over each window gathers its rows, keeps
// Spotlight's running sum and per-component count (the same additions and
// division as running_pool, so the states are the same floats) and scores
// the target and negatives at each step against the state before it. The
// backward recomputes the window's states into a per-thread buffer, then
// walks back in time: the state gradient of step u (its scores'
// coefficients times the scored rows), divided by step u's count, joins the
// running sum that is the gradient of every earlier input. Item l of a
// window is both the input of step l + 1 and the target of step l, so one
// row gradient per step carries both; pooled_loss_gradients.hpp brings the
// row gradients into the table and bias gradients. The dot products use 16
// partial sums rather than sequence_loss's one (a different rounding, well
// inside the reference's float32 tolerances): the one long dependency chain
// per score was most of a pooling step.
#include <algorithm>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/cpu_math.hpp"
#include "backend/scalar_math.hpp"
#include "backend/cpu/parallel.hpp"
#include "backend/cpu/pooled_loss_gradients.hpp"

namespace limelight::cpu {

namespace {

struct PooledLossState {
  int chunks;
};

// a . b in 16 interleaved partial sums, summed pairwise.
inline float dot_wide(const float* __restrict a, const float* __restrict b, std::int64_t n) {
  float acc[16] = {};
  std::int64_t k = 0;
  for (; k + 16 <= n; k += 16)
    for (int j = 0; j < 16; ++j) acc[j] += a[k + j] * b[k + j];
  float tail = 0.0f;
  for (; k < n; ++k) tail += a[k] * b[k];
  for (int w = 8; w >= 1; w /= 2)
    for (int j = 0; j < w; ++j) acc[j] += acc[j + w];
  return acc[0] + tail;
}

// The running state after an item: sum += x, count += (x != 0), per component.
inline void pool_add(float* __restrict sum, float* __restrict count, const float* __restrict x, std::int64_t D) {
  for (std::int64_t d = 0; d < D; ++d) {
    sum[d] += x[d];
    count[d] += x[d] != 0.0f ? 1.0f : 0.0f;
  }
}

inline void pool_state(const float* __restrict sum, const float* __restrict count, float* __restrict state,
                       std::int64_t D) {
  for (std::int64_t d = 0; d < D; ++d) state[d] = sum[d] / count[d];
}

struct Totals {
  double sum, count;
};

// Rows of a big table are cache misses: the passes ask for the rows of a
// later step (its item and negatives) while scoring this one.
// Over a catalogue-sized table every row and bias is a cache miss: ask for
// those of the step row_ahead on (across windows, within the chunk) so that
// a dozen misses overlap.
constexpr std::int64_t row_ahead = 12;
inline void prefetch_rows(const float* table, const float* bias, const std::int32_t* seq, const std::int32_t* neg,
                          std::int64_t r, const backend::LossShape& s) {
  const std::int64_t BL = s.B * s.L;
  for (std::int64_t d = 0; d < s.D; d += 16) {
    prefetch_line(table + static_cast<std::int64_t>(seq[r]) * s.D + d);
    for (std::int64_t k = 0; k < s.N; ++k) prefetch_line(table + static_cast<std::int64_t>(neg[k * BL + r]) * s.D + d);
  }
  if (bias) {
    prefetch_line(bias + seq[r]);
    for (std::int64_t k = 0; k < s.N; ++k) prefetch_line(bias + neg[k * BL + r]);
  }
}

// With `staged` (2, B*L, D), each step's item row and the row of its scored
// negative are copied there for the backward, which then streams through
// them instead of missing on the table's rows again.
LL_SIMD_CLONES Totals pooled_forward_rows(ops::LossKind kind, const backend::LossShape& s, const float* table,
                                          const float* bias, const std::int32_t* seq, const std::int32_t* neg,
                                          float* coef, std::int64_t b0, std::int64_t b1, float* buf,
                                          float* staged) {
  const std::int64_t D = s.D, L = s.L, BL = s.B * s.L;
  float* sum = buf;
  float* count = buf + D;
  float* state = buf + 2 * D;
  Totals t{0.0, 0.0};
  for (std::int64_t b = b0; b < b1; ++b) {
    for (std::int64_t d = 0; d < D; ++d) {
      sum[d] = 0.0f;
      count[d] = 1.0f;  // the divisor is items seen + 1
    }
    for (std::int64_t l = 0; l < L; ++l) {
      const std::int64_t r = b * L + l;
      if (r + row_ahead < b1 * L) prefetch_rows(table, bias, seq, neg, r + row_ahead, s);
      for (std::int64_t j = 0; j <= s.N; ++j) coef[j * BL + r] = 0.0f;
      const std::int32_t item = seq[r];
      const float* x = table + static_cast<std::int64_t>(item) * D;
      if (item != 0) {  // padding targets are masked out
        pool_state(sum, count, state, D);
        const float p = dot_wide(state, x, D) + (bias ? bias[item] : 0.0f);
        std::int64_t best = 0;
        float n = 0.0f;
        scalar::hardest_negative(
            [&](std::int64_t k) {
              const std::int32_t id = neg[k * BL + r];
              return dot_wide(state, table + static_cast<std::int64_t>(id) * D, D) + (bias ? bias[id] : 0.0f);
            },
            s.N, n, best);
        float value, d_p, d_n;
        scalar::loss_element(kind, p, n, value, d_p, d_n);
        t.sum += value;
        t.count += 1.0;
        coef[r] = d_p;
        coef[(1 + best) * BL + r] = d_n;
        if (staged) {
          const float* e = table + static_cast<std::int64_t>(neg[best * BL + r]) * D;
          std::copy_n(e, D, staged + (BL + r) * D);
        }
      }
      if (staged) std::copy_n(x, D, staged + r * D);
      pool_add(sum, count, x, D);
    }
  }
  return t;
}

// `staged`, when not null, holds the forward's copies of the rows it read
// (see pooled_forward_rows), read here in place of the table's.
LL_SIMD_CLONES void pooled_backward_rows(const backend::LossShape& s, float d_loss, const float* table,
                                         const std::int32_t* seq, const std::int32_t* negs, const float* coef,
                                         std::int64_t b0, std::int64_t b1, float* buf, const RowSink& sink,
                                         const float* staged) {
  const std::int64_t D = s.D, L = s.L, BL = s.B * s.L;
  // Step r's item row and the row of its score j (0: the target, item r + 0;
  // j >= 1: negative j - 1, staged only for the one with a coefficient).
  auto item_row = [&](std::int64_t r) {
    return staged ? staged + r * D : table + static_cast<std::int64_t>(seq[r]) * D;
  };
  auto scored_row = [&](std::int64_t j, std::int64_t r) {
    if (j == 0) return item_row(r);
    return staged ? staged + (BL + r) * D : table + static_cast<std::int64_t>(negs[(j - 1) * BL + r]) * D;
  };
  float* sum = buf;
  float* count = buf + D;
  float* run = buf + 2 * D;
  float* g = buf + 3 * D;
  float* states = buf + 4 * D;  // (L, D)
  for (std::int64_t b = b0; b < b1; ++b) {
    const std::int32_t* items = seq + b * L;
    for (std::int64_t d = 0; d < D; ++d) {
      sum[d] = 0.0f;
      count[d] = 1.0f;
      run[d] = 0.0f;
    }
    for (std::int64_t l = 0; l < L; ++l) {
      if (!staged && b * L + l + row_ahead < b1 * L) prefetch_rows(table, nullptr, seq, negs, b * L + l + row_ahead, s);
      pool_state(sum, count, states + l * D, D);
      pool_add(sum, count, item_row(b * L + l), D);
    }
    // count now holds the last state's divisors; the last state is never scored.
    for (std::int64_t l = L - 1; l >= 0; --l) {
      const std::int64_t u = l + 1;  // the state item l feeds first
      if (u < L) {
        const std::int64_t ru = b * L + u;
        bool any = false;
        for (std::int64_t j = 0; j <= s.N; ++j) {
          const float c = coef[j * BL + ru] * d_loss;
          if (c == 0.0f) continue;
          const float* e = scored_row(j, ru);
          if (!any)
            for (std::int64_t d = 0; d < D; ++d) g[d] = c * e[d];
          else
            for (std::int64_t d = 0; d < D; ++d) g[d] += c * e[d];
          any = true;
        }
        if (any)
          for (std::int64_t d = 0; d < D; ++d) run[d] += g[d] / count[d];
      }
      // run is now d x[l]; step l's own scores give its rows their share of states[l].
      const std::int64_t r = b * L + l;
      const float* st = states + l * D;
      const std::int32_t item = items[l];
      const float c0 = coef[r] * d_loss;
      if (sink.dense) {
        if (item != 0) {
          float* dst = sink.dense + static_cast<std::int64_t>(item) * D;
          for (std::int64_t d = 0; d < D; ++d) dst[d] += c0 * st[d] + run[d];
        }
      } else {
        float* dst = sink.in + r * D;
        for (std::int64_t d = 0; d < D; ++d) dst[d] = c0 * st[d] + run[d];
      }
      if (sink.dense_bias && item != 0) sink.dense_bias[item] += c0;
      for (std::int64_t k = 1; k <= s.N; ++k) {
        const float c = coef[k * BL + r] * d_loss;
        if (c == 0.0f) continue;
        const std::int32_t id = negs[(k - 1) * BL + r];
        if (sink.dense) {
          if (id != 0) {
            float* dst = sink.dense + static_cast<std::int64_t>(id) * D;
            for (std::int64_t d = 0; d < D; ++d) dst[d] += c * st[d];
          }
        } else {
          float* dst = sink.neg + r * D;  // one negative per step has a coefficient
          for (std::int64_t d = 0; d < D; ++d) dst[d] = c * st[d];
        }
        if (sink.dense_bias && id != 0) sink.dense_bias[id] += c;
      }
      // Step back: item l leaves the count.
      const float* x = item_row(r);
      for (std::int64_t d = 0; d < D; ++d) count[d] -= x[d] != 0.0f ? 1.0f : 0.0f;
    }
  }
}

}  // namespace

backend::Backend::LossTotals CpuBackend::pooled_sequence_loss_forward(ops::LossKind kind, const LossShape& s,
                                                                      const float* table, const float* bias,
                                                                      const std::int32_t* sequences,
                                                                      const std::int32_t* negatives, float* coef,
                                                                      Arena& scratch, BackendPayload* payload) {
  LL_CHECK(s.M == 0 && s.W == s.D && s.S == s.L + 1, "pooled_sequence_loss: a dot-product head over the L + 1 ",
           "pooled states only");
  const int threads = num_threads();
  Tensor buffers = scratch.tensor(Shape{threads, 3 * s.D});
  // Over a big table (the backward's staged path) the rows read here are
  // kept for the backward: a copy streamed back costs less than a second
  // cache miss on each row.
  Tensor staged;
  if (payload && s.V > s.B * s.L) staged = scratch.tensor(Shape{2, s.B * s.L, s.D});
  double partial_sum[256] = {}, partial_count[256] = {};
  const int chunks = parallel_chunks(threads, s.B, 2, [&](int c, std::int64_t b0, std::int64_t b1) {
    const Totals t = pooled_forward_rows(kind, s, table, bias, sequences, negatives, coef, b0, b1,
                                         buffers.f32() + c * 3 * s.D, staged.numel() ? staged.f32() : nullptr);
    partial_sum[c] = t.sum;
    partial_count[c] = t.count;
  });
  LossTotals totals{0.0, 0.0};
  for (int c = 0; c < chunks; ++c) {
    totals.sum += partial_sum[c];
    totals.count += partial_count[c];
  }
  if (payload) {
    payload->state.put(PooledLossState{chunks});
    payload->buffers[0] = staged;
  }
  return totals;
}

void CpuBackend::pooled_sequence_loss_backward(const LossShape& s, float d_loss, const float* table,
                                               const std::int32_t* sequences, const std::int32_t* negatives,
                                               const float* coef, const TableGrad& d_table, const TableGrad& d_bias,
                                               Arena& scratch, const BackendPayload& payload) {
  if (!d_table.wanted() && !d_bias.wanted()) return;
  const int chunks = payload.state.get<PooledLossState>().chunks;
  const std::int64_t D = s.D, BL = s.B * s.L;
  const std::int64_t per_chunk = (4 + s.L) * D;
  Tensor buffers = scratch.tensor(Shape{chunks, per_chunk});
  // Each chunk of the forward's split walks its windows back into the sink
  // sink_of(chunk) gives.
  auto walk_windows_back = [&](auto&& sink_of, const float* forward_rows) {
    parallel_chunks(chunks, s.B, 0, [&](int c, std::int64_t b0, std::int64_t b1) {
      pooled_backward_rows(s, d_loss, table, sequences, negatives, coef, b0, b1, buffers.f32() + c * per_chunk,
                           sink_of(c), forward_rows);
    });
  };
  const PooledScores scores(s, d_loss, sequences, negatives, coef);
  // Small tables (no more rows than the batch has steps): each chunk adds
  // into its own dense copy, so that a row-sparse gradient taking its rows
  // from the sum equals the dense one bit for bit. Otherwise the step rows
  // are staged and then added by id, in step order, as the unfused
  // embedding and loss backwards do.
  if (s.V <= BL) {
    const ChunkCopies copies(chunks, s, d_table, d_bias, scratch);
    walk_windows_back([&](int c) { return copies.zeroed_sink(c); }, nullptr);
    copies.sum_into_first();
    copies.add_touched_rows(scores, scratch);
    return;
  }
  const Tensor& kept = payload.buffers[0];
  const float* forward_rows = kept.numel() == 2 * BL * D ? kept.f32() : nullptr;
  Tensor staged = scratch.tensor(Shape{2, BL, D});
  RowSink sink;
  sink.in = staged.f32();
  sink.neg = staged.f32() + BL * D;
  walk_windows_back([&](int) { return sink; }, forward_rows);
  if (sorted_rows_apply(d_table, d_bias)) {
    assign_sorted_rows(scores, sink, d_table, d_bias, scratch);
    return;
  }
  reserve_rows_in_unfused_order(scores, d_table, d_bias);
  add_rows_by_id_owner(scores, sink, d_table, d_bias);
}

}  // namespace limelight::cpu
