// The GPU backend's elementwise, reduction, scan, softmax and target-scoring
// primitives, and find_bad_id: each with the name and the parameters of its
// backend::Backend virtual (src/backend/backend.hpp) after a Context.
// masked_mean and find_bad_id return host values: they synchronise.
#pragma once

#include <cstdint>

#include "backend/backend.hpp"

namespace limelight::cuda {

class Context;

void fill(Context& ctx, float* x, std::int64_t n, float value);
void axpy(Context& ctx, float alpha, const float* x, float* y, std::int64_t n);
void copy_band(Context& ctx, const float* src, std::int64_t src_n, std::int64_t src_at, float* dst, std::int64_t dst_n,
               std::int64_t dst_at, std::int64_t outer, std::int64_t len, std::int64_t inner, bool accumulate);
void binary(Context& ctx, backend::Binary op, const float* a, const float* b, float* out, std::int64_t n);
void binary_backward(Context& ctx, backend::Binary op, const float* d_out, const float* a, const float* b, float* d_a,
                     float* d_b, std::int64_t n);
void unary(Context& ctx, backend::Unary op, float scalar, const float* x, float* y, std::int64_t n);
void unary_backward(Context& ctx, backend::Unary op, float scalar, const float* y, const float* d_y, float* d_x,
                    std::int64_t n);
void bias_add(Context& ctx, const float* x, const float* bias, std::int64_t rows, std::int64_t N, float* out);
void sum_rows(Context& ctx, const float* x, std::int64_t rows, std::int64_t N, float* out);
void maximum(Context& ctx, const float* const* xs, int count, std::int64_t n, float* out, std::int32_t* arg);
void maximum_backward(Context& ctx, const float* d_out, const std::int32_t* arg, std::int32_t which, float* d_x,
                      std::int64_t n);
void sum_all(Context& ctx, const float* x, std::int64_t n, float factor, float* out);
void broadcast_scalar_backward(Context& ctx, const float* d_out, float factor, float* d_x, std::int64_t n);
double masked_mean(Context& ctx, const float* x, const float* mask, std::int64_t n, float* out);
void masked_mean_backward(Context& ctx, const float* d_out, float scale, const float* mask, float* d_x, std::int64_t n);
void sum_dim(Context& ctx, const float* x, std::int64_t outer, std::int64_t n, std::int64_t inner, float* out);
void sum_dim_backward(Context& ctx, const float* d_out, std::int64_t outer, std::int64_t n, std::int64_t inner,
                      float* d_x);
void cumsum(Context& ctx, const float* x, std::int64_t outer, std::int64_t n, std::int64_t inner, float* out);
void cumsum_backward(Context& ctx, const float* d_out, std::int64_t outer, std::int64_t n, std::int64_t inner,
                     float* d_x);
void softmax(Context& ctx, const float* x, std::int64_t outer, std::int64_t n, std::int64_t inner, float* y);
void softmax_backward(Context& ctx, const float* y, const float* d_y, std::int64_t outer, std::int64_t n,
                      std::int64_t inner, float* d_x);
std::int64_t find_bad_id(Context& ctx, const std::int32_t* ids, std::int64_t n, std::int64_t V);
void score_rows(Context& ctx, const float* rep, const float* table, const float* bias, std::int64_t D,
                const std::int32_t* ids, std::int64_t n, float* out);
void score_rows_backward(Context& ctx, const float* d_out, const float* rep, const float* table, std::int64_t D,
                         const std::int32_t* ids, std::int64_t n, float* d_rep, float* d_entries);

}  // namespace limelight::cuda
