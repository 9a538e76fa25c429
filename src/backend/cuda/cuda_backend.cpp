// CudaBackend: see cuda_backend.hpp. Each primitive is one call on the
// calling thread's Context.
#include "backend/cuda/cuda_backend.hpp"

#include "backend/cuda/allocator.hpp"
#include "backend/cuda/context.hpp"
#include "backend/cuda/elementwise.hpp"
#include "backend/cuda/layers.hpp"
#include "backend/cuda/primitives.hpp"

namespace limelight::cuda {

CudaBackend& backend() {
  static CudaBackend instance;
  return instance;
}

void install() {
  static const bool installed = [] {
    install_allocator();
    backend::register_backend(&backend());
    return true;
  }();
  (void)installed;
}

void CudaBackend::gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
                       const float* A, std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C,
                       std::int64_t ldc) {
  cuda::gemm(thread_context(), trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void CudaBackend::linear_forward(const float* x, const float* W, const float* bias, std::int64_t rows, std::int64_t K,
                                 std::int64_t N, float* y) {
  cuda::linear_forward(thread_context(), x, W, bias, rows, K, N, y);
}

void CudaBackend::linear_backward(const float* d_y, const float* x, const float* W, std::int64_t rows, std::int64_t K,
                                  std::int64_t N, float* d_x, float* d_W, float* d_bias, Arena& scratch) {
  cuda::linear_backward(thread_context(), d_y, x, W, rows, K, N, d_x, d_W, d_bias, scratch);
}

void CudaBackend::fill(float* x, std::int64_t n, float value) {
  cuda::fill(thread_context(), x, n, value);
}

void CudaBackend::axpy(float alpha, const float* x, float* y, std::int64_t n) {
  cuda::axpy(thread_context(), alpha, x, y, n);
}

void CudaBackend::copy_band(const float* src, std::int64_t src_n, std::int64_t src_at, float* dst, std::int64_t dst_n,
                            std::int64_t dst_at, std::int64_t outer, std::int64_t len, std::int64_t inner,
                            bool accumulate) {
  cuda::copy_band(thread_context(), src, src_n, src_at, dst, dst_n, dst_at, outer, len, inner, accumulate);
}

void CudaBackend::binary(Binary op, const float* a, const float* b, float* out, std::int64_t n) {
  cuda::binary(thread_context(), op, a, b, out, n);
}

void CudaBackend::binary_backward(Binary op, const float* d_out, const float* a, const float* b, float* d_a, float* d_b,
                                  std::int64_t n) {
  cuda::binary_backward(thread_context(), op, d_out, a, b, d_a, d_b, n);
}

void CudaBackend::unary(Unary op, float scalar, const float* x, float* y, std::int64_t n) {
  cuda::unary(thread_context(), op, scalar, x, y, n);
}

void CudaBackend::unary_backward(Unary op, float scalar, const float* y, const float* d_y, float* d_x, std::int64_t n) {
  cuda::unary_backward(thread_context(), op, scalar, y, d_y, d_x, n);
}

void CudaBackend::bias_add(const float* x, const float* bias, std::int64_t rows, std::int64_t N, float* out) {
  cuda::bias_add(thread_context(), x, bias, rows, N, out);
}

void CudaBackend::sum_rows(const float* x, std::int64_t rows, std::int64_t N, float* out) {
  cuda::sum_rows(thread_context(), x, rows, N, out);
}

void CudaBackend::maximum(const float* const* xs, int count, std::int64_t n, float* out, std::int32_t* arg) {
  cuda::maximum(thread_context(), xs, count, n, out, arg);
}

void CudaBackend::maximum_backward(const float* d_out, const std::int32_t* arg, std::int32_t which, float* d_x,
                                   std::int64_t n) {
  cuda::maximum_backward(thread_context(), d_out, arg, which, d_x, n);
}

void CudaBackend::sum_all(const float* x, std::int64_t n, float factor, float* out) {
  cuda::sum_all(thread_context(), x, n, factor, out);
}

void CudaBackend::broadcast_scalar_backward(const float* d_out, float factor, float* d_x, std::int64_t n) {
  cuda::broadcast_scalar_backward(thread_context(), d_out, factor, d_x, n);
}

double CudaBackend::masked_mean(const float* x, const float* mask, std::int64_t n, float* out) {
  return cuda::masked_mean(thread_context(), x, mask, n, out);
}

void CudaBackend::masked_mean_backward(const float* d_out, float scale, const float* mask, float* d_x, std::int64_t n) {
  cuda::masked_mean_backward(thread_context(), d_out, scale, mask, d_x, n);
}

void CudaBackend::sum_dim(const float* x, std::int64_t outer, std::int64_t n, std::int64_t inner, float* out) {
  cuda::sum_dim(thread_context(), x, outer, n, inner, out);
}

void CudaBackend::sum_dim_backward(const float* d_out, std::int64_t outer, std::int64_t n, std::int64_t inner,
                                   float* d_x) {
  cuda::sum_dim_backward(thread_context(), d_out, outer, n, inner, d_x);
}

void CudaBackend::cumsum(const float* x, std::int64_t outer, std::int64_t n, std::int64_t inner, float* out) {
  cuda::cumsum(thread_context(), x, outer, n, inner, out);
}

void CudaBackend::cumsum_backward(const float* d_out, std::int64_t outer, std::int64_t n, std::int64_t inner,
                                  float* d_x) {
  cuda::cumsum_backward(thread_context(), d_out, outer, n, inner, d_x);
}

void CudaBackend::softmax(const float* x, std::int64_t outer, std::int64_t n, std::int64_t inner, float* y) {
  cuda::softmax(thread_context(), x, outer, n, inner, y);
}

void CudaBackend::softmax_backward(const float* y, const float* d_y, std::int64_t outer, std::int64_t n,
                                   std::int64_t inner, float* d_x) {
  cuda::softmax_backward(thread_context(), y, d_y, outer, n, inner, d_x);
}

std::int64_t CudaBackend::find_bad_id(const std::int32_t* ids, std::int64_t n, std::int64_t V) {
  return cuda::find_bad_id(thread_context(), ids, n, V);
}

void CudaBackend::gather_rows(const float* table, std::int64_t V, std::int64_t D, const std::int32_t* ids,
                              std::int64_t n, float* out) {
  raw::gather_rows(thread_context(), table, V, D, ids, n, out);
}

void CudaBackend::scatter_add_rows(const float* grad, std::int64_t V, std::int64_t D, const std::int32_t* ids,
                                   std::int64_t n, const TableGrad& d_table) {
  cuda::scatter_add_rows(thread_context(), grad, V, D, ids, n, d_table);
}

void CudaBackend::score_rows(const float* rep, const float* table, const float* bias, std::int64_t D,
                             const std::int32_t* ids, std::int64_t n, float* out) {
  cuda::score_rows(thread_context(), rep, table, bias, D, ids, n, out);
}

void CudaBackend::score_rows_backward(const float* d_out, const float* rep, const float* table, std::int64_t D,
                                      const std::int32_t* ids, std::int64_t n, float* d_rep, float* d_entries) {
  cuda::score_rows_backward(thread_context(), d_out, rep, table, D, ids, n, d_rep, d_entries);
}

void CudaBackend::mixture_score(const float* rep, const float* table, const float* bias, std::int64_t V,
                                std::int64_t D, std::int64_t M, const std::int32_t* ids, std::int64_t n, float* out,
                                float* weights) {
  raw::mixture_score_forward(thread_context(), rep, table, bias, V, D, M, ids, n, out, weights);
}

void CudaBackend::mixture_score_backward(const float* d_out, const float* rep, const float* table, std::int64_t V,
                                         std::int64_t D, std::int64_t M, const std::int32_t* ids, std::int64_t n,
                                         const float* weights, float* d_rep, float* d_entries) {
  raw::mixture_score_backward(thread_context(), d_out, rep, table, V, D, M, ids, n, weights, d_rep, d_entries);
}

backend::Backend::LossTotals CudaBackend::sequence_loss_forward(ops::LossKind kind, const LossShape& s,
                                                                const float* states, const float* table,
                                                                const float* bias, const std::int32_t* targets,
                                                                const std::int32_t* negatives, float* coef,
                                                                BackendPayload* payload) {
  return cuda::sequence_loss_forward(thread_context(), kind, s, states, table, bias, targets, negatives, coef, payload);
}

void CudaBackend::sequence_loss_backward(const LossShape& s, float d_loss, const float* states, const float* table,
                                         const std::int32_t* targets, const std::int32_t* negatives, const float* coef,
                                         float* d_states, const TableGrad& d_table, const TableGrad& d_bias,
                                         const BackendPayload& payload) {
  cuda::sequence_loss_backward(thread_context(), s, d_loss, states, table, targets, negatives, coef, d_states, d_table,
    d_bias, payload);
}

void CudaBackend::running_pool_forward(const float* x, std::int64_t B, std::int64_t T, std::int64_t D, float* out,
                                       float* div, BackendPayload* payload) {
  cuda::running_pool_forward(thread_context(), x, B, T, D, out, div, payload);
}

void CudaBackend::running_pool_backward(const float* d_out, const float* div, std::int64_t B, std::int64_t T,
                                        std::int64_t D, float* d_x, const BackendPayload& payload) {
  cuda::running_pool_backward(thread_context(), d_out, div, B, T, D, d_x, payload);
}

void CudaBackend::causal_conv_forward(const ConvShape& s, ops::Activation act, const float* x, const float* weight,
                                      const float* bias, const float* residual, float* y, float* activations,
                                      Arena& scratch, BackendPayload* payload) {
  cuda::causal_conv_forward(thread_context(), s, act, x, weight, bias, residual, y, activations, scratch, payload);
}

void CudaBackend::causal_conv_backward(const ConvShape& s, ops::Activation act, const float* d_y,
                                       const float* activations, float* d_x, float* d_weight, float* d_bias,
                                       float* d_residual, Arena& scratch, const BackendPayload& payload) {
  cuda::causal_conv_backward(thread_context(), s, act, d_y, activations, d_x, d_weight, d_bias, d_residual, scratch,
    payload);
}

void CudaBackend::lstm_forward(const float* x, const float* weight_ih, const float* weight_hh, const float* bias_ih,
                               const float* bias_hh, std::int64_t B, std::int64_t T, std::int64_t D, std::int64_t H,
                               float* out, Arena& scratch, BackendPayload* payload) {
  cuda::lstm_forward(thread_context(), x, weight_ih, weight_hh, bias_ih, bias_hh, B, T, D, H, out, scratch, payload);
}

void CudaBackend::lstm_backward(const float* d_out, const float* weight_ih, const float* weight_hh, std::int64_t B,
                                std::int64_t T, std::int64_t D, std::int64_t H, float* d_x, float* d_weight_ih,
                                float* d_weight_hh, float* d_bias_ih, float* d_bias_hh, Arena& scratch,
                                const BackendPayload& payload) {
  cuda::lstm_backward(thread_context(), d_out, weight_ih, weight_hh, B, T, D, H, d_x, d_weight_ih, d_weight_hh,
    d_bias_ih, d_bias_hh, scratch, payload);
}

void CudaBackend::adam_dense(const AdamStep& c, float* w, const float* g, float* m, float* v, std::int64_t n) {
  cuda::adam_dense(thread_context(), c, w, g, m, v, n);
}

void CudaBackend::adam_lazy(const AdamStep& c, float* w, float* m, float* v, std::int64_t D, const SparseRows& grad) {
  cuda::adam_lazy(thread_context(), c, w, m, v, D, grad);
}

void CudaBackend::score_catalogue(const float* states, std::int64_t rows, const float* table, const float* bias,
                                  std::int64_t V, std::int64_t D, std::int64_t M, float* scores, Arena& scratch) {
  cuda::score_catalogue(thread_context(), states, rows, table, bias, V, D, M, scores, scratch);
}

void CudaBackend::top_k_catalogue(const float* states, std::int64_t rows, const float* table, const float* bias,
                                  std::int64_t V, std::int64_t D, std::int64_t M, const unsigned char* excluded, int k,
                                  ScoredItem* out, std::size_t* counts, Arena& scratch) {
  cuda::top_k_catalogue(thread_context(), states, rows, table, bias, V, D, M, excluded, k, out, counts, scratch);
}

std::size_t CudaBackend::top_k(const float* scores, std::int64_t V, const unsigned char* excluded, int k,
                               ScoredItem* out) {
  return cuda::top_k(thread_context(), scores, V, excluded, k, out);
}

}  // namespace limelight::cuda
