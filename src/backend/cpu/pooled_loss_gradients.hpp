// How the fused pooled loss's backward (pooled_sequence_loss.cpp) brings its
// row gradients into the table and bias gradients. Three ways, each giving
// the bytes of the unfused embedding and loss backwards:
// - small tables (no more rows than the batch has steps): each chunk adds
//   into a private dense copy (ChunkCopies), the copies are summed in chunk
//   order, and a row-sparse gradient takes its rows from the sum;
// - otherwise the window pass stages each step's two row gradients, and
//   - empty row-sparse gradients are built at once from the staged rows
//     sorted by id (assign_sorted_rows);
//   - any other gradient gets them from the thread that owns each id (id
//     modulo the thread count), in step order (add_rows_by_id_owner), after
//     row-sparse ones took their rows in the unfused ops' order
//     (reserve_rows_in_unfused_order).
#pragma once

#include <cstdint>

#include "backend/backend.hpp"

namespace limelight::cpu {

// Where the window pass's row gradients go: `in` (B*L, D) the gradient of
// each step's item (as input and as target), `neg` (B*L, D) that of its
// scored negative; or, with `dense`, straight into a (V, D) table gradient
// and a (V) bias gradient (either may be null).
struct RowSink {
  float* in = nullptr;
  float* neg = nullptr;
  float* dense = nullptr;
  float* dense_bias = nullptr;
};

// The forward's scores as the backward reads them: score j of step r (j = 0
// its target, j >= 1 negative j - 1) has coefficient coef[j * B * L + r].
struct PooledScores {
  PooledScores(const backend::LossShape& shape, float d_loss, const std::int32_t* sequences,
               const std::int32_t* negatives, const float* coef)
      : s(shape), BL(shape.B * shape.L), d_loss(d_loss), sequences(sequences), negatives(negatives), coef(coef) {}

  // The coefficient of score j of step r times the loss gradient.
  float scaled(std::int64_t j, std::int64_t r) const { return coef[j * BL + r] * d_loss; }
  // Step r's scored negative (k its score index), or 0 when none has a
  // coefficient: one negative per step has one.
  std::int32_t scored_negative(std::int64_t r, std::int64_t& k) const {
    for (k = 1; k <= s.N; ++k)
      if (scaled(k, r) != 0.0f) return negatives[(k - 1) * BL + r];
    return 0;
  }

  backend::LossShape s;
  std::int64_t BL;
  float d_loss;
  const std::int32_t* sequences;  // (B, L)
  const std::int32_t* negatives;  // (N, B, L)
  const float* coef;              // (N + 1, B, L)
};

// Small tables: a private (V, D) table and (V) bias gradient per chunk; chunk
// 0's are the dense gradients themselves where there are ones.
class ChunkCopies {
 public:
  ChunkCopies(int chunks, const backend::LossShape& s, const backend::TableGrad& d_table,
              const backend::TableGrad& d_bias, Arena& scratch);
  // Chunk c's sink, with its private copies zeroed (a dense gradient it adds
  // into is left as it is). Called on the chunk's own thread.
  RowSink zeroed_sink(int c) const;
  // Adds the other chunks' copies into chunk 0's, in chunk order.
  void sum_into_first() const;
  // Row-sparse gradients add, from the summed copy, the rows the unfused ops
  // touch.
  void add_touched_rows(const PooledScores& p, Arena& scratch) const;

 private:
  float* table(int c) const;
  float* bias(int c) const;

  int chunks_;
  std::int64_t V_, D_, slot_;
  backend::TableGrad d_table_, d_bias_;
  Tensor copies_;
};

// True when assign_sorted_rows applies: the table gradient row-sparse and
// empty, and the bias gradient so too or not wanted (the fused op is the
// step's only writer).
bool sorted_rows_apply(const backend::TableGrad& d_table, const backend::TableGrad& d_bias);
// Builds empty row-sparse gradients from the staged rows (`staged.in`,
// `staged.neg`) without the row maps.
void assign_sorted_rows(const PooledScores& p, const RowSink& staged, const backend::TableGrad& d_table,
                        const backend::TableGrad& d_bias, Arena& scratch);
// Row-sparse gradients take their rows on one thread, in the unfused ops'
// order, so that add_rows_by_id_owner's threads only look rows up.
void reserve_rows_in_unfused_order(const PooledScores& p, const backend::TableGrad& d_table,
                                   const backend::TableGrad& d_bias);
// Each thread adds the staged rows of the ids it owns, in step order.
void add_rows_by_id_owner(const PooledScores& p, const RowSink& staged, const backend::TableGrad& d_table,
                          const backend::TableGrad& d_bias);

}  // namespace limelight::cpu
