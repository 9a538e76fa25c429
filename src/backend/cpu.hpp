// The CPU backend: primitives on raw row-major views, the reference for every
// other backend. Ops (src/ops) call these; they know nothing of the tape.
#pragma once

#include <cstdint>

namespace limelight::cpu {

// C = alpha * op(A) @ op(B) + beta * C, row-major; op(A) is M x K, op(B) K x N.
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
          const float* A, std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C,
          std::int64_t ldc);

// out[i, :] = table[ids[i], :] for n ids, rows of width D.
void gather_rows(const float* table, std::int64_t D, const std::int32_t* ids, std::int64_t n, float* out);
// table_grad[ids[i], :] += grad[i, :], skipping id 0 (the padding row).
void scatter_add_rows(const float* grad, std::int64_t D, const std::int32_t* ids, std::int64_t n,
                      float* table_grad);

// LSTM over time for one layer, given the input projections for every step
// (xproj = x W_ih^T + b_ih + b_hh, (B, T, 4H)). Writes hidden states h (B, T, H),
// cell states c (B, T, H) and activated gates (B, T, 4H: sigma(i), sigma(f),
// tanh(g), sigma(o)) which the backward pass needs.
void lstm_forward(const float* xproj, const float* weight_hh, std::int64_t B, std::int64_t T,
                  std::int64_t H, float* h, float* c, float* gates);
// Backward through time. Given d_h (B, T, H) and the forward's h, c, gates,
// writes d_xproj (B, T, 4H) (the gradient of the pre-activations, which is
// also the biases' per-step gradient) and adds into d_weight_hh (4H, H).
// `scratch` holds 2*B*H + B*4H floats.
void lstm_backward(const float* d_h, const float* weight_hh, const float* h, const float* c,
                   const float* gates, std::int64_t B, std::int64_t T, std::int64_t H,
                   float* d_xproj, float* d_weight_hh, float* scratch);

}  // namespace limelight::cpu
