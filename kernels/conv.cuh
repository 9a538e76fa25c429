// Launchers of the causal convolution's kernels (kernels/conv.cu). The
// layer is x (B, T, C) -> y (B, To, O) = act(unfold(x) Wr^T + bias) (+ the
// residual on the last Tr steps), with the GEMMs done by cuBLAS between
// these kernels (src/backend/cuda/layers.cpp). Host-callable from plain
// C++; pointers are device memory.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace limelight::cuda::kernels {

// backend::ConvShape's fields: x (B, T, C), weight (O, C, K), output
// (B, To, O) with To = T + pad - (K-1)*dilation, residual (B, Tr, O).
struct ConvDims {
  std::int64_t B, T, C, O, K, dilation, pad, To, Tr;
};

// ops::Activation's values.
enum ConvActivation : int { conv_none = 0, conv_tanh = 1, conv_relu = 2 };

// wr (O, K*C)[o, j*C + c] = weight (O, C, K)[o, c, j].
void conv_pack_weight(const float* weight, const ConvDims& s, float* wr, cudaStream_t stream);
// d_weight (O, C, K)[o, c, j] += d_wr (O, K*C)[o, j*C + c].
void conv_unpack_weight_add(const float* d_wr, const ConvDims& s, float* d_weight, cudaStream_t stream);
// col (B*To, K*C)[(b, t), j*C + c] = x[b, t + j*dilation - pad, c], zero
// where that step is before 0 (the causal padding).
void conv_unfold(const float* x, const ConvDims& s, float* col, cudaStream_t stream);
// d_x (B, T, C)[b, u, c] += sum over taps j (in order) of
// d_col[(b, u + pad - j*dilation), j*C + c] where that step is in [0, To).
// Each element is written by one thread: no atomics.
void conv_fold_add(const float* d_col, const ConvDims& s, float* d_x, cudaStream_t stream);
// y (B, To, O) holds the convolution; adds the bias (may be null), applies
// the activation (kept in `activations`) and adds the residual (may be null).
void conv_activate(float* y, float* activations, const float* bias, const float* residual, const ConvDims& s,
                   int activation, cudaStream_t stream);
// d_pre = d_y * act'(pre), written in terms of the activations; and, when
// d_residual is not null, d_residual (B, Tr, O) += d_y on the residual's steps.
void conv_activation_backward(const float* d_y, const float* activations, const ConvDims& s, int activation,
                              float* d_pre, float* d_residual, cudaStream_t stream);

}  // namespace limelight::cuda::kernels
