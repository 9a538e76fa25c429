// The GPU primitives: argument checks, workspace from the caching allocator,
// and the launch of the kernel (kernels/) or cuBLAS call on the Context's
// stream. The backend::Backend forms, at the end, are built on the raw ones.
// Row-major GEMM goes through column-major cuBLAS by computing
// C^T = op(B)^T op(A)^T: a row-major matrix is its transpose in column-major.
#include "backend/cuda/primitives.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

#include "backend/cuda/check.hpp"
#include "backend/cuda/context.hpp"
#include "kernels/embedding.cuh"
#include "kernels/mixture.cuh"
#include "kernels/pooling.cuh"
#include "kernels/scoring.cuh"

namespace limelight::cuda {

namespace {
int as_int(std::int64_t v, const char* op, const char* what) {
  LL_CHECK(v >= 0 && v <= 0x7fffffff, op, ": ", what, " = ", v, " does not fit cuBLAS's int");
  return static_cast<int>(v);
}

void check_sizes(const char* op, std::initializer_list<std::int64_t> sizes) {
  for (std::int64_t s : sizes) LL_CHECK(s >= 0, op, ": negative size ", s);
}
}  // namespace

void gemm(Context& ctx, bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
          const float* A, std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C,
          std::int64_t ldc) {
  const char* op = "cuda::gemm";
  check_sizes(op, {M, N, K});
  LL_CHECK(lda >= (trans_a ? M : K) && ldb >= (trans_b ? K : N) && ldc >= N, op, ": leading dimensions ", lda, ", ",
           ldb, ", ", ldc, " too small for M=", M, " N=", N, " K=", K);
  if (M == 0 || N == 0) return;
  CUBLAS_CHECK(cublasSgemm(ctx.blas(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                           as_int(N, op, "N"), as_int(M, op, "M"), as_int(K, op, "K"), &alpha, B,
                           as_int(std::max<std::int64_t>(ldb, 1), op, "ldb"), A,
                           as_int(std::max<std::int64_t>(lda, 1), op, "lda"), &beta, C, as_int(ldc, op, "ldc")));
}

namespace raw {

void gather_rows(Context& ctx, const float* table, std::int64_t V, std::int64_t D, const std::int32_t* ids,
                 std::int64_t n, float* out) {
  check_sizes("cuda::gather_rows", {V, D, n});
  kernels::gather_rows(table, V, D, ids, n, out, ctx.fault_flag(), ctx.stream());
}

void scatter_add_rows(Context& ctx, const float* grad, std::int64_t V, std::int64_t D, const std::int32_t* ids,
                      std::int64_t n, float* table_grad) {
  check_sizes("cuda::scatter_add_rows", {V, D, n});
  kernels::scatter_add_rows(grad, V, D, ids, n, table_grad, ctx.fault_flag(), ctx.stream());
}

void sparse_rows_sorted(Context& ctx, const float* grad, std::int64_t V, std::int64_t D, const std::int32_t* ids,
                        std::int64_t n, std::int32_t* rows, float* values, std::int32_t* count) {
  check_sizes("cuda::sparse_rows_sorted", {V, D, n});
  const std::size_t bytes = n > 0 ? kernels::sparse_rows_workspace(n, D) : 0;
  DeviceBuffer workspace = ctx.buffer(bytes);
  kernels::sparse_rows_sorted(grad, V, D, ids, n, rows, values, count, workspace.data(), bytes, ctx.fault_flag(),
                              ctx.stream());
}

std::int64_t sparse_rows_sorted(Context& ctx, const float* grad, std::int64_t V, std::int64_t D,
                                const std::int32_t* ids, std::int64_t n, std::int32_t* rows, float* values) {
  DeviceBuffer count = ctx.buffer(sizeof(std::int32_t));
  sparse_rows_sorted(ctx, grad, V, D, ids, n, rows, values, count.as<std::int32_t>());
  std::int32_t host_count = 0;
  ctx.read_back(count.data(), &host_count, sizeof host_count);
  return host_count;
}

AdamConstants adam_constants(const backend::AdamStep& s) {
  AdamConstants c{};
  c.beta1 = s.beta1;
  c.beta2 = s.beta2;
  c.one_minus_beta1 = s.one_minus_beta1;
  c.one_minus_beta2 = s.one_minus_beta2;
  c.weight_decay = s.weight_decay;
  c.neg_step_size = s.neg_step_size;
  c.bias_correction2_sqrt = static_cast<float>(s.bias_correction2_sqrt);
  c.eps = s.eps;
  return c;
}

void adam_dense(Context& ctx, const AdamConstants& c, float* w, const float* g, float* m, float* v, std::int64_t n) {
  check_sizes("cuda::adam_dense", {n});
  kernels::adam_dense(c, w, g, m, v, n, ctx.stream());
}

void adam_lazy(Context& ctx, const AdamConstants& c, float* w, float* m, float* v, std::int64_t V, std::int64_t D,
               const std::int32_t* rows, const float* values, std::int64_t num_rows, const std::int32_t* count) {
  check_sizes("cuda::adam_lazy", {V, D, num_rows});
  kernels::adam_lazy(c, w, m, v, V, D, rows, values, num_rows, count, ctx.fault_flag(), ctx.stream());
}

namespace {
void check_loss_shape(const LossShape& s, const char* op) {
  check_sizes(op, {s.B, s.L, s.S, s.W, s.D, s.M, s.N, s.V});
  LL_CHECK(s.M <= 64, op, ": num_mixtures must be in [0, 64], got ", s.M);
  LL_CHECK(s.W == (s.M > 0 ? 2 * s.M * s.D : s.D), op, ": state width ", s.W, " does not match D=", s.D, " M=", s.M);
  LL_CHECK(s.S >= s.L, op, ": states have ", s.S, " positions, targets ", s.L);
  LL_CHECK(s.N >= 1, op, ": needs at least one negative per position, got ", s.N);
}
}  // namespace

void sequence_loss_forward(Context& ctx, ops::LossKind kind, const LossShape& s, const float* states,
                           const float* table, const float* bias, const std::int32_t* ids, float* coef,
                           float* result) {
  const char* op = "cuda::sequence_loss_forward";
  check_loss_shape(s, op);
  LL_CHECK(kind == ops::LossKind::adaptive_hinge || s.N == 1, op, ": ", s.N,
           " negatives per position; only adaptive_hinge takes more than one");
  DeviceBuffer partials = ctx.buffer(static_cast<std::size_t>(kernels::loss_partials(s)) * sizeof(double));
  kernels::sequence_loss_forward(static_cast<int>(kind), s, states, table, bias, ids, coef, result,
                                 partials.as<double>(), ctx.fault_flag(), ctx.stream());
}

void sequence_loss_backward(Context& ctx, const LossShape& s, const float* states, const float* table,
                            const std::int32_t* ids, const float* coef, const float* result, float d_loss,
                            float* d_states, float* d_entries, float* d_bias_entries, std::int32_t* entry_ids) {
  check_loss_shape(s, "cuda::sequence_loss_backward");
  kernels::sequence_loss_backward(s, states, table, ids, coef, result, d_loss, d_states, d_entries, d_bias_entries,
                                  entry_ids, ctx.stream());
}

void running_pool_forward(Context& ctx, const float* x, std::int64_t B, std::int64_t T, std::int64_t D, float* out,
                          float* div) {
  check_sizes("cuda::running_pool_forward", {B, T, D});
  kernels::running_pool_forward(x, B, T, D, out, div, ctx.stream());
}

void running_pool_backward(Context& ctx, const float* d_out, const float* div, std::int64_t B, std::int64_t T,
                           std::int64_t D, float* dx) {
  check_sizes("cuda::running_pool_backward", {B, T, D});
  kernels::running_pool_backward(d_out, div, B, T, D, dx, ctx.stream());
}

void mixture_score_forward(Context& ctx, const float* rep, const float* table, const float* bias, std::int64_t V,
                           std::int64_t D, std::int64_t M, const std::int32_t* ids, std::int64_t rows, float* out,
                           float* weights) {
  check_sizes("cuda::mixture_score_forward", {V, D, rows});
  LL_CHECK(M >= 1 && M <= 64, "cuda::mixture_score_forward: num_mixtures must be in [1, 64], got ", M);
  kernels::mixture_score_forward(rep, table, bias, V, D, M, ids, rows, out, weights, ctx.fault_flag(), ctx.stream());
}

void mixture_score_backward(Context& ctx, const float* d_out, const float* rep, const float* table, std::int64_t V,
                            std::int64_t D, std::int64_t M, const std::int32_t* ids, std::int64_t rows,
                            const float* weights, float* d_rep, float* d_entries) {
  check_sizes("cuda::mixture_score_backward", {V, D, rows});
  LL_CHECK(M >= 1 && M <= 64, "cuda::mixture_score_backward: num_mixtures must be in [1, 64], got ", M);
  kernels::mixture_score_backward(d_out, rep, table, V, D, M, ids, rows, weights, d_rep, d_entries, ctx.stream());
}

void score_catalogue(Context& ctx, const float* users, std::int64_t B, const float* table, const float* bias,
                     std::int64_t V, std::int64_t D, float* scores) {
  check_sizes("cuda::score_catalogue", {B, V, D});
  gemm(ctx, false, true, B, V, D, 1.0f, users, D, table, D, 0.0f, scores, V);
  if (bias) kernels::add_column_bias(scores, B, V, bias, ctx.stream());
}

void score_top_k(Context& ctx, const float* users, std::int64_t B, const float* table, const float* bias,
                 std::int64_t V, std::int64_t D, int k, const std::int32_t* exclude_ids, std::int64_t X,
                 std::int32_t* out_ids, float* out_scores) {
  const char* op = "cuda::score_top_k";
  check_sizes(op, {B, V, D, X});
  LL_CHECK(V >= 1 && V < 0x7fffffff, op, ": catalogue of ", V, " items");
  LL_CHECK(D >= 1 && D <= kernels::max_top_k_width, op, ": embedding width ", D, " not in [1, ",
           kernels::max_top_k_width, "]");
  LL_CHECK(k >= 1 && k <= kernels::max_top_k, op, ": k must be in [1, ", kernels::max_top_k, "], got ", k);
  if (B == 0) return;
  const int target_blocks = 2 * ctx.multiprocessors();
  const std::size_t bytes = kernels::top_k_workspace(B, V, D, k, target_blocks);
  DeviceBuffer workspace = ctx.buffer(bytes);
  kernels::score_top_k(users, B, table, bias, V, D, k, exclude_ids, X, out_ids, out_scores, workspace.data(), bytes,
                       target_blocks, ctx.fault_flag(), ctx.stream());
}

}  // namespace raw

// ---- The backend::Backend forms.

namespace {

// Rows of a row-sparse gradient's device entries, checked against their
// table when they were appended (add_entries): Adam's lazy step, which is not
// told V, needs only the int32 guard.
constexpr std::int64_t any_table = std::numeric_limits<std::int32_t>::max();

kernels::LossShape kernel_shape(const backend::LossShape& s) { return {s.B, s.L, s.S, s.W, s.D, s.M, s.N, s.V}; }

// The loss kernels read targets and negatives as one (N+1, B, L) array.
DeviceBuffer packed_ids(Context& ctx, const backend::LossShape& s, const std::int32_t* targets,
                        const std::int32_t* negatives) {
  const std::size_t BL = static_cast<std::size_t>(s.B * s.L);
  DeviceBuffer ids = ctx.buffer((1 + static_cast<std::size_t>(s.N)) * BL * sizeof(std::int32_t));
  if (BL == 0) return ids;
  CUDA_CHECK(cudaMemcpyAsync(ids.data(), targets, BL * sizeof(std::int32_t), cudaMemcpyDeviceToDevice, ctx.stream()));
  CUDA_CHECK(cudaMemcpyAsync(ids.as<std::int32_t>() + BL, negatives,
                             static_cast<std::size_t>(s.N) * BL * sizeof(std::int32_t), cudaMemcpyDeviceToDevice,
                             ctx.stream()));
  return ids;
}

// Room for `more` entries after the ones a row-sparse gradient holds; the
// memory grows (to 1.5 times the need) and is kept across steps.
void reserve_entries(Context& ctx, DeviceSparseEntries& e, std::int64_t row_size, std::int64_t more) {
  const std::int64_t need = e.count + more;
  if (need <= e.capacity) return;
  const std::int64_t capacity = std::max<std::int64_t>(need + need / 2, 64);
  const std::size_t id_bytes = (static_cast<std::size_t>(capacity) * sizeof(std::int32_t) + 255) / 256 * 256;
  Tensor block = Tensor::empty(Shape{static_cast<std::int64_t>(id_bytes / sizeof(float)) + capacity * row_size},
                               DType::f32, Device::cuda);
  auto* ids = static_cast<std::int32_t*>(block.raw());
  auto* values = reinterpret_cast<float*>(static_cast<char*>(block.raw()) + id_bytes);
  if (e.count > 0) {
    CUDA_CHECK(cudaMemcpyAsync(ids, e.ids, static_cast<std::size_t>(e.count) * sizeof(std::int32_t),
                               cudaMemcpyDeviceToDevice, ctx.stream()));
    CUDA_CHECK(cudaMemcpyAsync(values, e.values, static_cast<std::size_t>(e.count * row_size) * sizeof(float),
                               cudaMemcpyDeviceToDevice, ctx.stream()));
  }
  // The tensor's storage stays alive as long as the entries point into it.
  auto holder = std::make_shared<Tensor>(std::move(block));
  e.memory = std::shared_ptr<void>(holder, holder->raw());
  e.ids = ids;
  e.values = values;
  e.capacity = capacity;
}

// Adds n entries (ids, rows of width D; id 0 adds nothing) into a table's
// gradient: appended to a row-sparse one; into a dense one as the sums of
// the distinct rows, each added once (deterministic).
void add_entries(Context& ctx, const float* grad, std::int64_t V, std::int64_t D, const std::int32_t* ids,
                 std::int64_t n, const TableGrad& d_table) {
  if (n == 0 || !d_table.wanted()) return;
  if (d_table.sparse) {
    DeviceSparseEntries& e = d_table.sparse->device_entries();
    reserve_entries(ctx, e, D, n);
    CUDA_CHECK(cudaMemcpyAsync(e.ids + e.count, ids, static_cast<std::size_t>(n) * sizeof(std::int32_t),
                               cudaMemcpyDeviceToDevice, ctx.stream()));
    // Checked here, where the table's V is known (Adam's lazy step is not
    // told it): an id outside becomes padding and sets the fault flag.
    kernels::drop_ids_outside(e.ids + e.count, n, V, ctx.fault_flag(), ctx.stream());
    CUDA_CHECK(cudaMemcpyAsync(e.values + e.count * D, grad, static_cast<std::size_t>(n * D) * sizeof(float),
                               cudaMemcpyDeviceToDevice, ctx.stream()));
    e.count += n;
    return;
  }
  // The distinct rows' sums, then one addition per element; their count
  // stays on the device (no wait for it).
  DeviceBuffer rows = ctx.buffer(static_cast<std::size_t>(n) * sizeof(std::int32_t));
  DeviceBuffer values = ctx.buffer(static_cast<std::size_t>(n * D) * sizeof(float));
  DeviceBuffer distinct = ctx.buffer(sizeof(std::int32_t));
  raw::sparse_rows_sorted(ctx, grad, V, D, ids, n, rows.as<std::int32_t>(), values.as<float>(),
                          distinct.as<std::int32_t>());
  kernels::add_distinct_rows(values.as<float>(), V, D, rows.as<std::int32_t>(), distinct.as<std::int32_t>(), n,
                             d_table.dense, ctx.fault_flag(), ctx.stream());
}

}  // namespace

void scatter_add_rows(Context& ctx, const float* grad, std::int64_t V, std::int64_t D, const std::int32_t* ids,
                      std::int64_t n, const TableGrad& d_table) {
  check_sizes("cuda::scatter_add_rows", {V, D, n});
  add_entries(ctx, grad, V, D, ids, n, d_table);
}

backend::Backend::LossTotals sequence_loss_forward(Context& ctx, ops::LossKind kind, const backend::LossShape& s,
                                                   const float* states, const float* table, const float* bias,
                                                   const std::int32_t* targets, const std::int32_t* negatives,
                                                   float* coef, BackendPayload*) {
  const char* op = "cuda::sequence_loss_forward";
  const kernels::LossShape ks = kernel_shape(s);
  raw::check_loss_shape(ks, op);
  LL_CHECK(kind == ops::LossKind::adaptive_hinge || s.N == 1, op, ": ", s.N,
           " negatives per position; only adaptive_hinge takes more than one");
  if (s.B * s.L == 0) return {0.0, 0.0};
  DeviceBuffer ids = packed_ids(ctx, s, targets, negatives);
  DeviceBuffer result = ctx.buffer(3 * sizeof(float));
  // The raw form keeps its partial sums on the device; here they come back
  // to the host, in double, for the totals.
  const auto blocks = static_cast<std::size_t>(kernels::loss_partials(ks) / 2);
  DeviceBuffer partials = ctx.buffer(2 * blocks * sizeof(double));
  kernels::sequence_loss_forward(static_cast<int>(kind), ks, states, table, bias, ids.as<std::int32_t>(), coef,
                                 result.as<float>(), partials.as<double>(), ctx.fault_flag(), ctx.stream());
  std::vector<double> host(2 * blocks);
  ctx.read_back(partials.data(), host.data(), host.size() * sizeof(double));
  // The partials in block order, as the kernels' own finishing pass adds them.
  backend::Backend::LossTotals totals{0.0, 0.0};
  for (std::size_t k = 0; k < blocks; ++k) {
    totals.sum += host[2 * k];
    totals.count += host[2 * k + 1];
  }
  return totals;
}

void sequence_loss_backward(Context& ctx, const backend::LossShape& s, float d_loss, const float* states,
                            const float* table, const std::int32_t* targets, const std::int32_t* negatives,
                            const float* coef, float* d_states, const TableGrad& d_table, const TableGrad& d_bias,
                            const BackendPayload&) {
  const kernels::LossShape ks = kernel_shape(s);
  raw::check_loss_shape(ks, "cuda::sequence_loss_backward");
  const std::int64_t entries = (s.N + 1) * s.B * s.L;
  if (entries == 0) return;
  DeviceBuffer ids = packed_ids(ctx, s, targets, negatives);
  // d_loss already holds the mean's 1/count: the kernel's scale is 1.
  const float unit[3] = {0.0f, 1.0f, 0.0f};
  DeviceBuffer result = ctx.upload(unit, 3);
  DeviceBuffer d_entries = ctx.buffer(d_table.wanted() ? static_cast<std::size_t>(entries * s.D) * sizeof(float) : 0);
  DeviceBuffer d_bias_entries = ctx.buffer(d_bias.wanted() ? static_cast<std::size_t>(entries) * sizeof(float) : 0);
  DeviceBuffer entry_ids = ctx.buffer(static_cast<std::size_t>(entries) * sizeof(std::int32_t));
  raw::sequence_loss_backward(ctx, ks, states, table, ids.as<std::int32_t>(), coef, result.as<float>(), d_loss,
                              d_states, d_entries.as<float>(), d_bias_entries.as<float>(),
                              entry_ids.as<std::int32_t>());
  // Entries in (j, r) order with id 0 where the coefficient is 0: the rows
  // and the order in which the CPU's backward adds them.
  add_entries(ctx, d_entries.as<float>(), s.V, s.D, entry_ids.as<std::int32_t>(), entries, d_table);
  add_entries(ctx, d_bias_entries.as<float>(), s.V, 1, entry_ids.as<std::int32_t>(), entries, d_bias);
}

void running_pool_forward(Context& ctx, const float* x, std::int64_t B, std::int64_t T, std::int64_t D, float* out,
                          float* div, BackendPayload*) {
  raw::running_pool_forward(ctx, x, B, T, D, out, div);
}

void running_pool_backward(Context& ctx, const float* d_out, const float* div, std::int64_t B, std::int64_t T,
                           std::int64_t D, float* d_x, const BackendPayload&) {
  raw::running_pool_backward(ctx, d_out, div, B, T, D, d_x);
}

void adam_dense(Context& ctx, const AdamStep& c, float* w, const float* g, float* m, float* v, std::int64_t n) {
  raw::adam_dense(ctx, raw::adam_constants(c), w, g, m, v, n);
}

void adam_lazy(Context& ctx, const AdamStep& c, float* w, float* m, float* v, std::int64_t D,
               const SparseRows& grad) {
  const DeviceSparseEntries& e = grad.device_entries();
  LL_CHECK(grad.rows().empty(), "cuda::adam_lazy: the row-sparse gradient holds host rows; a table on the device "
           "accumulates device entries");
  LL_CHECK(grad.row_size() == D, "cuda::adam_lazy: rows of width ", D, ", the gradient's are ", grad.row_size());
  if (e.count == 0) return;
  DeviceBuffer rows = ctx.buffer(static_cast<std::size_t>(e.count) * sizeof(std::int32_t));
  DeviceBuffer values = ctx.buffer(static_cast<std::size_t>(e.count * D) * sizeof(float));
  DeviceBuffer distinct = ctx.buffer(sizeof(std::int32_t));
  raw::sparse_rows_sorted(ctx, e.values, any_table, D, e.ids, e.count, rows.as<std::int32_t>(), values.as<float>(),
                          distinct.as<std::int32_t>());
  raw::adam_lazy(ctx, raw::adam_constants(c), w, m, v, any_table, D, rows.as<std::int32_t>(), values.as<float>(),
                 e.count, distinct.as<std::int32_t>());
}

void score_catalogue(Context& ctx, const float* states, std::int64_t rows, const float* table, const float* bias,
                     std::int64_t V, std::int64_t D, std::int64_t M, float* scores, Arena&) {
  check_sizes("cuda::score_catalogue", {rows, V, D, M});
  if (M == 0) {
    raw::score_catalogue(ctx, states, rows, table, bias, V, D, scores);
    return;
  }
  LL_CHECK(M <= 64, "cuda::score_catalogue: num_mixtures must be in [0, 64], got ", M);
  kernels::mixture_score_catalogue(states, rows, table, bias, V, D, M, scores, ctx.stream());
}

namespace {
void check_top_k(const char* op, std::int64_t V, int k) {
  LL_CHECK(k >= 1 && k <= kernels::max_top_k, op, ": k must be in [1, ", kernels::max_top_k, "] on the GPU, got ", k);
  LL_CHECK(V >= 1 && V < 0x7fffffff, op, ": catalogue of ", V, " items");
}
static_assert(sizeof(kernels::ScoredPair) == sizeof(ScoredItem) && sizeof(std::size_t) == sizeof(unsigned long long),
              "pack_top_k writes backend::ScoredItem and std::size_t");

// The k best of each of `rows` rows of (V) scores, all rows in one pass
// (65535 at most per call).
void top_k_of_scores(Context& ctx, const float* scores, std::int64_t rows, std::int64_t V,
                     const unsigned char* excluded, int k, std::int32_t* out_ids, float* out_scores) {
  const int target_blocks = 2 * ctx.multiprocessors();
  for (std::int64_t r0 = 0; r0 < rows; r0 += 65535) {
    const std::int64_t n = std::min<std::int64_t>(65535, rows - r0);
    const std::size_t bytes = kernels::top_k_workspace(n, V, 1, k, target_blocks);
    DeviceBuffer workspace = ctx.buffer(bytes);
    kernels::rows_top_k(scores + r0 * V, n, V, excluded, k, out_ids + r0 * k, out_scores + r0 * k, workspace.data(),
                        bytes, target_blocks, ctx.fault_flag(), ctx.stream());
  }
}
}  // namespace

std::size_t mixture_scores_bytes = std::size_t{64} << 20;

void top_k_catalogue(Context& ctx, const float* states, std::int64_t rows, const float* table, const float* bias,
                     std::int64_t V, std::int64_t D, std::int64_t M, const unsigned char* excluded, int k,
                     ScoredItem* out, std::size_t* counts, Arena& scratch) {
  const char* op = "cuda::top_k_catalogue";
  check_sizes(op, {rows, V, D, M});
  check_top_k(op, V, k);
  if (rows == 0) return;
  DeviceBuffer ids = ctx.buffer(static_cast<std::size_t>(rows * k) * sizeof(std::int32_t));
  DeviceBuffer best = ctx.buffer(static_cast<std::size_t>(rows * k) * sizeof(float));
  if (M == 0) {
    LL_CHECK(D <= kernels::max_top_k_width, op, ": embedding width ", D, " not in [1, ", kernels::max_top_k_width, "]");
    LL_CHECK(rows <= 65535, op, ": ", rows, " rows; one call takes at most 65535");
    const int target_blocks = 2 * ctx.multiprocessors();
    const std::size_t bytes = kernels::top_k_workspace(rows, V, D, k, target_blocks);
    DeviceBuffer workspace = ctx.buffer(bytes);
    kernels::score_top_k(states, rows, table, bias, V, D, k, nullptr, 0, ids.as<std::int32_t>(), best.as<float>(),
                         workspace.data(), bytes, target_blocks, ctx.fault_flag(), ctx.stream(), excluded);
  } else {
    // The mixture head has no fused pass: its scores, then their top k, for
    // as many rows at a time as mixture_scores_bytes holds (one at least).
    const std::int64_t chunk =
        std::clamp<std::int64_t>(static_cast<std::int64_t>(mixture_scores_bytes / (sizeof(float) * V)), 1, rows);
    DeviceBuffer scores = ctx.buffer(static_cast<std::size_t>(chunk * V) * sizeof(float));
    for (std::int64_t r0 = 0; r0 < rows; r0 += chunk) {
      const std::int64_t n = std::min(chunk, rows - r0);
      score_catalogue(ctx, states + r0 * 2 * M * D, n, table, bias, V, D, M, scores.as<float>(), scratch);
      top_k_of_scores(ctx, scores.as<float>(), n, V, excluded, k, ids.as<std::int32_t>() + r0 * k,
                      best.as<float>() + r0 * k);
    }
  }
  kernels::pack_top_k(ids.as<std::int32_t>(), best.as<float>(), rows, k, reinterpret_cast<kernels::ScoredPair*>(out),
                      reinterpret_cast<unsigned long long*>(counts), ctx.stream());
}

std::size_t top_k(Context& ctx, const float* scores, std::int64_t V, const unsigned char* excluded, int k,
                  ScoredItem* out) {
  check_top_k("cuda::top_k", V, k);
  DeviceBuffer ids = ctx.buffer(static_cast<std::size_t>(k) * sizeof(std::int32_t));
  DeviceBuffer best = ctx.buffer(static_cast<std::size_t>(k) * sizeof(float));
  DeviceBuffer count = ctx.buffer(sizeof(unsigned long long));
  top_k_of_scores(ctx, scores, 1, V, excluded, k, ids.as<std::int32_t>(), best.as<float>());
  kernels::pack_top_k(ids.as<std::int32_t>(), best.as<float>(), 1, k, reinterpret_cast<kernels::ScoredPair*>(out),
                      count.as<unsigned long long>(), ctx.stream());
  unsigned long long n = 0;
  ctx.read_back(count.data(), &n, sizeof n);
  return static_cast<std::size_t>(n);
}

}  // namespace limelight::cuda
