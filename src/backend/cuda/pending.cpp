// Stand-ins for the primitives of elementwise.hpp and layers.hpp until
// their kernels are in this tree: each throws an Error naming itself, and
// pending_family() tells CudaBackend::supports() which families they
// leave incomplete. The file goes when the kernels arrive; the weak
// pending_family() of cuda_backend.cpp then answers that nothing is missing.
#include "backend/cuda/cuda_backend.hpp"
#include "backend/cuda/elementwise.hpp"
#include "backend/cuda/layers.hpp"
#include "limelight/error.hpp"

namespace limelight::cuda {

namespace {
[[noreturn]] void not_merged(const char* name) { detail::fail("cuda::", name, ": not merged yet"); }
}  // namespace

bool pending_family(backend::Primitive family) {
  using P = backend::Primitive;
  // gemm and gemv are here, linear is not; find_bad_id and score_rows are
  // embedding primitives.
  return family == P::dense_algebra || family == P::elementwise || family == P::reductions ||
         family == P::shape_copies || family == P::embeddings || family == P::causal_conv || family == P::lstm;
}

void fill(Context&, float*, std::int64_t, float) {
  not_merged("fill");
}

void axpy(Context&, float, const float*, float*, std::int64_t) {
  not_merged("axpy");
}

void copy_band(Context&, const float*, std::int64_t, std::int64_t, float*, std::int64_t, std::int64_t, std::int64_t,
               std::int64_t, std::int64_t, bool) {
  not_merged("copy_band");
}

void binary(Context&, backend::Binary, const float*, const float*, float*, std::int64_t) {
  not_merged("binary");
}

void binary_backward(Context&, backend::Binary, const float*, const float*, const float*, float*, float*,
                     std::int64_t) {
  not_merged("binary_backward");
}

void unary(Context&, backend::Unary, float, const float*, float*, std::int64_t) {
  not_merged("unary");
}

void unary_backward(Context&, backend::Unary, float, const float*, const float*, float*, std::int64_t) {
  not_merged("unary_backward");
}

void bias_add(Context&, const float*, const float*, std::int64_t, std::int64_t, float*) {
  not_merged("bias_add");
}

void sum_rows(Context&, const float*, std::int64_t, std::int64_t, float*) {
  not_merged("sum_rows");
}

void maximum(Context&, const float* const*, int, std::int64_t, float*, std::int32_t*) {
  not_merged("maximum");
}

void maximum_backward(Context&, const float*, const std::int32_t*, std::int32_t, float*, std::int64_t) {
  not_merged("maximum_backward");
}

void sum_all(Context&, const float*, std::int64_t, float, float*) {
  not_merged("sum_all");
}

void broadcast_scalar_backward(Context&, const float*, float, float*, std::int64_t) {
  not_merged("broadcast_scalar_backward");
}

double masked_mean(Context&, const float*, const float*, std::int64_t, float*) {
  not_merged("masked_mean");
}

void masked_mean_backward(Context&, const float*, float, const float*, float*, std::int64_t) {
  not_merged("masked_mean_backward");
}

void sum_dim(Context&, const float*, std::int64_t, std::int64_t, std::int64_t, float*) {
  not_merged("sum_dim");
}

void sum_dim_backward(Context&, const float*, std::int64_t, std::int64_t, std::int64_t, float*) {
  not_merged("sum_dim_backward");
}

void cumsum(Context&, const float*, std::int64_t, std::int64_t, std::int64_t, float*) {
  not_merged("cumsum");
}

void cumsum_backward(Context&, const float*, std::int64_t, std::int64_t, std::int64_t, float*) {
  not_merged("cumsum_backward");
}

void softmax(Context&, const float*, std::int64_t, std::int64_t, std::int64_t, float*) {
  not_merged("softmax");
}

void softmax_backward(Context&, const float*, const float*, std::int64_t, std::int64_t, std::int64_t, float*) {
  not_merged("softmax_backward");
}

std::int64_t find_bad_id(Context&, const std::int32_t*, std::int64_t, std::int64_t) {
  not_merged("find_bad_id");
}

void score_rows(Context&, const float*, const float*, const float*, std::int64_t, const std::int32_t*, std::int64_t,
                float*) {
  not_merged("score_rows");
}

void score_rows_backward(Context&, const float*, const float*, const float*, std::int64_t, const std::int32_t*,
                         std::int64_t, float*, float*) {
  not_merged("score_rows_backward");
}

void linear_forward(Context&, const float*, const float*, const float*, std::int64_t, std::int64_t, std::int64_t,
                    float*) {
  not_merged("linear_forward");
}

void linear_backward(Context&, const float*, const float*, const float*, std::int64_t, std::int64_t, std::int64_t,
                     float*, float*, float*, Arena&) {
  not_merged("linear_backward");
}

void causal_conv_forward(Context&, const backend::ConvShape&, ops::Activation, const float*, const float*, const float*,
                         const float*, float*, float*, Arena&, BackendPayload*) {
  not_merged("causal_conv_forward");
}

void causal_conv_backward(Context&, const backend::ConvShape&, ops::Activation, const float*, const float*, float*,
                          float*, float*, float*, Arena&, const BackendPayload&) {
  not_merged("causal_conv_backward");
}

void lstm_forward(Context&, const float*, const float*, const float*, const float*, const float*, std::int64_t,
                  std::int64_t, std::int64_t, std::int64_t, float*, Arena&, BackendPayload*) {
  not_merged("lstm_forward");
}

void lstm_backward(Context&, const float*, const float*, const float*, std::int64_t, std::int64_t, std::int64_t,
                   std::int64_t, float*, float*, float*, float*, float*, Arena&, const BackendPayload&) {
  not_merged("lstm_backward");
}

}  // namespace limelight::cuda
