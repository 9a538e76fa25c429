// The CUDA backend: every primitive of backend::Backend on device memory,
// each forwarding to the cuda:: function of the same name and parameters
// (primitives.hpp, elementwise.hpp, layers.hpp) with the calling thread's
// Context (thread_context(), context.hpp) prepended. One Context per host
// thread keeps the promise of docs/reliability.md that serving threads may
// call a model's const methods at once: each queues on its own stream, with
// its own staging and fault flag; a thread's work is ordered, and a fault is
// reported to the thread whose kernel raised it.
#pragma once

#include "backend/backend.hpp"

namespace limelight::cuda {

class CudaBackend final : public backend::Backend {
 public:
  using Binary = backend::Binary;
  using Unary = backend::Unary;
  using LossShape = backend::LossShape;
  using ConvShape = backend::ConvShape;
  using AdamStep = backend::AdamStep;
  using TableGrad = backend::TableGrad;
  using ScoredItem = backend::ScoredItem;

  Device device() const override { return Device::cuda; }
  const char* name() const override { return "cuda"; }
  // The device's own threads do the work: the host thread count does not apply.
  void set_threads(int) override {}

  void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha, const float* A,
            std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C, std::int64_t ldc) override;
  void linear_forward(const float* x, const float* W, const float* bias, std::int64_t rows, std::int64_t K,
                      std::int64_t N, float* y) override;
  void linear_backward(const float* d_y, const float* x, const float* W, std::int64_t rows, std::int64_t K,
                       std::int64_t N, float* d_x, float* d_W, float* d_bias, Arena& scratch) override;
  void fill(float* x, std::int64_t n, float value) override;
  void axpy(float alpha, const float* x, float* y, std::int64_t n) override;
  void copy_band(const float* src, std::int64_t src_n, std::int64_t src_at, float* dst, std::int64_t dst_n,
                 std::int64_t dst_at, std::int64_t outer, std::int64_t len, std::int64_t inner,
                 bool accumulate) override;
  void binary(Binary op, const float* a, const float* b, float* out, std::int64_t n) override;
  void binary_backward(Binary op, const float* d_out, const float* a, const float* b, float* d_a, float* d_b,
                       std::int64_t n) override;
  void unary(Unary op, float scalar, const float* x, float* y, std::int64_t n) override;
  void unary_backward(Unary op, float scalar, const float* y, const float* d_y, float* d_x, std::int64_t n) override;
  void bias_add(const float* x, const float* bias, std::int64_t rows, std::int64_t N, float* out) override;
  void sum_rows(const float* x, std::int64_t rows, std::int64_t N, float* out) override;
  void maximum(const float* const* xs, int count, std::int64_t n, float* out, std::int32_t* arg) override;
  void maximum_backward(const float* d_out, const std::int32_t* arg, std::int32_t which, float* d_x,
                        std::int64_t n) override;
  void sum_all(const float* x, std::int64_t n, float factor, float* out) override;
  void broadcast_scalar_backward(const float* d_out, float factor, float* d_x, std::int64_t n) override;
  double masked_mean(const float* x, const float* mask, std::int64_t n, float* out) override;
  void masked_mean_backward(const float* d_out, float scale, const float* mask, float* d_x, std::int64_t n) override;
  void sum_dim(const float* x, std::int64_t outer, std::int64_t n, std::int64_t inner, float* out) override;
  void sum_dim_backward(const float* d_out, std::int64_t outer, std::int64_t n, std::int64_t inner,
                        float* d_x) override;
  void cumsum(const float* x, std::int64_t outer, std::int64_t n, std::int64_t inner, float* out) override;
  void cumsum_backward(const float* d_out, std::int64_t outer, std::int64_t n, std::int64_t inner, float* d_x) override;
  void softmax(const float* x, std::int64_t outer, std::int64_t n, std::int64_t inner, float* y) override;
  void softmax_backward(const float* y, const float* d_y, std::int64_t outer, std::int64_t n, std::int64_t inner,
                        float* d_x) override;
  std::int64_t find_bad_id(const std::int32_t* ids, std::int64_t n, std::int64_t V) override;
  void gather_rows(const float* table, std::int64_t V, std::int64_t D, const std::int32_t* ids, std::int64_t n,
                   float* out) override;
  void scatter_add_rows(const float* grad, std::int64_t V, std::int64_t D, const std::int32_t* ids, std::int64_t n,
                        const TableGrad& d_table) override;
  void score_rows(const float* rep, const float* table, const float* bias, std::int64_t D, const std::int32_t* ids,
                  std::int64_t n, float* out) override;
  void score_rows_backward(const float* d_out, const float* rep, const float* table, std::int64_t D,
                           const std::int32_t* ids, std::int64_t n, float* d_rep, float* d_entries) override;
  void mixture_score(const float* rep, const float* table, const float* bias, std::int64_t V, std::int64_t D,
                     std::int64_t M, const std::int32_t* ids, std::int64_t n, float* out, float* weights) override;
  void mixture_score_backward(const float* d_out, const float* rep, const float* table, std::int64_t V, std::int64_t D,
                              std::int64_t M, const std::int32_t* ids, std::int64_t n, const float* weights,
                              float* d_rep, float* d_entries) override;
  LossTotals sequence_loss_forward(ops::LossKind kind, const LossShape& s, const float* states, const float* table,
                                   const float* bias, const std::int32_t* targets, const std::int32_t* negatives,
                                   float* coef, BackendPayload* payload) override;
  void sequence_loss_backward(const LossShape& s, float d_loss, const float* states, const float* table,
                              const std::int32_t* targets, const std::int32_t* negatives, const float* coef,
                              float* d_states, const TableGrad& d_table, const TableGrad& d_bias,
                              const BackendPayload& payload) override;
  void running_pool_forward(const float* x, std::int64_t B, std::int64_t T, std::int64_t D, float* out, float* div,
                            BackendPayload* payload) override;
  void running_pool_backward(const float* d_out, const float* div, std::int64_t B, std::int64_t T, std::int64_t D,
                             float* d_x, const BackendPayload& payload) override;
  void causal_conv_forward(const ConvShape& s, ops::Activation act, const float* x, const float* weight,
                           const float* bias, const float* residual, float* y, float* activations, Arena& scratch,
                           BackendPayload* payload) override;
  void causal_conv_backward(const ConvShape& s, ops::Activation act, const float* d_y, const float* activations,
                            float* d_x, float* d_weight, float* d_bias, float* d_residual, Arena& scratch,
                            const BackendPayload& payload) override;
  void lstm_forward(const float* x, const float* weight_ih, const float* weight_hh, const float* bias_ih,
                    const float* bias_hh, std::int64_t B, std::int64_t T, std::int64_t D, std::int64_t H, float* out,
                    Arena& scratch, BackendPayload* payload) override;
  void lstm_backward(const float* d_out, const float* weight_ih, const float* weight_hh, std::int64_t B, std::int64_t T,
                     std::int64_t D, std::int64_t H, float* d_x, float* d_weight_ih, float* d_weight_hh,
                     float* d_bias_ih, float* d_bias_hh, Arena& scratch, const BackendPayload& payload) override;
  void adam_dense(const AdamStep& c, float* w, const float* g, float* m, float* v, std::int64_t n) override;
  void adam_lazy(const AdamStep& c, float* w, float* m, float* v, std::int64_t D, const SparseRows& grad) override;
  void score_catalogue(const float* states, std::int64_t rows, const float* table, const float* bias, std::int64_t V,
                       std::int64_t D, std::int64_t M, float* scores, Arena& scratch) override;
  void top_k_catalogue(const float* states, std::int64_t rows, const float* table, const float* bias, std::int64_t V,
                       std::int64_t D, std::int64_t M, const unsigned char* excluded, int k, ScoredItem* out,
                       std::size_t* counts, Arena& scratch) override;
  std::size_t top_k(const float* scores, std::int64_t V, const unsigned char* excluded, int k,
                    ScoredItem* out) override;
};

// The process's CUDA backend.
CudaBackend& backend();

// Registers the tensor allocator (install_allocator) and this backend for
// Device::cuda: what loading the library does. Idempotent, thread-safe.
void install();

}  // namespace limelight::cuda
