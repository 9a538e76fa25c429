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
// row gradient per step carries both. The dot products use 16 partial sums
// rather than sequential_loss's one (a different rounding, well inside the
// reference's float32 tolerances): the one long dependency chain per score
// was most of a pooling step.
#include <algorithm>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/cpu_math.hpp"
#include "backend/cpu/loss_element.hpp"
#include "backend/cpu/parallel.hpp"

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
        for (std::int64_t k = 0; k < s.N; ++k) {
          const std::int32_t id = neg[k * BL + r];
          const float v = dot_wide(state, table + static_cast<std::int64_t>(id) * D, D) + (bias ? bias[id] : 0.0f);
          if (k == 0 || v > n) {  // strictly greater: ties keep the lowest index
            n = v;
            best = k;
          }
        }
        float value, d_p, d_n;
        loss_element(kind, p, n, value, d_p, d_n);
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

// Where the backward's row gradients go: `in` (B*L, D) the gradient of each
// step's item (as input and as target), `neg` (B*L, D) that of its scored
// negative; or, with `dense`, straight into a (V, D) table gradient and a
// (V) bias gradient (either may be null).
struct RowSink {
  float* in = nullptr;
  float* neg = nullptr;
  float* dense = nullptr;
  float* dense_bias = nullptr;
};

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

LL_SIMD_CLONES void add_rows(float* __restrict dst, const float* __restrict src, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

// Sorts (id, code) pairs by id, keeping the codes of one id in their input
// order: least-significant-digit radix passes over the bits ids in [0, V)
// use. O(n) per pass whatever V is. The result is in `ids`/`codes` or in the
// spare pair, whichever the last pass wrote; returned as the pair's index.
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
  const std::int64_t D = s.D, BL = s.B * s.L, V = s.V;
  const std::int64_t per_chunk = (4 + s.L) * D;
  Tensor buffers = scratch.tensor(Shape{chunks, per_chunk});
  // Small tables (no more rows than the batch has steps): each chunk adds
  // into a private dense copy (chunk 0 into a dense gradient itself), summed
  // in chunk order after; a row-sparse gradient then takes its rows from the
  // sum, so it equals the dense one bit for bit. Otherwise the step rows are
  // staged and each thread adds the rows of its own item ids (id modulo the
  // thread count), in step order, as the unfused embedding and loss
  // backwards do.
  if (V <= BL) {
    const std::int64_t slot = V * (D + 1);  // a chunk's table (V, D) then bias (V)
    Tensor copies = scratch.tensor(Shape{chunks, slot});
    auto table_of = [&](int c) { return c == 0 && d_table.dense ? d_table.dense : copies.f32() + c * slot; };
    auto bias_of = [&](int c) { return c == 0 && d_bias.dense ? d_bias.dense : copies.f32() + c * slot + V * D; };
    parallel_chunks(chunks, s.B, 0, [&](int c, std::int64_t b0, std::int64_t b1) {
      RowSink sink;
      sink.dense = table_of(c);
      sink.dense_bias = bias_of(c);
      if (sink.dense != d_table.dense) std::fill_n(sink.dense, V * D, 0.0f);
      if (sink.dense_bias != d_bias.dense) std::fill_n(sink.dense_bias, V, 0.0f);
      pooled_backward_rows(s, d_loss, table, sequences, negatives, coef, b0, b1, buffers.f32() + c * per_chunk,
                           sink, nullptr);
    });
    if (chunks > 1)
      parallel_chunks(chunks, V, 0, [&](int, std::int64_t v0, std::int64_t v1) {
        for (int c = 1; c < chunks; ++c) {
          add_rows(table_of(0) + v0 * D, table_of(c) + v0 * D, (v1 - v0) * D);
          add_rows(bias_of(0) + v0, bias_of(c) + v0, v1 - v0);
        }
      });
    if (d_table.sparse || d_bias.sparse) {
      // The rows the unfused ops touch (the table: every input item and each
      // scored negative; the bias: where a score's coefficient is not zero),
      // marked, then taken from the summed copy in ascending id order: most
      // of a small table is touched, so its rows, and lazy Adam's walk over
      // them, then stream through memory. Adam updates each row on its own,
      // so the order of the rows changes nothing in the result.
      constexpr std::int32_t table_row = 1, bias_row = 2;
      Tensor marks = scratch.zeros(Shape{V}, DType::i32);
      std::int32_t* mark = marks.i32();
      for (std::int64_t r = 0; r < BL; ++r)
        if (sequences[r] != 0) mark[sequences[r]] |= table_row | (coef[r] * d_loss != 0.0f ? bias_row : 0);
      for (std::int64_t j = 1; j <= s.N; ++j)
        for (std::int64_t r = 0; r < BL; ++r)
          if (negatives[(j - 1) * BL + r] != 0 && coef[j * BL + r] * d_loss != 0.0f)
            mark[negatives[(j - 1) * BL + r]] |= table_row | bias_row;
      // The marked ids in ascending order, the table's then the bias's. An
      // empty accumulator takes them at once, without its row map.
      Tensor lists = scratch.tensor(Shape{2, V}, DType::i32);
      std::int32_t* table_ids = lists.i32();
      std::int32_t* bias_ids = lists.i32() + V;
      std::int64_t table_count = 0, bias_count = 0;
      for (std::int32_t id = 1; id < V; ++id) {
        if (mark[id] & table_row) table_ids[table_count++] = id;
        if (mark[id] & bias_row) bias_ids[bias_count++] = id;
      }
      if (d_table.sparse) {
        SparseRows& rows = *d_table.sparse;
        float* out = rows.empty() ? rows.assign_rows(table_ids, table_count) : nullptr;
        parallel_chunks(out ? num_threads() : 1, table_count, 256, [&](int, std::int64_t i0, std::int64_t i1) {
          for (std::int64_t i = i0; i < i1; ++i)
            add_rows(out ? out + i * D : rows.row(table_ids[i]), table_of(0) + static_cast<std::int64_t>(table_ids[i]) * D, D);
        });
      }
      if (d_bias.sparse) {
        SparseRows& rows = *d_bias.sparse;
        float* out = rows.empty() ? rows.assign_rows(bias_ids, bias_count) : nullptr;
        for (std::int64_t i = 0; i < bias_count; ++i) (out ? out + i : rows.row(bias_ids[i]))[0] += bias_of(0)[bias_ids[i]];
      }
    }
    return;
  }
  const Tensor& kept = payload.buffers[0];
  const float* forward_rows = kept.numel() == 2 * BL * D ? kept.f32() : nullptr;
  Tensor staged = scratch.tensor(Shape{2, BL, D});
  RowSink sink;
  sink.in = staged.f32();
  sink.neg = staged.f32() + BL * D;
  parallel_chunks(chunks, s.B, 0, [&](int c, std::int64_t b0, std::int64_t b1) {
    pooled_backward_rows(s, d_loss, table, sequences, negatives, coef, b0, b1, buffers.f32() + c * per_chunk, sink,
                         forward_rows);
  });
  auto neg_of = [&](std::int64_t r, std::int64_t& k) -> std::int32_t {  // the step's scored negative, or 0
    for (k = 1; k <= s.N; ++k)
      if (coef[k * BL + r] * d_loss != 0.0f) return negatives[(k - 1) * BL + r];
    return 0;
  };
  // Empty row-sparse gradients (the fused op is the step's only writer)
  // are built from the staged rows without the row maps: the entries, code
  // 2r for step r's input and 2r + 1 for its negative (the order in which
  // the loop below adds them), are sorted by id, and each distinct row sums
  // its entries in that order, so the rows hold the same bytes.
  if (d_table.sparse && d_table.sparse->empty() &&
      (!d_bias.wanted() || (d_bias.sparse && d_bias.sparse->empty()))) {
    Tensor work = scratch.tensor(Shape{4, 2 * BL}, DType::i32);
    std::int32_t* ids[2] = {work.i32(), work.i32() + 2 * BL};
    std::int32_t* codes[2] = {work.i32() + 4 * BL, work.i32() + 6 * BL};
    std::int64_t n = 0;
    for (std::int64_t r = 0; r < BL; ++r) {
      if (sequences[r] != 0) {
        ids[0][n] = sequences[r];
        codes[0][n++] = static_cast<std::int32_t>(2 * r);
      }
      std::int64_t k;
      const std::int32_t id = neg_of(r, k);
      if (id == 0) continue;
      ids[0][n] = id;
      codes[0][n++] = static_cast<std::int32_t>(2 * r + 1);
    }
    const int sorted = stable_sort_by_id(ids, codes, n, V);
    const std::int32_t* id_of = ids[sorted];
    const std::int32_t* code_of = codes[sorted];
    // Runs of one id: run u covers [run_start[u], run_start[u + 1]). The spare
    // id buffer holds the distinct ids.
    Tensor runs = scratch.tensor(Shape{n + 1}, DType::i64);
    std::int64_t* run_start = runs.i64();
    std::int32_t* distinct = ids[1 - sorted];
    std::int64_t count = 0;
    for (std::int64_t i = 0; i < n; ++i)
      if (i == 0 || id_of[i] != id_of[i - 1]) {
        run_start[count] = i;
        distinct[count++] = id_of[i];
      }
    run_start[count] = n;
    // Each distinct row writes its first entry (0 + x: the bytes of adding
    // into a zeroed row) and adds the rest, on all threads; its bias sum is
    // taken in the same loop, and only the list of touched biases is
    // gathered on one thread after.
    float* rows = d_table.sparse->assign_rows_unset(distinct, count);
    const bool want_bias = d_bias.wanted();
    Tensor bias_sums = want_bias ? scratch.tensor(Shape{count}) : Tensor();
    Tensor bias_touched = want_bias ? scratch.tensor(Shape{count}, DType::i32) : Tensor();
    auto staged_row = [&](std::int32_t code) { return ((code & 1) ? sink.neg : sink.in) + (code >> 1) * D; };
    parallel_chunks(num_threads(), count, 256, [&](int, std::int64_t u0, std::int64_t u1) {
      // The staged rows are read in id order, at random: ask for those of
      // a few entries on.
      constexpr std::int64_t ahead = 8;
      const std::int64_t end = run_start[u1];
      for (std::int64_t u = u0; u < u1; ++u) {
        float* dst = rows + u * D;
        for (std::int64_t i = run_start[u]; i < run_start[u + 1]; ++i) {
          if (i + ahead < end) {
            const float* later = staged_row(code_of[i + ahead]);
            for (std::int64_t d = 0; d < D; d += 16) prefetch_line(later + d);
          }
          const float* src = staged_row(code_of[i]);
          if (i == run_start[u])
            for (std::int64_t d = 0; d < D; ++d) dst[d] = 0.0f + src[d];
          else
            add_rows(dst, src, D);
        }
        if (!want_bias) continue;
        // Bias rows where a score's coefficient is not zero, summed in the same order.
        float sum = 0.0f;
        bool touched = false;
        for (std::int64_t i = run_start[u]; i < run_start[u + 1]; ++i) {
          const std::int64_t r = code_of[i] >> 1;
          float c = 0.0f;
          if (code_of[i] & 1) {
            std::int64_t k;
            neg_of(r, k);
            c = coef[k * BL + r] * d_loss;
          } else {
            c = coef[r] * d_loss;
            if (c == 0.0f) continue;
          }
          sum += c;
          touched = true;
        }
        bias_sums.f32()[u] = sum;
        bias_touched.i32()[u] = touched ? 1 : 0;
      }
    });
    if (want_bias) {
      Tensor bias_list = scratch.tensor(Shape{count}, DType::i32);
      std::int32_t* bias_ids = bias_list.i32();
      float* sums = bias_sums.f32();
      std::int64_t bias_count = 0;
      for (std::int64_t u = 0; u < count; ++u) {
        if (!bias_touched.i32()[u]) continue;
        bias_ids[bias_count] = distinct[u];
        sums[bias_count++] = sums[u];  // bias_count <= u: compacts in place
      }
      float* bias_rows = d_bias.sparse->assign_rows(bias_ids, bias_count);
      for (std::int64_t u = 0; u < bias_count; ++u) bias_rows[u] += sums[u];
    }
    return;
  }
  // Row-sparse gradients get their rows first, on one thread, in the order
  // of the unfused ops: every input item, then each scored item (the bias
  // only where its coefficient is not zero).
  if (d_table.sparse || d_bias.sparse) {
    constexpr std::int64_t ahead = 16;
    if (d_table.sparse)
      for (std::int64_t r = 0; r < BL; ++r) {
        if (r + ahead < BL) d_table.sparse->prefetch(sequences[r + ahead]);
        if (sequences[r] != 0) d_table.sparse->row(sequences[r]);
      }
    for (std::int64_t r = 0; r < BL; ++r) {
      if (r + ahead < BL)
        for (SparseRows* rows : {d_table.sparse, d_bias.sparse})
          if (rows) {
            rows->prefetch(sequences[r + ahead]);
            for (std::int64_t k = 0; k < s.N; ++k) rows->prefetch(negatives[k * BL + r + ahead]);
          }
      if (d_bias.sparse && sequences[r] != 0 && coef[r] * d_loss != 0.0f) d_bias.sparse->row(sequences[r]);
      std::int64_t k;
      const std::int32_t id = neg_of(r, k);
      if (id == 0) continue;
      if (d_table.sparse) d_table.sparse->row(id);
      if (d_bias.sparse) d_bias.sparse->row(id);
    }
  }
  const int parts = num_threads();
  const IdPartition partition(parts);
  parallel_chunks(parts, parts, 2, [&](int, std::int64_t p0, std::int64_t p1) {
    auto mine = [&](std::int32_t id) { return id != 0 && partition.owner(id) >= p0 && partition.owner(id) < p1; };
    for (std::int64_t r = 0; r < BL; ++r) {
      if (r + 16 < BL && d_table.sparse) {
        d_table.sparse->prefetch(sequences[r + 16]);
        for (std::int64_t k = 0; k < s.N; ++k) d_table.sparse->prefetch(negatives[k * BL + r + 16]);
      }
      const std::int32_t item = sequences[r];
      if (mine(item)) {
        if (d_table.wanted())
          add_rows(d_table.dense ? d_table.dense + static_cast<std::int64_t>(item) * D : d_table.sparse->row(item),
                   sink.in + r * D, D);
        const float c0 = coef[r] * d_loss;
        if (d_bias.wanted() && c0 != 0.0f) (d_bias.dense ? d_bias.dense + item : d_bias.sparse->row(item))[0] += c0;
      }
      std::int64_t k;
      const std::int32_t id = neg_of(r, k);
      if (!mine(id)) continue;
      if (d_table.wanted())
        add_rows(d_table.dense ? d_table.dense + static_cast<std::int64_t>(id) * D : d_table.sparse->row(id),
                 sink.neg + r * D, D);
      if (d_bias.wanted()) (d_bias.dense ? d_bias.dense + id : d_bias.sparse->row(id))[0] += coef[k * BL + r] * d_loss;
    }
  });
}

}  // namespace limelight::cpu
