// The GPU backend's linear, causal convolution and LSTM layers: each with
// the name and the parameters of its backend::Backend virtual
// (src/backend/backend.hpp) after a Context.
#pragma once

#include <cstdint>

#include "backend/backend.hpp"
#include "limelight/op_kinds.hpp"

namespace limelight::cuda {

class Context;

void linear_forward(Context& ctx, const float* x, const float* W, const float* bias, std::int64_t rows, std::int64_t K,
                    std::int64_t N, float* y);
void linear_backward(Context& ctx, const float* d_y, const float* x, const float* W, std::int64_t rows, std::int64_t K,
                     std::int64_t N, float* d_x, float* d_W, float* d_bias, Arena& scratch);
void causal_conv_forward(Context& ctx, const backend::ConvShape& s, ops::Activation act, const float* x,
                         const float* weight, const float* bias, const float* residual, float* y, float* activations,
                         Arena& scratch, BackendPayload* payload);
void causal_conv_backward(Context& ctx, const backend::ConvShape& s, ops::Activation act, const float* d_y,
                          const float* activations, float* d_x, float* d_weight, float* d_bias, float* d_residual,
                          Arena& scratch, const BackendPayload& payload);
void lstm_forward(Context& ctx, const float* x, const float* weight_ih, const float* weight_hh, const float* bias_ih,
                  const float* bias_hh, std::int64_t B, std::int64_t T, std::int64_t D, std::int64_t H, float* out,
                  Arena& scratch, BackendPayload* payload);
void lstm_backward(Context& ctx, const float* d_out, const float* weight_ih, const float* weight_hh, std::int64_t B,
                   std::int64_t T, std::int64_t D, std::int64_t H, float* d_x, float* d_weight_ih, float* d_weight_hh,
                   float* d_bias_ih, float* d_bias_hh, Arena& scratch, const BackendPayload& payload);

}  // namespace limelight::cuda
