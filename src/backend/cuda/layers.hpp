// The GPU backend's layer primitives: linear, the causal convolution and the
// LSTM, each with the name and parameters of its backend::Backend virtual
// (src/backend/backend.hpp) after the Context, computing what the CPU
// backend computes (src/backend/cpu/blas.cpp, conv.cpp, lstm.cpp) within
// float32 rounding and deterministically: cuBLAS GEMMs, and kernels
// (kernels/linear.cu, conv.cu, lstm.cu) whose sums have a fixed order.
// Pointers, `scratch` and the payload's buffers are device memory; work is
// queued on the Context's stream. docs/gpu.md describes the kernels.
#pragma once

#include <cstdint>

#include "backend/backend.hpp"
#include "limelight/op_kinds.hpp"
#include "limelight/tape.hpp"
#include "limelight/tensor.hpp"

namespace limelight::cuda {

class Context;

// y (rows, N) = x (rows, K) W^T + bias (N, may be null) for W (N, K).
void linear_forward(Context& ctx, const float* x, const float* W, const float* bias, std::int64_t rows,
                    std::int64_t K, std::int64_t N, float* y);
// Adds into d_x (rows, K), d_W (N, K) and d_bias (N) from d_y (rows, N); any may be null.
void linear_backward(Context& ctx, const float* d_y, const float* x, const float* W, std::int64_t rows,
                     std::int64_t K, std::int64_t N, float* d_x, float* d_W, float* d_bias, Arena& scratch);

// One causal convolution layer: y = act(conv(x) + bias) (+ residual). The
// payload keeps the unfolded input and the packed weight for the backward.
void causal_conv_forward(Context& ctx, const backend::ConvShape& s, ops::Activation act, const float* x,
                         const float* weight, const float* bias, const float* residual, float* y,
                         float* activations, Arena& scratch, BackendPayload* payload);
void causal_conv_backward(Context& ctx, const backend::ConvShape& s, ops::Activation act, const float* d_y,
                          const float* activations, float* d_x, float* d_weight, float* d_bias, float* d_residual,
                          Arena& scratch, const BackendPayload& payload);

// Which LSTM implementation lstm_forward uses: the environment variable
// LIMELIGHT_CUDA_LSTM, "kernel" (the default, also when unset or empty) or
// "cudnn" (cuDNN's RNN; builds against the real toolkit only). Error for
// any other value, and for "cudnn" in an emulator build.
enum class LstmPath : std::uint8_t { kernel, cudnn };
LstmPath lstm_path();

// One LSTM layer, PyTorch's gate order (i, f, g, o); h and c start at 0.
// x (B, T, D) -> out (B, T, H). The hand-written kernel takes H up to
// kernels::lstm_max_hidden (Error beyond). The backward uses the path its
// forward used (kept in the payload).
void lstm_forward(Context& ctx, const float* x, const float* weight_ih, const float* weight_hh, const float* bias_ih,
                  const float* bias_hh, std::int64_t B, std::int64_t T, std::int64_t D, std::int64_t H, float* out,
                  Arena& scratch, BackendPayload* payload);
void lstm_backward(Context& ctx, const float* d_out, const float* weight_ih, const float* weight_hh, std::int64_t B,
                   std::int64_t T, std::int64_t D, std::int64_t H, float* d_x, float* d_weight_ih,
                   float* d_weight_hh, float* d_bias_ih, float* d_bias_hh, Arena& scratch,
                   const BackendPayload& payload);

}  // namespace limelight::cuda
