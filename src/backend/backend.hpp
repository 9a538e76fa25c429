// The backend seam: every primitive an op computes with, on raw views.
//
// An op (src/ops) checks shapes and devices, records its node and calls one
// primitive of the backend of its inputs' device for its forward and one for
// its backward. Pointers are in that device's memory, row-major and
// contiguous unless a stride is given; `scratch` is the tape's arena on the
// same device. "Adds into" means the primitive accumulates (backward passes
// sum into gradients); a null gradient pointer means that gradient is not
// wanted. What a forward must hand to its backward beyond the op's own saved
// tensors travels in a BackendPayload the backend fills and reads alone.
//
// The CPU backend (src/backend/cpu/) implements all of it and is the
// reference every other backend is tested against (tests/ops/
// test_backend_ops.cpp). A backend that lacks a primitive says so through
// supports(), in the manner of ggml's supports_op.
#pragma once

#include <cstdint>
#include <vector>

#include "limelight/error.hpp"
#include "limelight/op_kinds.hpp"
#include "limelight/tape.hpp"
#include "limelight/tensor.hpp"

namespace limelight::backend {

enum class Binary : std::uint8_t { add, sub, mul };
enum class Unary : std::uint8_t { tanh, relu, sigmoid, scale, add_scalar };

// The primitives a backend may lack (for supports()).
enum class Primitive : std::uint8_t { pooled_sequence_loss };

// Shapes of the fused sequence loss: states (B, S, W) score targets (B, L)
// and negatives (N, B, L) against a (V, D) table; M mixture components
// (0: a dot product, W = D; else W = 2*M*D).
struct LossShape {
  std::int64_t B, L, S, W, V, D, M, N;
};

// Shapes of one causal convolution layer: x (B, T, C), weight (O, C, K),
// output (B, To, O) with To = T + pad - (K-1)*dilation; a residual (B, Tr, O)
// adds to the last Tr output steps (Tr = 0: none).
struct ConvShape {
  std::int64_t B, T, C, O, K, dilation, pad, To, Tr;
};

// Adam's per-step scalars, as PyTorch computes them for step `step`.
struct AdamStep {
  float beta1, beta2, one_minus_beta1, one_minus_beta2, weight_decay, eps, neg_step_size;
  double bias_correction2_sqrt;
  static AdamStep make(double lr, double beta1, double beta2, double eps, double weight_decay, std::int64_t step);
};

// Where a table's gradient goes: a dense (V, width) buffer, or row-sparse.
struct TableGrad {
  float* dense = nullptr;
  SparseRows* sparse = nullptr;
  bool wanted() const { return dense || sparse; }
};

struct ScoredItem {
  std::int32_t item;
  float score;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  virtual const char* name() const = 0;
  // Every primitive but the fused pooling loss, which has a default that fails.
  virtual bool supports(Primitive p) const { return p != Primitive::pooled_sequence_loss; }
  // Host threads the primitives may use (n >= 1); 0 restores the default.
  virtual void set_threads(int n) = 0;

  // ---- Dense algebra. C = alpha op(A) op(B) + beta C; op(A) is M x K.
  virtual void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
                    const float* A, std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C,
                    std::int64_t ldc) = 0;
  // y (rows, N) = x (rows, K) W^T + bias (N, may be null) for W (N, K).
  virtual void linear_forward(const float* x, const float* W, const float* bias, std::int64_t rows, std::int64_t K,
                              std::int64_t N, float* y) = 0;
  // Adds into d_x (rows, K), d_W (N, K) and d_bias (N) from d_y (rows, N).
  virtual void linear_backward(const float* d_y, const float* x, const float* W, std::int64_t rows, std::int64_t K,
                               std::int64_t N, float* d_x, float* d_W, float* d_bias, Arena& scratch) = 0;

  // ---- Fill, copy, elementwise (n elements).
  virtual void fill(float* x, std::int64_t n, float value) = 0;
  virtual void axpy(float alpha, const float* x, float* y, std::int64_t n) = 0;  // y += alpha x
  // For tensors (outer, n_side, inner) sharing outer and inner sizes: entries
  // [src_at, src_at + len) of src's middle dimension to [dst_at, ...) of dst's.
  virtual void copy_band(const float* src, std::int64_t src_n, std::int64_t src_at, float* dst, std::int64_t dst_n,
                         std::int64_t dst_at, std::int64_t outer, std::int64_t len, std::int64_t inner,
                         bool accumulate) = 0;
  virtual void binary(Binary op, const float* a, const float* b, float* out, std::int64_t n) = 0;
  virtual void binary_backward(Binary op, const float* d_out, const float* a, const float* b, float* d_a, float* d_b,
                               std::int64_t n) = 0;
  // y = op(x); scale multiplies by `scalar`, add_scalar adds it.
  virtual void unary(Unary op, float scalar, const float* x, float* y, std::int64_t n) = 0;
  // Adds d_y * op'(x) into d_x, written in terms of the output y.
  virtual void unary_backward(Unary op, float scalar, const float* y, const float* d_y, float* d_x,
                              std::int64_t n) = 0;
  // out (rows, N) = x + bias (N) per row; sum_rows adds the column sums of x into out (N).
  virtual void bias_add(const float* x, const float* bias, std::int64_t rows, std::int64_t N, float* out) = 0;
  virtual void sum_rows(const float* x, std::int64_t rows, std::int64_t N, float* out) = 0;
  // out = elementwise maximum of count inputs, arg = the lowest index attaining it.
  virtual void maximum(const float* const* xs, int count, std::int64_t n, float* out, std::int32_t* arg) = 0;
  // Adds d_out into d_x where arg == which.
  virtual void maximum_backward(const float* d_out, const std::int32_t* arg, std::int32_t which, float* d_x,
                                std::int64_t n) = 0;

  // ---- Reductions and scans. Tensors are (outer, n, inner) over the reduced dimension.
  virtual void sum_all(const float* x, std::int64_t n, float factor, float* out) = 0;  // out[0] = factor * sum
  // d_x[i] += factor * d_out[0].
  virtual void broadcast_scalar_backward(const float* d_out, float factor, float* d_x, std::int64_t n) = 0;
  // out[0] = sum(x * mask) / sum(mask); returns sum(mask) (<= 0: out is not written).
  virtual double masked_mean(const float* x, const float* mask, std::int64_t n, float* out) = 0;
  virtual void masked_mean_backward(const float* d_out, float scale, const float* mask, float* d_x,
                                    std::int64_t n) = 0;
  virtual void sum_dim(const float* x, std::int64_t outer, std::int64_t n, std::int64_t inner, float* out) = 0;
  virtual void sum_dim_backward(const float* d_out, std::int64_t outer, std::int64_t n, std::int64_t inner,
                                float* d_x) = 0;
  virtual void cumsum(const float* x, std::int64_t outer, std::int64_t n, std::int64_t inner, float* out) = 0;
  virtual void cumsum_backward(const float* d_out, std::int64_t outer, std::int64_t n, std::int64_t inner,
                               float* d_x) = 0;
  virtual void softmax(const float* x, std::int64_t outer, std::int64_t n, std::int64_t inner, float* y) = 0;
  virtual void softmax_backward(const float* y, const float* d_y, std::int64_t outer, std::int64_t n,
                                std::int64_t inner, float* d_x) = 0;

  // ---- Embeddings. Row 0 of a table is padding: it never receives gradient.
  // The index of the first id outside [0, V), or -1.
  virtual std::int64_t find_bad_id(const std::int32_t* ids, std::int64_t n, std::int64_t V) = 0;
  // V, in these and the mixture head's calls, is the table's row count: a
  // backend whose ids are not searched first (a device's, ops/common.hpp)
  // checks each id against it and reports one outside at its next
  // synchronisation instead of reading past the table.
  // out[i, :] = table[ids[i], :] for rows of width D.
  virtual void gather_rows(const float* table, std::int64_t V, std::int64_t D, const std::int32_t* ids,
                           std::int64_t n, float* out) = 0;
  // grad's row i adds into row ids[i] of the table's gradient, skipping id 0;
  // deterministic for a given thread count.
  virtual void scatter_add_rows(const float* grad, std::int64_t V, std::int64_t D, const std::int32_t* ids,
                                std::int64_t n, const TableGrad& d_table) = 0;
  // out[i] = rep[i] . table[ids[i]] + bias[ids[i]] (bias may be null).
  virtual void score_rows(const float* rep, const float* table, const float* bias, std::int64_t D,
                          const std::int32_t* ids, std::int64_t n, float* out) = 0;
  // Adds d_out[i] table[ids[i]] into d_rep; writes d_out[i] rep[i] into d_entries (n, D) when not null.
  virtual void score_rows_backward(const float* d_out, const float* rep, const float* table, std::int64_t D,
                                   const std::int32_t* ids, std::int64_t n, float* d_rep, float* d_entries) = 0;

  // ---- The mixture-of-tastes head. rep rows hold M taste vectors then M
  // attention vectors of width D; weights (n, M) are the attention softmax.
  virtual void mixture_score(const float* rep, const float* table, const float* bias, std::int64_t V, std::int64_t D,
                             std::int64_t M, const std::int32_t* ids, std::int64_t n, float* out, float* weights) = 0;
  // Adds into d_rep (n, 2MD); writes the gradient of each row's item embedding into d_entries (n, D).
  virtual void mixture_score_backward(const float* d_out, const float* rep, const float* table, std::int64_t V,
                                      std::int64_t D, std::int64_t M, const std::int32_t* ids, std::int64_t n,
                                      const float* weights, float* d_rep, float* d_entries) = 0;

  // ---- The fused masked sequence loss (see ops::sequence_loss). Forward
  // writes into `coef` (N+1, B, L) d loss_element / d score for the positive
  // and each negative (zero where masked) and returns the sum and count of
  // unmasked losses.
  struct LossTotals {
    double sum, count;
  };
  virtual LossTotals sequence_loss_forward(ops::LossKind kind, const LossShape& s, const float* states,
                                           const float* table, const float* bias, const std::int32_t* targets,
                                           const std::int32_t* negatives, float* coef, BackendPayload* payload) = 0;
  // d_loss scales coef (the upstream gradient over the count). Adds into
  // d_states (B, S, W), and the table's and bias's gradients.
  virtual void sequence_loss_backward(const LossShape& s, float d_loss, const float* states, const float* table,
                                      const std::int32_t* targets, const std::int32_t* negatives, const float* coef,
                                      float* d_states, const TableGrad& d_table, const TableGrad& d_bias,
                                      const BackendPayload& payload) = 0;

  // ---- Pooling fused with the dot-product sequence loss (s.M == 0, s.S ==
  // s.L + 1, s.W == s.D): each window's rows gathered from the table, the
  // running mean and the scoring of targets (the window itself) and
  // negatives in one pass, with the same `coef` and totals as
  // sequence_loss_forward over running_pool's states. Nothing of size B x L
  // x D is written; the backward recomputes each window's states. Optional
  // (supports(Primitive::pooled_sequence_loss)); the default fails.
  virtual LossTotals pooled_sequence_loss_forward(ops::LossKind kind, const LossShape& s, const float* table,
                                                  const float* bias, const std::int32_t* sequences,
                                                  const std::int32_t* negatives, float* coef, Arena& scratch,
                                                  BackendPayload* payload) {
    (void)kind, (void)s, (void)table, (void)bias, (void)sequences, (void)negatives, (void)coef, (void)scratch,
        (void)payload;
    detail::fail("the ", name(), " backend has no fused pooling loss (check supports() first)");
  }
  // Adds the table's and bias's gradients (d_loss as in sequence_loss_backward).
  virtual void pooled_sequence_loss_backward(const LossShape& s, float d_loss, const float* table,
                                             const std::int32_t* sequences, const std::int32_t* negatives,
                                             const float* coef, const TableGrad& d_table, const TableGrad& d_bias,
                                             Arena& scratch, const BackendPayload& payload) {
    (void)s, (void)d_loss, (void)table, (void)sequences, (void)negatives, (void)coef, (void)d_table, (void)d_bias,
        (void)scratch, (void)payload;
    detail::fail("the ", name(), " backend has no fused pooling loss (check supports() first)");
  }

  // ---- Spotlight's running pooling: x (B, T, D) -> out (B, T+1, D) and the
  // per-component divisors div (B, T+1, D) its backward reads.
  virtual void running_pool_forward(const float* x, std::int64_t B, std::int64_t T, std::int64_t D, float* out,
                                    float* div, BackendPayload* payload) = 0;
  virtual void running_pool_backward(const float* d_out, const float* div, std::int64_t B, std::int64_t T,
                                     std::int64_t D, float* d_x, const BackendPayload& payload) = 0;

  // ---- One causal convolution layer: y = act(conv(x) + bias) (+ residual).
  // `activations` (B, To, O) receives act(...) for the backward. bias may be null.
  virtual void causal_conv_forward(const ConvShape& s, ops::Activation act, const float* x, const float* weight,
                                   const float* bias, const float* residual, float* y, float* activations,
                                   Arena& scratch, BackendPayload* payload) = 0;
  virtual void causal_conv_backward(const ConvShape& s, ops::Activation act, const float* d_y,
                                    const float* activations, float* d_x, float* d_weight, float* d_bias,
                                    float* d_residual, Arena& scratch, const BackendPayload& payload) = 0;

  // ---- One LSTM layer, PyTorch's gate order (i, f, g, o); h and c start at 0.
  // x (B, T, D) -> out (B, T, H).
  virtual void lstm_forward(const float* x, const float* weight_ih, const float* weight_hh, const float* bias_ih,
                            const float* bias_hh, std::int64_t B, std::int64_t T, std::int64_t D, std::int64_t H,
                            float* out, Arena& scratch, BackendPayload* payload) = 0;
  virtual void lstm_backward(const float* d_out, const float* weight_ih, const float* weight_hh, std::int64_t B,
                             std::int64_t T, std::int64_t D, std::int64_t H, float* d_x, float* d_weight_ih,
                             float* d_weight_hh, float* d_bias_ih, float* d_bias_hh, Arena& scratch,
                             const BackendPayload& payload) = 0;

  // ---- Adam: dense over n elements; lazy over the rows of a row-sparse
  // gradient of a table with rows of width D.
  virtual void adam_dense(const AdamStep& c, float* w, const float* g, float* m, float* v, std::int64_t n) = 0;
  virtual void adam_lazy(const AdamStep& c, float* w, float* m, float* v, std::int64_t D, const SparseRows& grad) = 0;

  // ---- Serving. scores (rows, V) of final states (rows, W) against every
  // item: a dot product (M = 0) or the mixture head.
  virtual void score_catalogue(const float* states, std::int64_t rows, const float* table, const float* bias,
                               std::int64_t V, std::int64_t D, std::int64_t M, float* scores, Arena& scratch) = 0;
  // score_catalogue and top_k fused: the k best items of each row, best first,
  // into out (rows, k) with counts[r] found for row r, never an item whose
  // `excluded` flag (V, shared by the rows) is set; the (rows, V) scores are
  // never written out. The same scores as score_catalogue.
  virtual void top_k_catalogue(const float* states, std::int64_t rows, const float* table, const float* bias,
                               std::int64_t V, std::int64_t D, std::int64_t M, const unsigned char* excluded, int k,
                               ScoredItem* out, std::size_t* counts, Arena& scratch) = 0;
  // The k best of V scores, best first (higher score, then lower id), never
  // an item whose `excluded` flag is set; returns how many were found.
  virtual std::size_t top_k(const float* scores, std::int64_t V, const unsigned char* excluded, int k,
                            ScoredItem* out) = 0;
};

// The backend of a device: Error naming the device when none is available.
Backend& get(Device device);
// Installs a device's backend (the CUDA library does so when it is loaded).
void register_backend(Backend* backend);
// The devices whose backend is available in this process, the CPU first.
std::vector<Device> available();

}  // namespace limelight::backend
