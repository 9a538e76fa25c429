// Launchers of the hand-written LSTM kernels (kernels/lstm.cu), PyTorch's
// gate order (i, f, g, o), h and c starting at 0. The input projection of
// all steps and the weight gradients are cuBLAS GEMMs around these kernels
// (src/backend/cuda/layers.cpp). Host-callable from plain C++; pointers are
// device memory; every tensor is batch-major, (B, T, width).
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace limelight::cuda::kernels {

// Hidden sizes up to this keep W_hh in registers across all steps; larger
// ones (up to lstm_max_hidden) read it from global memory at every step.
constexpr std::int64_t lstm_max_register_hidden = 64;
// The largest hidden size whose per-block state fits in 48 KiB of shared memory.
constexpr std::int64_t lstm_max_hidden = 1024;

// The recurrence. gates (B, T, 4H) holds x W_ih^T + b_ih + b_hh on entry
// and the activated gates sigma(i), sigma(f), tanh(g), sigma(o) on return;
// out and c (B, T, H) receive h and the cell states, h_prev (B, T, H) h
// shifted one step later (h_prev[b, t] = h[b, t-1], 0 at t = 0), so that
// the backward's W_hh gradient is one GEMM. `tile` sequences per block.
// `workspace` holds lstm_forward_workspace(H) bytes (none for H <= 64).
std::size_t lstm_forward_workspace(std::int64_t H);
void lstm_recurrent_forward(float* gates, const float* weight_hh, std::int64_t B, std::int64_t T, std::int64_t H,
                            float* out, float* h_prev, float* c, int tile, float* workspace, cudaStream_t stream);
// Backward through time from d_out (B, T, H) over the saved gates and cell
// states: dz (B, T, 4H) receives d loss / d pre-activation of every gate.
void lstm_recurrent_backward(const float* d_out, const float* gates, const float* c, const float* weight_hh,
                             std::int64_t B, std::int64_t T, std::int64_t H, float* dz, int tile,
                             cudaStream_t stream);
// Sequences per block for B sequences on `multiprocessors` SMs.
int lstm_tile(std::int64_t B, std::int64_t H, int multiprocessors);

// y[i] += x[i] for i < n: the cuDNN path's gradients, which cuDNN writes
// rather than adds into the caller's.
void add_into(const float* x, std::int64_t n, float* y, cudaStream_t stream);

}  // namespace limelight::cuda::kernels
