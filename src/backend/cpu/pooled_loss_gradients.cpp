// The three ways of pooled_loss_gradients.hpp. Every row of a gradient is
// accumulated by one thread in a fixed order, so the result does not depend
// on scheduling.
#include "backend/cpu/pooled_loss_gradients.hpp"

#include <algorithm>

#include "backend/cpu/cpu_math.hpp"
#include "backend/cpu/parallel.hpp"
#include "backend/cpu/sort_by_id.hpp"

namespace limelight::cpu {

namespace {

LL_SIMD_CLONES void add_rows(float* __restrict dst, const float* __restrict src, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

// Row `id` of a table gradient of rows of `width`.
inline float* gradient_row(const backend::TableGrad& g, std::int32_t id, std::int64_t width) {
  return g.dense ? g.dense + static_cast<std::int64_t>(id) * width : g.sparse->row(id);
}

// ---- Small tables.

constexpr std::int32_t table_row = 1, bias_row = 2;

// Marks the rows the unfused ops touch: in the table every input item and
// each scored negative; in the bias those where a score's coefficient is not
// zero.
void mark_touched_rows(const PooledScores& p, std::int32_t* mark) {
  for (std::int64_t r = 0; r < p.BL; ++r)
    if (p.sequences[r] != 0) mark[p.sequences[r]] |= table_row | (p.scaled(0, r) != 0.0f ? bias_row : 0);
  for (std::int64_t j = 1; j <= p.s.N; ++j)
    for (std::int64_t r = 0; r < p.BL; ++r)
      if (p.negatives[(j - 1) * p.BL + r] != 0 && p.scaled(j, r) != 0.0f)
        mark[p.negatives[(j - 1) * p.BL + r]] |= table_row | bias_row;
}

}  // namespace

ChunkCopies::ChunkCopies(int chunks, const backend::LossShape& s, const backend::TableGrad& d_table,
                         const backend::TableGrad& d_bias, Arena& scratch)
    : chunks_(chunks),
      V_(s.V),
      D_(s.D),
      slot_(s.V * (s.D + 1)),  // a chunk's table (V, D) then bias (V)
      d_table_(d_table),
      d_bias_(d_bias),
      copies_(scratch.tensor(Shape{chunks, slot_})) {}

float* ChunkCopies::table(int c) const {
  return c == 0 && d_table_.dense ? d_table_.dense : copies_.f32() + c * slot_;
}

float* ChunkCopies::bias(int c) const {
  return c == 0 && d_bias_.dense ? d_bias_.dense : copies_.f32() + c * slot_ + V_ * D_;
}

RowSink ChunkCopies::zeroed_sink(int c) const {
  RowSink sink;
  sink.dense = table(c);
  sink.dense_bias = bias(c);
  if (sink.dense != d_table_.dense) std::fill_n(sink.dense, V_ * D_, 0.0f);
  if (sink.dense_bias != d_bias_.dense) std::fill_n(sink.dense_bias, V_, 0.0f);
  return sink;
}

void ChunkCopies::sum_into_first() const {
  if (chunks_ <= 1) return;
  parallel_chunks(chunks_, V_, 0, [&](int, std::int64_t v0, std::int64_t v1) {
    for (int c = 1; c < chunks_; ++c) {
      add_rows(table(0) + v0 * D_, table(c) + v0 * D_, (v1 - v0) * D_);
      add_rows(bias(0) + v0, bias(c) + v0, v1 - v0);
    }
  });
}

// The marked rows are taken in ascending id order: most of a small table is
// touched, so its rows, and lazy Adam's walk over them, then stream through
// memory. Adam updates each row on its own, so the order of the rows changes
// nothing in the result. An empty accumulator takes them at once, without
// its row map.
void ChunkCopies::add_touched_rows(const PooledScores& p, Arena& scratch) const {
  if (!d_table_.sparse && !d_bias_.sparse) return;
  Tensor marks = scratch.zeros(Shape{V_}, DType::i32);
  const std::int32_t* mark = marks.i32();
  mark_touched_rows(p, marks.i32());
  // The marked ids in ascending order, the table's then the bias's.
  Tensor lists = scratch.tensor(Shape{2, V_}, DType::i32);
  std::int32_t* table_ids = lists.i32();
  std::int32_t* bias_ids = lists.i32() + V_;
  std::int64_t table_count = 0, bias_count = 0;
  for (std::int32_t id = 1; id < V_; ++id) {
    if (mark[id] & table_row) table_ids[table_count++] = id;
    if (mark[id] & bias_row) bias_ids[bias_count++] = id;
  }
  if (d_table_.sparse) {
    SparseRows& rows = *d_table_.sparse;
    float* out = rows.empty() ? rows.assign_rows(table_ids, table_count) : nullptr;
    parallel_chunks(out ? num_threads() : 1, table_count, 256, [&](int, std::int64_t i0, std::int64_t i1) {
      for (std::int64_t i = i0; i < i1; ++i)
        add_rows(out ? out + i * D_ : rows.row(table_ids[i]), table(0) + static_cast<std::int64_t>(table_ids[i]) * D_,
                 D_);
    });
  }
  if (d_bias_.sparse) {
    SparseRows& rows = *d_bias_.sparse;
    float* out = rows.empty() ? rows.assign_rows(bias_ids, bias_count) : nullptr;
    for (std::int64_t i = 0; i < bias_count; ++i) (out ? out + i : rows.row(bias_ids[i]))[0] += bias(0)[bias_ids[i]];
  }
}

// ---- Staged rows sorted by id, into empty row-sparse gradients. The
// entries, code 2r for step r's input and 2r + 1 for its negative (the order
// in which add_rows_by_id_owner adds them), are sorted by id, and each
// distinct row sums its entries in that order, so the rows hold the same
// bytes.

namespace {

// Lists the entries (ids, codes) in step order; returns their count.
std::int64_t list_entries(const PooledScores& p, std::int32_t* ids, std::int32_t* codes) {
  std::int64_t n = 0;
  for (std::int64_t r = 0; r < p.BL; ++r) {
    if (p.sequences[r] != 0) {
      ids[n] = p.sequences[r];
      codes[n++] = static_cast<std::int32_t>(2 * r);
    }
    std::int64_t k;
    const std::int32_t id = p.scored_negative(r, k);
    if (id == 0) continue;
    ids[n] = id;
    codes[n++] = static_cast<std::int32_t>(2 * r + 1);
  }
  return n;
}

// Runs of one id in the n sorted ids: run u covers [run_start[u],
// run_start[u + 1]) and has id distinct[u]. Returns the number of runs.
std::int64_t find_runs(const std::int32_t* id_of, std::int64_t n, std::int64_t* run_start, std::int32_t* distinct) {
  std::int64_t count = 0;
  for (std::int64_t i = 0; i < n; ++i)
    if (i == 0 || id_of[i] != id_of[i - 1]) {
      run_start[count] = i;
      distinct[count++] = id_of[i];
    }
  run_start[count] = n;
  return count;
}

inline const float* staged_row(const RowSink& staged, std::int32_t code, std::int64_t D) {
  return ((code & 1) ? staged.neg : staged.in) + (code >> 1) * D;
}

// A run's row from its entries [i0, i1): the first written (0 + x: the bytes
// of adding into a zeroed row), the rest added. The staged rows are read in
// id order, at random: those of a few entries on (up to `end`) are asked for.
void sum_run_row(const RowSink& staged, const std::int32_t* code_of, std::int64_t i0, std::int64_t i1,
                 std::int64_t end, std::int64_t D, float* dst) {
  constexpr std::int64_t ahead = 8;
  for (std::int64_t i = i0; i < i1; ++i) {
    if (i + ahead < end) {
      const float* later = staged_row(staged, code_of[i + ahead], D);
      for (std::int64_t d = 0; d < D; d += 16) prefetch_line(later + d);
    }
    const float* src = staged_row(staged, code_of[i], D);
    if (i == i0)
      for (std::int64_t d = 0; d < D; ++d) dst[d] = 0.0f + src[d];
    else
      add_rows(dst, src, D);
  }
}

// A run's bias: the scores of its entries whose coefficient is not zero,
// summed in the same order; false when there is none.
bool sum_run_bias(const PooledScores& p, const std::int32_t* code_of, std::int64_t i0, std::int64_t i1, float& out) {
  float sum = 0.0f;
  bool touched = false;
  for (std::int64_t i = i0; i < i1; ++i) {
    const std::int64_t r = code_of[i] >> 1;
    float c = 0.0f;
    if (code_of[i] & 1) {
      std::int64_t k;
      p.scored_negative(r, k);
      c = p.scaled(k, r);
    } else {
      c = p.scaled(0, r);
      if (c == 0.0f) continue;
    }
    sum += c;
    touched = true;
  }
  out = sum;
  return touched;
}

// The touched runs' bias sums become the bias gradient's rows; only this
// list is gathered on one thread.
void assign_bias_rows(SparseRows& d_bias, const std::int32_t* distinct, float* sums, const std::int32_t* touched,
                      std::int64_t count, Arena& scratch) {
  Tensor bias_list = scratch.tensor(Shape{count}, DType::i32);
  std::int32_t* bias_ids = bias_list.i32();
  std::int64_t bias_count = 0;
  for (std::int64_t u = 0; u < count; ++u) {
    if (!touched[u]) continue;
    bias_ids[bias_count] = distinct[u];
    sums[bias_count++] = sums[u];  // bias_count <= u: compacts in place
  }
  float* bias_rows = d_bias.assign_rows(bias_ids, bias_count);
  for (std::int64_t u = 0; u < bias_count; ++u) bias_rows[u] += sums[u];
}

}  // namespace

bool sorted_rows_apply(const backend::TableGrad& d_table, const backend::TableGrad& d_bias) {
  return d_table.sparse && d_table.sparse->empty() && (!d_bias.wanted() || (d_bias.sparse && d_bias.sparse->empty()));
}

void assign_sorted_rows(const PooledScores& p, const RowSink& staged, const backend::TableGrad& d_table,
                        const backend::TableGrad& d_bias, Arena& scratch) {
  const std::int64_t BL = p.BL, D = p.s.D;
  Tensor work = scratch.tensor(Shape{4, 2 * BL}, DType::i32);
  std::int32_t* ids[2] = {work.i32(), work.i32() + 2 * BL};
  std::int32_t* codes[2] = {work.i32() + 4 * BL, work.i32() + 6 * BL};
  const std::int64_t n = list_entries(p, ids[0], codes[0]);
  const int sorted = stable_sort_by_id(ids, codes, n, p.s.V);
  const std::int32_t* code_of = codes[sorted];
  Tensor runs = scratch.tensor(Shape{n + 1}, DType::i64);
  std::int64_t* run_start = runs.i64();
  std::int32_t* distinct = ids[1 - sorted];  // the spare id buffer
  const std::int64_t count = find_runs(ids[sorted], n, run_start, distinct);
  // Each distinct row is summed on all threads, its bias in the same loop.
  float* rows = d_table.sparse->assign_rows_unset(distinct, count);
  const bool want_bias = d_bias.wanted();
  Tensor bias_sums = want_bias ? scratch.tensor(Shape{count}) : Tensor();
  Tensor bias_touched = want_bias ? scratch.tensor(Shape{count}, DType::i32) : Tensor();
  parallel_chunks(num_threads(), count, 256, [&](int, std::int64_t u0, std::int64_t u1) {
    for (std::int64_t u = u0; u < u1; ++u) {
      sum_run_row(staged, code_of, run_start[u], run_start[u + 1], run_start[u1], D, rows + u * D);
      if (want_bias)
        bias_touched.i32()[u] = sum_run_bias(p, code_of, run_start[u], run_start[u + 1], bias_sums.f32()[u]) ? 1 : 0;
    }
  });
  if (want_bias) assign_bias_rows(*d_bias.sparse, distinct, bias_sums.f32(), bias_touched.i32(), count, scratch);
}

// ---- Staged rows by id owner.

// The order of the unfused ops: every input item, then each scored item (the
// bias only where its coefficient is not zero).
void reserve_rows_in_unfused_order(const PooledScores& p, const backend::TableGrad& d_table,
                                   const backend::TableGrad& d_bias) {
  if (!d_table.sparse && !d_bias.sparse) return;
  const std::int64_t BL = p.BL;
  const std::int32_t* sequences = p.sequences;
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
          for (std::int64_t k = 0; k < p.s.N; ++k) rows->prefetch(p.negatives[k * BL + r + ahead]);
        }
    if (d_bias.sparse && sequences[r] != 0 && p.scaled(0, r) != 0.0f) d_bias.sparse->row(sequences[r]);
    std::int64_t k;
    const std::int32_t id = p.scored_negative(r, k);
    if (id == 0) continue;
    if (d_table.sparse) d_table.sparse->row(id);
    if (d_bias.sparse) d_bias.sparse->row(id);
  }
}

void add_rows_by_id_owner(const PooledScores& p, const RowSink& staged, const backend::TableGrad& d_table,
                          const backend::TableGrad& d_bias) {
  const std::int64_t BL = p.BL, D = p.s.D;
  const int parts = num_threads();
  const IdPartition partition(parts);
  parallel_chunks(parts, parts, 2, [&](int, std::int64_t p0, std::int64_t p1) {
    auto mine = [&](std::int32_t id) { return id != 0 && partition.owner(id) >= p0 && partition.owner(id) < p1; };
    for (std::int64_t r = 0; r < BL; ++r) {
      if (r + 16 < BL && d_table.sparse) {
        d_table.sparse->prefetch(p.sequences[r + 16]);
        for (std::int64_t k = 0; k < p.s.N; ++k) d_table.sparse->prefetch(p.negatives[k * BL + r + 16]);
      }
      const std::int32_t item = p.sequences[r];
      if (mine(item)) {
        if (d_table.wanted()) add_rows(gradient_row(d_table, item, D), staged.in + r * D, D);
        const float c0 = p.scaled(0, r);
        if (d_bias.wanted() && c0 != 0.0f) gradient_row(d_bias, item, 1)[0] += c0;
      }
      std::int64_t k;
      const std::int32_t id = p.scored_negative(r, k);
      if (!mine(id)) continue;
      if (d_table.wanted()) add_rows(gradient_row(d_table, id, D), staged.neg + r * D, D);
      if (d_bias.wanted()) gradient_row(d_bias, id, 1)[0] += p.scaled(k, r);
    }
  });
}

}  // namespace limelight::cpu
