// The GPU elementwise, reduction and scan primitives: argument checks, the
// workspace of the reductions from the Context's allocator, and the launch
// (kernels/elementwise.cu, kernels/reductions.cu). A workspace released here
// while its kernels are still queued is safe: every kernel of the backend
// runs on the Context's one stream, so the next user of the block is queued
// after them (allocator.hpp).
#include "backend/cuda/elementwise.hpp"

#include <initializer_list>

#include "backend/cuda/check.hpp"
#include "backend/cuda/context.hpp"
#include "kernels/elementwise.cuh"
#include "kernels/reductions.cuh"
#include "limelight/error.hpp"

namespace limelight::cuda {

static_assert(static_cast<int>(Binary::add) == static_cast<int>(kernels::BinaryOp::add) &&
              static_cast<int>(Binary::sub) == static_cast<int>(kernels::BinaryOp::sub) &&
              static_cast<int>(Binary::mul) == static_cast<int>(kernels::BinaryOp::mul));
static_assert(static_cast<int>(Unary::tanh) == static_cast<int>(kernels::UnaryOp::tanh) &&
              static_cast<int>(Unary::relu) == static_cast<int>(kernels::UnaryOp::relu) &&
              static_cast<int>(Unary::sigmoid) == static_cast<int>(kernels::UnaryOp::sigmoid) &&
              static_cast<int>(Unary::scale) == static_cast<int>(kernels::UnaryOp::scale) &&
              static_cast<int>(Unary::add_scalar) == static_cast<int>(kernels::UnaryOp::add_scalar));

namespace {

// The product of non-negative sizes; an Error naming `op` for a negative
// size or a product past int64.
std::int64_t elements(const char* op, std::initializer_list<std::int64_t> sizes) {
  std::int64_t total = 1;
  for (std::int64_t s : sizes) {
    LL_CHECK(s >= 0, op, ": negative size ", s);
    LL_CHECK(!__builtin_mul_overflow(total, s, &total), op, ": sizes overflow int64");
  }
  return total;
}

// Error unless `p` is given where there are elements to touch.
void need(const void* p, std::int64_t count, const char* op, const char* what) {
  LL_CHECK(p || count == 0, op, ": ", what, " is null for ", count, " elements");
}

kernels::BinaryOp binary_op(Binary op, const char* name) {
  LL_CHECK(op == Binary::add || op == Binary::sub || op == Binary::mul, name, ": unknown binary operation ",
           static_cast<int>(op));
  return static_cast<kernels::BinaryOp>(op);
}

kernels::UnaryOp unary_op(Unary op, const char* name) {
  LL_CHECK(static_cast<int>(op) <= static_cast<int>(Unary::add_scalar), name,
           ": unknown unary operation ", static_cast<int>(op));
  return static_cast<kernels::UnaryOp>(op);
}

}  // namespace

void fill(Context& ctx, float* x, std::int64_t n, float value) {
  const char* op = "cuda::fill";
  need(x, elements(op, {n}), op, "x");
  kernels::fill(x, n, value, ctx.stream());
}

void axpy(Context& ctx, float alpha, const float* x, float* y, std::int64_t n) {
  const char* op = "cuda::axpy";
  elements(op, {n});
  need(x, n, op, "x");
  need(y, n, op, "y");
  kernels::axpy(alpha, x, y, n, ctx.stream());
}

void copy_band(Context& ctx, const float* src, std::int64_t src_n, std::int64_t src_at, float* dst,
               std::int64_t dst_n, std::int64_t dst_at, std::int64_t outer, std::int64_t len, std::int64_t inner,
               bool accumulate) {
  const char* op = "cuda::copy_band";
  const std::int64_t count = elements(op, {outer, len, inner});
  elements(op, {outer, src_n, inner});
  elements(op, {outer, dst_n, inner});
  LL_CHECK(src_at >= 0 && dst_at >= 0 && src_at <= src_n - len && dst_at <= dst_n - len, op, ": a band of ", len,
           " at ", src_at, " of ", src_n, " to ", dst_at, " of ", dst_n, " lies outside its tensors");
  need(src, count, op, "src");
  need(dst, count, op, "dst");
  kernels::copy_band(src, src_n, src_at, dst, dst_n, dst_at, outer, len, inner, accumulate, ctx.stream());
}

void binary(Context& ctx, Binary op, const float* a, const float* b, float* out, std::int64_t n) {
  const char* name = "cuda::binary";
  const kernels::BinaryOp k = binary_op(op, name);
  elements(name, {n});
  need(a, n, name, "a");
  need(b, n, name, "b");
  need(out, n, name, "out");
  kernels::binary(k, a, b, out, n, ctx.stream());
}

void binary_backward(Context& ctx, Binary op, const float* d_out, const float* a, const float* b, float* d_a,
                     float* d_b, std::int64_t n) {
  const char* name = "cuda::binary_backward";
  const kernels::BinaryOp k = binary_op(op, name);
  elements(name, {n});
  if (!d_a && !d_b) return;
  need(d_out, n, name, "d_out");
  if (op == Binary::mul) {
    if (d_a) need(b, n, name, "b");
    if (d_b) need(a, n, name, "a");
  }
  kernels::binary_backward(k, d_out, a, b, d_a, d_b, n, ctx.stream());
}

void unary(Context& ctx, Unary op, float scalar, const float* x, float* y, std::int64_t n) {
  const char* name = "cuda::unary";
  const kernels::UnaryOp k = unary_op(op, name);
  elements(name, {n});
  need(x, n, name, "x");
  need(y, n, name, "y");
  kernels::unary(k, scalar, x, y, n, ctx.stream());
}

void unary_backward(Context& ctx, Unary op, float scalar, const float* y, const float* d_y, float* d_x,
                    std::int64_t n) {
  const char* name = "cuda::unary_backward";
  const kernels::UnaryOp k = unary_op(op, name);
  elements(name, {n});
  if (op != Unary::scale && op != Unary::add_scalar) need(y, n, name, "y");
  need(d_y, n, name, "d_y");
  need(d_x, n, name, "d_x");
  kernels::unary_backward(k, scalar, y, d_y, d_x, n, ctx.stream());
}

void bias_add(Context& ctx, const float* x, const float* bias, std::int64_t rows, std::int64_t N, float* out) {
  const char* op = "cuda::bias_add";
  const std::int64_t count = elements(op, {rows, N});
  need(x, count, op, "x");
  need(bias, count, op, "bias");
  need(out, count, op, "out");
  kernels::bias_add(x, bias, rows, N, out, ctx.stream());
}

void sum_rows(Context& ctx, const float* x, std::int64_t rows, std::int64_t N, float* out) {
  const char* op = "cuda::sum_rows";
  need(x, elements(op, {rows, N}), op, "x");
  need(out, N, op, "out");
  DeviceBuffer workspace =
      ctx.buffer(static_cast<std::size_t>(kernels::sum_along_workspace(1, rows, N)) * sizeof(float));
  kernels::sum_along(x, 1, rows, N, out, true, workspace.as<float>(), ctx.stream());
}

void maximum(Context& ctx, const float* const* xs, int count, std::int64_t n, float* out, std::int32_t* arg) {
  const char* op = "cuda::maximum";
  LL_CHECK(count >= 1, op, ": needs at least one input, got ", count);
  LL_CHECK(xs, op, ": the array of inputs is null");
  elements(op, {n});
  for (int k = 0; k < count; ++k) LL_CHECK(xs[k] || n == 0, op, ": input ", k, " is null");
  need(out, n, op, "out");
  need(arg, n, op, "arg");
  kernels::maximum(xs, count, n, out, arg, ctx.stream());
}

void maximum_backward(Context& ctx, const float* d_out, const std::int32_t* arg, std::int32_t which, float* d_x,
                      std::int64_t n) {
  const char* op = "cuda::maximum_backward";
  elements(op, {n});
  need(d_out, n, op, "d_out");
  need(arg, n, op, "arg");
  need(d_x, n, op, "d_x");
  kernels::maximum_backward(d_out, arg, which, d_x, n, ctx.stream());
}

void sum_all(Context& ctx, const float* x, std::int64_t n, float factor, float* out) {
  const char* op = "cuda::sum_all";
  need(x, elements(op, {n}), op, "x");
  need(out, 1, op, "out");
  DeviceBuffer workspace = ctx.buffer(static_cast<std::size_t>(kernels::whole_sum_workspace(n)) * sizeof(double));
  kernels::sum_all(x, n, factor, out, workspace.as<double>(), ctx.stream());
}

void broadcast_scalar_backward(Context& ctx, const float* d_out, float factor, float* d_x, std::int64_t n) {
  const char* op = "cuda::broadcast_scalar_backward";
  need(d_x, elements(op, {n}), op, "d_x");
  need(d_out, n > 0 ? 1 : 0, op, "d_out");
  kernels::broadcast_scalar_backward(d_out, factor, d_x, n, ctx.stream());
}

double masked_mean(Context& ctx, const float* x, const float* mask, std::int64_t n, float* out) {
  const char* op = "cuda::masked_mean";
  elements(op, {n});
  need(x, n, op, "x");
  need(mask, n, op, "mask");
  need(out, 1, op, "out");
  // The partials, then sum(mask), which comes back to the host.
  const std::int64_t partials = kernels::whole_sum_workspace(n);
  DeviceBuffer workspace = ctx.buffer(static_cast<std::size_t>(partials + 1) * sizeof(double));
  double* den = workspace.as<double>() + partials;
  kernels::masked_mean(x, mask, n, out, den, workspace.as<double>(), ctx.stream());
  double host_den = 0.0;
  ctx.read_back(den, &host_den, sizeof host_den);
  return host_den;
}

void masked_mean_backward(Context& ctx, const float* d_out, float scale, const float* mask, float* d_x,
                          std::int64_t n) {
  const char* op = "cuda::masked_mean_backward";
  elements(op, {n});
  need(mask, n, op, "mask");
  need(d_x, n, op, "d_x");
  need(d_out, n > 0 ? 1 : 0, op, "d_out");
  kernels::masked_mean_backward(d_out, scale, mask, d_x, n, ctx.stream());
}

void sum_dim(Context& ctx, const float* x, std::int64_t outer, std::int64_t n, std::int64_t inner, float* out) {
  const char* op = "cuda::sum_dim";
  need(x, elements(op, {outer, n, inner}), op, "x");
  need(out, outer * inner, op, "out");
  DeviceBuffer workspace =
      ctx.buffer(static_cast<std::size_t>(kernels::sum_along_workspace(outer, n, inner)) * sizeof(float));
  kernels::sum_along(x, outer, n, inner, out, false, workspace.as<float>(), ctx.stream());
}

void sum_dim_backward(Context& ctx, const float* d_out, std::int64_t outer, std::int64_t n, std::int64_t inner,
                      float* d_x) {
  const char* op = "cuda::sum_dim_backward";
  const std::int64_t count = elements(op, {outer, n, inner});
  need(d_x, count, op, "d_x");
  need(d_out, count > 0 ? outer * inner : 0, op, "d_out");
  kernels::sum_dim_backward(d_out, outer, n, inner, d_x, ctx.stream());
}

void cumsum(Context& ctx, const float* x, std::int64_t outer, std::int64_t n, std::int64_t inner, float* out) {
  const char* op = "cuda::cumsum";
  const std::int64_t count = elements(op, {outer, n, inner});
  need(x, count, op, "x");
  need(out, count, op, "out");
  kernels::cumsum(x, outer, n, inner, out, ctx.stream());
}

void cumsum_backward(Context& ctx, const float* d_out, std::int64_t outer, std::int64_t n, std::int64_t inner,
                     float* d_x) {
  const char* op = "cuda::cumsum_backward";
  const std::int64_t count = elements(op, {outer, n, inner});
  need(d_out, count, op, "d_out");
  need(d_x, count, op, "d_x");
  kernels::cumsum_backward(d_out, outer, n, inner, d_x, ctx.stream());
}

void softmax(Context& ctx, const float* x, std::int64_t outer, std::int64_t n, std::int64_t inner, float* y) {
  const char* op = "cuda::softmax";
  const std::int64_t count = elements(op, {outer, n, inner});
  need(x, count, op, "x");
  need(y, count, op, "y");
  kernels::softmax(x, outer, n, inner, y, ctx.stream());
}

void softmax_backward(Context& ctx, const float* y, const float* d_y, std::int64_t outer, std::int64_t n,
                      std::int64_t inner, float* d_x) {
  const char* op = "cuda::softmax_backward";
  const std::int64_t count = elements(op, {outer, n, inner});
  need(y, count, op, "y");
  need(d_y, count, op, "d_y");
  need(d_x, count, op, "d_x");
  kernels::softmax_backward(y, d_y, outer, n, inner, d_x, ctx.stream());
}

std::int64_t find_bad_id(Context& ctx, const std::int32_t* ids, std::int64_t n, std::int64_t V) {
  const char* op = "cuda::find_bad_id";
  elements(op, {n, V});
  need(ids, n, op, "ids");
  if (n == 0) return -1;
  DeviceBuffer first = ctx.buffer(sizeof(unsigned long long));
  CUDA_CHECK(cudaMemsetAsync(first.data(), 0xff, sizeof(unsigned long long), ctx.stream()));
  kernels::find_bad_id(ids, n, V, first.as<unsigned long long>(), ctx.stream());
  unsigned long long host_first = 0;
  ctx.read_back(first.data(), &host_first, sizeof host_first);
  return host_first == ~0ull ? -1 : static_cast<std::int64_t>(host_first);
}

void score_rows(Context& ctx, const float* rep, const float* table, const float* bias, std::int64_t D,
                const std::int32_t* ids, std::int64_t n, float* out) {
  const char* op = "cuda::score_rows";
  const std::int64_t count = elements(op, {n, D});
  need(rep, count, op, "rep");
  need(table, count, op, "table");
  need(ids, n, op, "ids");
  need(out, n, op, "out");
  kernels::score_rows(rep, table, bias, D, ids, n, out, ctx.stream());
}

void score_rows_backward(Context& ctx, const float* d_out, const float* rep, const float* table, std::int64_t D,
                         const std::int32_t* ids, std::int64_t n, float* d_rep, float* d_entries) {
  const char* op = "cuda::score_rows_backward";
  const std::int64_t count = elements(op, {n, D});
  if (!d_rep && !d_entries) return;
  need(d_out, n, op, "d_out");
  need(ids, d_rep ? n : 0, op, "ids");
  need(table, d_rep ? count : 0, op, "table");
  need(rep, d_entries ? count : 0, op, "rep");
  kernels::score_rows_backward(d_out, rep, table, D, ids, n, d_rep, d_entries, ctx.stream());
}

}  // namespace limelight::cuda
