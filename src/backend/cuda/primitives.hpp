// The GPU backend's primitives of the embedding, loss, pooling, mixture,
// Adam, scoring and dense-algebra families, each with the name and the
// parameters of its backend::Backend virtual (src/backend/backend.hpp) after
// a Context, computing what the CPU backend (src/backend/cpu/) computes, and
// tested against it (tests/gpu). Pointers are device memory; work is queued
// on the Context's stream and returns before it runs, except where a
// function returns a host value (it synchronises). Argument errors throw
// Error naming the primitive and the sizes; ids outside a table are
// reported by Context::synchronize(). Gradients are deterministic: rows
// that several entries add into are summed after a stable sort by id
// (sparse_rows_sorted), never with float atomics.
//
// Namespace raw holds the kernels' own call forms (table sizes, the loss's
// packed ids, results left on the device) that these are built on; the
// kernel tests call them directly.
#pragma once

#include <cstdint>

#include "kernels/adam.cuh"
#include "kernels/loss.cuh"
#include "backend/backend.hpp"
#include "limelight/op_kinds.hpp"
#include "limelight/tape.hpp"
#include "limelight/tensor.hpp"

namespace limelight::cuda {

class Context;

// C = alpha * op(A) @ op(B) + beta * C, row-major (cuBLAS, TF32 off).
void gemm(Context& ctx, bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
          const float* A, std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C,
          std::int64_t ldc);
// ---- The backend::Backend primitives (see backend.hpp for each contract).
using backend::AdamStep;
using backend::ScoredItem;
using backend::TableGrad;

// (gather_rows, mixture_score and its backward: the raw forms below, whose
// kernels check each id against V.)
// Dense: the distinct rows' sums added once each. Row-sparse: the entries
// appended to the table's DeviceSparseEntries (include/limelight/tape.hpp),
// checked when Adam's lazy step sorts them.
void scatter_add_rows(Context& ctx, const float* grad, std::int64_t V, std::int64_t D, const std::int32_t* ids,
                      std::int64_t n, const TableGrad& d_table);
// Synchronises: the totals are host values.
backend::Backend::LossTotals sequence_loss_forward(Context& ctx, ops::LossKind kind, const backend::LossShape& s,
                                                   const float* states, const float* table, const float* bias,
                                                   const std::int32_t* targets, const std::int32_t* negatives,
                                                   float* coef, BackendPayload* payload);
void sequence_loss_backward(Context& ctx, const backend::LossShape& s, float d_loss, const float* states,
                            const float* table, const std::int32_t* targets, const std::int32_t* negatives,
                            const float* coef, float* d_states, const TableGrad& d_table, const TableGrad& d_bias,
                            const BackendPayload& payload);
void running_pool_forward(Context& ctx, const float* x, std::int64_t B, std::int64_t T, std::int64_t D, float* out,
                          float* div, BackendPayload* payload);
void running_pool_backward(Context& ctx, const float* d_out, const float* div, std::int64_t B, std::int64_t T,
                           std::int64_t D, float* d_x, const BackendPayload& payload);
void adam_dense(Context& ctx, const AdamStep& c, float* w, const float* g, float* m, float* v, std::int64_t n);
// Coalesces the table's device entries (synchronises for their row count).
void adam_lazy(Context& ctx, const AdamStep& c, float* w, float* m, float* v, std::int64_t D,
               const SparseRows& grad);
void score_catalogue(Context& ctx, const float* states, std::int64_t rows, const float* table, const float* bias,
                     std::int64_t V, std::int64_t D, std::int64_t M, float* scores, Arena& scratch);
// excluded (V flags), out (rows, k) and counts (rows) are device memory.
// k is at most kernels::max_top_k (128). A mixture model's scores are held
// for at most mixture_scores_bytes at a time (rows in chunks, one row at
// least; 64 MiB, a variable so that tests can lower it).
extern std::size_t mixture_scores_bytes;
void top_k_catalogue(Context& ctx, const float* states, std::int64_t rows, const float* table, const float* bias,
                     std::int64_t V, std::int64_t D, std::int64_t M, const unsigned char* excluded, int k,
                     ScoredItem* out, std::size_t* counts, Arena& scratch);
// scores and excluded (V) and out (k) are device memory; synchronises for the count.
std::size_t top_k(Context& ctx, const float* scores, std::int64_t V, const unsigned char* excluded, int k,
                  ScoredItem* out);

namespace raw {

// out[i, :] = table[ids[i], :] for a (V, D) table.
void gather_rows(Context& ctx, const float* table, std::int64_t V, std::int64_t D, const std::int32_t* ids,
                 std::int64_t n, float* out);
// table_grad[ids[i], :] += grad[i, :], skipping id 0. Not deterministic (atomics).
void scatter_add_rows(Context& ctx, const float* grad, std::int64_t V, std::int64_t D, const std::int32_t* ids,
                      std::int64_t n, float* table_grad);
// Deterministic row-sparse gradient of the same sum: distinct non-zero ids
// ascending into rows, their summed gradients into values (room for n rows
// each), and the row count into *count (device memory): no wait.
void sparse_rows_sorted(Context& ctx, const float* grad, std::int64_t V, std::int64_t D, const std::int32_t* ids,
                        std::int64_t n, std::int32_t* rows, float* values, std::int32_t* count);
// The same, waiting to return the row count.
std::int64_t sparse_rows_sorted(Context& ctx, const float* grad, std::int64_t V, std::int64_t D,
                                const std::int32_t* ids, std::int64_t n, std::int32_t* rows, float* values);

// The kernels' form of Adam's per-step scalars (backend::AdamStep::make computes them).
using kernels::AdamConstants;
AdamConstants adam_constants(const backend::AdamStep& step);
void adam_dense(Context& ctx, const AdamConstants& c, float* w, const float* g, float* m, float* v, std::int64_t n);
// SparseAdam's lazy update of the distinct rows of a (V, D) table: num_rows
// of them, or the first *count (device memory) when count is set.
void adam_lazy(Context& ctx, const AdamConstants& c, float* w, float* m, float* v, std::int64_t V, std::int64_t D,
               const std::int32_t* rows, const float* values, std::int64_t num_rows,
               const std::int32_t* count = nullptr);

// The fused masked sequence loss (see kernels/loss.cuh for the layouts).
// result (3 floats) = mean loss, 1/count, count. Forward is asynchronous: the
// caller checks count > 0 when it reads result back.
using kernels::LossShape;
void sequence_loss_forward(Context& ctx, ops::LossKind kind, const LossShape& s, const float* states,
                           const float* table, const float* bias, const std::int32_t* ids, float* coef,
                           float* result);
void sequence_loss_backward(Context& ctx, const LossShape& s, const float* states, const float* table,
                            const std::int32_t* ids, const float* coef, const float* result, float d_loss,
                            float* d_states, float* d_entries, float* d_bias_entries, std::int32_t* entry_ids);

// Running-mean pooling: x (B, T, D) -> out, div (B, T+1, D); dx += backward.
void running_pool_forward(Context& ctx, const float* x, std::int64_t B, std::int64_t T, std::int64_t D, float* out,
                          float* div);
void running_pool_backward(Context& ctx, const float* d_out, const float* div, std::int64_t B, std::int64_t T,
                           std::int64_t D, float* dx);

// Mixture-of-tastes scoring of rows against table[ids] (kernels/mixture.cuh).
void mixture_score_forward(Context& ctx, const float* rep, const float* table, const float* bias, std::int64_t V,
                           std::int64_t D, std::int64_t M, const std::int32_t* ids, std::int64_t rows, float* out,
                           float* weights);
void mixture_score_backward(Context& ctx, const float* d_out, const float* rep, const float* table, std::int64_t V,
                            std::int64_t D, std::int64_t M, const std::int32_t* ids, std::int64_t rows,
                            const float* weights, float* d_rep, float* d_entries);

// scores (B, V) = users (B, D) . table (V, D)^T + bias (V, may be null).
void score_catalogue(Context& ctx, const float* users, std::int64_t B, const float* table, const float* bias,
                     std::int64_t V, std::int64_t D, float* scores);
// The k (1..128) best items per user, best first, ties to the lower id; id
// 0 and the non-zero ids of exclude_ids (B, X; may be null) never appear;
// rows with fewer eligible items end in id -1. Fused: no (B, V) matrix.
void score_top_k(Context& ctx, const float* users, std::int64_t B, const float* table, const float* bias,
                 std::int64_t V, std::int64_t D, int k, const std::int32_t* exclude_ids, std::int64_t X,
                 std::int32_t* out_ids, float* out_scores);

}  // namespace raw

}  // namespace limelight::cuda
