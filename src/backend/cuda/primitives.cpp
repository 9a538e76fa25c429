// The GPU primitives: argument checks, workspace from the caching allocator,
// and the launch of the kernel (kernels/) or cuBLAS call on the Context's
// stream. Row-major GEMM goes through column-major cuBLAS by computing
// C^T = op(B)^T op(A)^T: a row-major matrix is its transpose in column-major.
#include "backend/cuda/primitives.hpp"

#include <cmath>

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

void gemv(Context& ctx, bool trans, std::int64_t M, std::int64_t N, float alpha, const float* A, std::int64_t lda,
          const float* x, float beta, float* y) {
  const char* op = "cuda::gemv";
  check_sizes(op, {M, N});
  LL_CHECK(lda >= N, op, ": lda ", lda, " < N ", N);
  if (M == 0 || N == 0) return;
  // Row-major A (M x N) is column-major A^T (N x M): op is flipped.
  CUBLAS_CHECK(cublasSgemv(ctx.blas(), trans ? CUBLAS_OP_N : CUBLAS_OP_T, as_int(N, op, "N"), as_int(M, op, "M"),
                           &alpha, A, as_int(lda, op, "lda"), x, 1, &beta, y, 1));
}

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

std::int64_t sparse_rows_sorted(Context& ctx, const float* grad, std::int64_t V, std::int64_t D,
                                const std::int32_t* ids, std::int64_t n, std::int32_t* rows, float* values) {
  check_sizes("cuda::sparse_rows_sorted", {V, D, n});
  const std::size_t bytes = n > 0 ? kernels::sparse_rows_workspace(n, D) : 0;
  DeviceBuffer workspace = ctx.buffer(bytes);
  DeviceBuffer count = ctx.buffer(sizeof(std::int32_t));
  kernels::sparse_rows_sorted(grad, V, D, ids, n, rows, values, count.as<std::int32_t>(), workspace.data(), bytes,
                              ctx.fault_flag(), ctx.stream());
  std::int32_t host_count = 0;
  ctx.download(count.data(), &host_count, 1);
  ctx.synchronize();
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
               const std::int32_t* rows, const float* values, std::int64_t num_rows) {
  check_sizes("cuda::adam_lazy", {V, D, num_rows});
  kernels::adam_lazy(c, w, m, v, V, D, rows, values, num_rows, ctx.fault_flag(), ctx.stream());
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

}  // namespace limelight::cuda
