// Elementwise kernels: fills, axpy, band copies, binary and unary maps and
// their backward, bias, maximum, the broadcast gradients of sum-like
// reductions, and target scoring by dot product.
//
// Shapes are flat (n elements) unless given. Parallelisation: grid-stride
// loops over elements with 64-bit indices, blocks of 256 threads (whole
// warps fewer for a launch with less work). The maps read and write float4
// (four elements per thread per step) when every pointer they touch is
// 16-byte aligned, and finish the last n % 4 elements one at a time;
// otherwise they go element by element. Consecutive threads take consecutive
// elements, so every load and store is coalesced. score_rows is one warp per
// row (lanes over D, a warp-tree dot product); score_rows_backward is flat
// over (n, D).
//
// Every result but score_rows' dot product is the CPU's operation in the
// CPU's order: products and sums are written with the _rn intrinsics so that
// nvcc fuses nothing into an FMA the CPU does not do, and the results match
// it to the bit (tanhf and expf aside, which differ from glibc's by a few
// ulp on a GPU). Deterministic. CPU reference: src/backend/cpu/
// elementwise.cpp and embedding.cpp.
#include <cstring>

#include "kernels/common.cuh"
#include "kernels/elementwise.cuh"
#include "limelight/error.hpp"

#include <cstdint>

namespace limelight::cuda::kernels {

namespace {

// ---- Maps: out[i] = f(a[i], b[i], out[i]). A functor says which of its
// three operands it reads; the others are passed as 0. No __restrict__:
// out may be one of the inputs (an in-place map reads each element before
// it writes it).

template <class F>
__device__ __forceinline__ void map_one(const F& f, const float* a, const float* b, float* out, std::int64_t i) {
  const float va = F::reads_a ? a[i] : 0.0f;
  const float vb = F::reads_b ? b[i] : 0.0f;
  const float vo = F::reads_out ? out[i] : 0.0f;
  out[i] = f(va, vb, vo);
}

template <class F>
__global__ void __launch_bounds__(max_block_threads) map_kernel(F f, const float* a, const float* b, float* out, std::int64_t n, bool vectorised) {
  std::int64_t scalar_from = 0;
  if (vectorised) {
    const std::int64_t n4 = n / 4;
    const float4 zero4{0.0f, 0.0f, 0.0f, 0.0f};
    for (std::int64_t i = thread_index(); i < n4; i += thread_count()) {
      float4 va = zero4, vb = zero4, vo = zero4;
      if constexpr (F::reads_a) va = reinterpret_cast<const float4*>(a)[i];
      if constexpr (F::reads_b) vb = reinterpret_cast<const float4*>(b)[i];
      if constexpr (F::reads_out) vo = reinterpret_cast<const float4*>(out)[i];
      float4 r;
      r.x = f(va.x, vb.x, vo.x);
      r.y = f(va.y, vb.y, vo.y);
      r.z = f(va.z, vb.z, vo.z);
      r.w = f(va.w, vb.w, vo.w);
      reinterpret_cast<float4*>(out)[i] = r;
    }
    scalar_from = n4 * 4;
  }
  for (std::int64_t i = scalar_from + thread_index(); i < n; i += thread_count()) map_one(f, a, b, out, i);
}

template <class F>
void launch_map(const char* name, const F& f, const float* a, const float* b, float* out, std::int64_t n,
                cudaStream_t stream) {
  if (n == 0) return;
  const bool vectorised = (!F::reads_a || aligned16(a)) && (!F::reads_b || aligned16(b)) && aligned16(out);
  LL_LAUNCH(map_kernel<F>, grid_for(vectorised ? (n + 3) / 4 : n, block_for(vectorised ? (n + 3) / 4 : n)), block_for(vectorised ? (n + 3) / 4 : n), 0, stream)(f, a, b, out, n,
                                                                                               vectorised);
  LL_LAUNCH_CHECK(name);
}

// Which operands a functor reads: a, b, out.
template <bool A, bool B, bool Out>
struct Reads {
  static constexpr bool reads_a = A, reads_b = B, reads_out = Out;
};

struct Fill : Reads<false, false, false> {
  float value;
  __device__ float operator()(float, float, float) const { return value; }
};
struct Axpy : Reads<true, false, true> {  // y += alpha x (alpha = 1 multiplies exactly)
  float alpha;
  __device__ float operator()(float x, float, float y) const { return __fadd_rn(y, __fmul_rn(alpha, x)); }
};
struct Add : Reads<true, true, false> {
  __device__ float operator()(float a, float b, float) const { return __fadd_rn(a, b); }
};
struct Sub : Reads<true, true, false> {
  __device__ float operator()(float a, float b, float) const { return __fsub_rn(a, b); }
};
struct Mul : Reads<true, true, false> {
  __device__ float operator()(float a, float b, float) const { return __fmul_rn(a, b); }
};
struct AddInto : Reads<true, false, true> {  // out += a
  __device__ float operator()(float a, float, float o) const { return __fadd_rn(o, a); }
};
struct SubInto : Reads<true, false, true> {  // out -= a
  __device__ float operator()(float a, float, float o) const { return __fsub_rn(o, a); }
};
struct MulInto : Reads<true, true, true> {  // out += a b
  __device__ float operator()(float a, float b, float o) const { return __fadd_rn(o, __fmul_rn(a, b)); }
};
struct Tanh : Reads<true, false, false> {
  __device__ float operator()(float x, float, float) const { return tanhf(x); }
};
struct Relu : Reads<true, false, false> {
  __device__ float operator()(float x, float, float) const { return x > 0.0f ? x : 0.0f; }
};
struct Sigmoid : Reads<true, false, false> {
  __device__ float operator()(float x, float, float) const { return __fdiv_rn(1.0f, __fadd_rn(1.0f, expf(-x))); }
};
struct Scale : Reads<true, false, false> {
  float scalar;
  __device__ float operator()(float x, float, float) const { return __fmul_rn(x, scalar); }
};
struct AddScalar : Reads<true, false, false> {
  float scalar;
  __device__ float operator()(float x, float, float) const { return __fadd_rn(x, scalar); }
};
// Unary backward: a = the output y, b = d_y, out = d_x.
struct TanhBackward : Reads<true, true, true> {
  __device__ float operator()(float y, float dy, float dx) const {
    return __fadd_rn(dx, __fmul_rn(dy, __fsub_rn(1.0f, __fmul_rn(y, y))));
  }
};
struct ReluBackward : Reads<true, true, true> {
  __device__ float operator()(float y, float dy, float dx) const { return __fadd_rn(dx, y > 0.0f ? dy : 0.0f); }
};
struct SigmoidBackward : Reads<true, true, true> {
  __device__ float operator()(float y, float dy, float dx) const {
    return __fadd_rn(dx, __fmul_rn(__fmul_rn(dy, y), __fsub_rn(1.0f, y)));
  }
};
struct ScaleBackward : Reads<false, true, true> {
  float scalar;
  __device__ float operator()(float, float dy, float dx) const { return __fadd_rn(dx, __fmul_rn(dy, scalar)); }
};
// d_x += d_out[0] * factor, the scalar read on the device.
struct AddScaledScalar : Reads<false, false, true> {
  const float* d_out;
  float factor;
  __device__ float operator()(float, float, float dx) const { return __fadd_rn(dx, __fmul_rn(d_out[0], factor)); }
};
// d_x += (d_out[0] * scale) * mask.
struct AddScaledMask : Reads<true, false, true> {
  const float* d_out;
  float scale;
  __device__ float operator()(float mask, float, float dx) const {
    return __fadd_rn(dx, __fmul_rn(__fmul_rn(d_out[0], scale), mask));
  }
};

// ---- Copies and broadcasts with a shape.

__global__ void __launch_bounds__(max_block_threads) copy_band_kernel(const float* __restrict__ src, std::int64_t src_n, std::int64_t src_at,
                                 float* __restrict__ dst, std::int64_t dst_n, std::int64_t dst_at, std::int64_t outer,
                                 std::int64_t band, std::int64_t inner, bool accumulate) {
  for (std::int64_t i = thread_index(); i < outer * band; i += thread_count()) {
    const std::int64_t o = i / band, r = i - o * band;
    const float s = src[(o * src_n + src_at) * inner + r];
    float& d = dst[(o * dst_n + dst_at) * inner + r];
    d = accumulate ? __fadd_rn(d, s) : s;
  }
}

__global__ void __launch_bounds__(max_block_threads) bias_add_kernel(const float* __restrict__ x, const float* __restrict__ bias, std::int64_t rows,
                                std::int64_t N, float* __restrict__ out) {
  LL_ROWS_COLUMNS(r, n, rows, N) out[r * N + n] = __fadd_rn(x[r * N + n], bias[n]);
}

__global__ void __launch_bounds__(max_block_threads) sum_dim_backward_kernel(const float* __restrict__ d_out, std::int64_t outer, std::int64_t n,
                                        std::int64_t inner, float* __restrict__ d_x) {
  for (std::int64_t i = thread_index(); i < outer * n * inner; i += thread_count()) {
    const std::int64_t o = i / (n * inner), r = i % inner;
    d_x[i] = __fadd_rn(d_x[i], d_out[o * inner + r]);
  }
}

// ---- Maximum. The input pointers travel by value in the launch, up to
// max_inputs per pass; more inputs take further passes that continue from
// out and arg.
constexpr int max_inputs = 8;
struct InputPointers {
  const float* p[max_inputs];
};

__global__ void __launch_bounds__(max_block_threads) maximum_kernel(InputPointers xs, int count, int first_index, bool resume, std::int64_t n,
                               float* __restrict__ out, std::int32_t* __restrict__ arg) {
  for (std::int64_t i = thread_index(); i < n; i += thread_count()) {
    float best;
    std::int32_t which;
    int k = 0;
    if (resume) {
      best = out[i];
      which = arg[i];
    } else {
      best = xs.p[0][i];
      which = first_index;
      k = 1;
    }
    for (; k < count; ++k) {
      const float v = xs.p[k][i];
      if (v > best) {  // strictly greater: ties keep the lowest index
        best = v;
        which = first_index + k;
      }
    }
    out[i] = best;
    arg[i] = which;
  }
}

__global__ void __launch_bounds__(max_block_threads) maximum_backward_kernel(const float* __restrict__ d_out, const std::int32_t* __restrict__ arg,
                                        std::int32_t which, float* __restrict__ d_x, std::int64_t n) {
  for (std::int64_t i = thread_index(); i < n; i += thread_count())
    if (arg[i] == which) d_x[i] = __fadd_rn(d_x[i], d_out[i]);
}

// ---- Target scoring.

__global__ void __launch_bounds__(max_block_threads) score_rows_kernel(const float* __restrict__ rep, const float* __restrict__ table,
                                  const float* __restrict__ bias, std::int64_t D, const std::int32_t* __restrict__ ids,
                                  std::int64_t n, float* __restrict__ out) {
  const int lane = threadIdx.x % warp_size;
  for (std::int64_t i = global_warp(); i < n; i += warp_count()) {
    const std::int32_t id = ids[i];
    const float s = warp_dot(rep + i * D, table + static_cast<std::int64_t>(id) * D, D);
    if (lane == 0) out[i] = __fadd_rn(s, bias ? bias[id] : 0.0f);
  }
}

__global__ void __launch_bounds__(max_block_threads) score_rows_backward_kernel(const float* __restrict__ d_out, const float* __restrict__ rep,
                                           const float* __restrict__ table, std::int64_t D,
                                           const std::int32_t* __restrict__ ids, std::int64_t n,
                                           float* __restrict__ d_rep, float* __restrict__ d_entries) {
  for (std::int64_t i = thread_index(); i < n * D; i += thread_count()) {
    const std::int64_t r = i / D, k = i - r * D;
    const float g = d_out[r];
    if (d_rep) d_rep[i] = __fadd_rn(d_rep[i], __fmul_rn(g, table[static_cast<std::int64_t>(ids[r]) * D + k]));
    if (d_entries) d_entries[i] = __fmul_rn(g, rep[i]);
  }
}

__global__ void __launch_bounds__(max_block_threads) write_bytes_kernel(SmallBytes payload, std::size_t n, unsigned char* __restrict__ dst) {
  for (std::size_t i = threadIdx.x; i < n; i += blockDim.x) dst[i] = payload.bytes[i];
}

}  // namespace

void write_small(void* device, const void* host, std::size_t bytes, cudaStream_t stream) {
  LL_CHECK(bytes <= small_write_bytes, "write_small: ", bytes, " bytes, at most ", small_write_bytes);
  if (bytes == 0) return;
  SmallBytes payload{};
  std::memcpy(payload.bytes, host, bytes);
  LL_LAUNCH(write_bytes_kernel, 1, 256, 0, stream)(payload, bytes, static_cast<unsigned char*>(device));
  LL_LAUNCH_CHECK("write_small");
}

void fill(float* x, std::int64_t n, float value, cudaStream_t stream) {
  launch_map("fill", Fill{{}, value}, nullptr, nullptr, x, n, stream);
}

void axpy(float alpha, const float* x, float* y, std::int64_t n, cudaStream_t stream) {
  launch_map("axpy", Axpy{{}, alpha}, x, nullptr, y, n, stream);
}

void copy_band(const float* src, std::int64_t src_n, std::int64_t src_at, float* dst, std::int64_t dst_n,
               std::int64_t dst_at, std::int64_t outer, std::int64_t len, std::int64_t inner, bool accumulate,
               cudaStream_t stream) {
  const std::int64_t band = len * inner;
  if (outer == 0 || band == 0) return;
  LL_LAUNCH(copy_band_kernel, grid_for(outer * band, block_for(outer * band)), block_for(outer * band), 0, stream)(src, src_n, src_at, dst, dst_n,
                                                                                   dst_at, outer, band, inner,
                                                                                   accumulate);
  LL_LAUNCH_CHECK("copy_band");
}

void binary(BinaryOp op, const float* a, const float* b, float* out, std::int64_t n, cudaStream_t stream) {
  switch (op) {
    case BinaryOp::add:
      return launch_map("binary add", Add{}, a, b, out, n, stream);
    case BinaryOp::sub:
      return launch_map("binary sub", Sub{}, a, b, out, n, stream);
    case BinaryOp::mul:
      return launch_map("binary mul", Mul{}, a, b, out, n, stream);
  }
}

void binary_backward(BinaryOp op, const float* d_out, const float* a, const float* b, float* d_a, float* d_b,
                     std::int64_t n, cudaStream_t stream) {
  if (op == BinaryOp::mul) {
    if (d_a) launch_map("binary_backward mul", MulInto{}, d_out, b, d_a, n, stream);
    if (d_b) launch_map("binary_backward mul", MulInto{}, d_out, a, d_b, n, stream);
    return;
  }
  if (d_a) launch_map("binary_backward", AddInto{}, d_out, nullptr, d_a, n, stream);
  if (d_b) {
    if (op == BinaryOp::sub)
      launch_map("binary_backward sub", SubInto{}, d_out, nullptr, d_b, n, stream);
    else
      launch_map("binary_backward add", AddInto{}, d_out, nullptr, d_b, n, stream);
  }
}

void unary(UnaryOp op, float scalar, const float* x, float* y, std::int64_t n, cudaStream_t stream) {
  switch (op) {
    case UnaryOp::tanh:
      return launch_map("unary tanh", Tanh{}, x, nullptr, y, n, stream);
    case UnaryOp::relu:
      return launch_map("unary relu", Relu{}, x, nullptr, y, n, stream);
    case UnaryOp::sigmoid:
      return launch_map("unary sigmoid", Sigmoid{}, x, nullptr, y, n, stream);
    case UnaryOp::scale:
      return launch_map("unary scale", Scale{{}, scalar}, x, nullptr, y, n, stream);
    case UnaryOp::add_scalar:
      return launch_map("unary add_scalar", AddScalar{{}, scalar}, x, nullptr, y, n, stream);
  }
}

void unary_backward(UnaryOp op, float scalar, const float* y, const float* d_y, float* d_x, std::int64_t n,
                    cudaStream_t stream) {
  switch (op) {
    case UnaryOp::tanh:
      return launch_map("unary_backward tanh", TanhBackward{}, y, d_y, d_x, n, stream);
    case UnaryOp::relu:
      return launch_map("unary_backward relu", ReluBackward{}, y, d_y, d_x, n, stream);
    case UnaryOp::sigmoid:
      return launch_map("unary_backward sigmoid", SigmoidBackward{}, y, d_y, d_x, n, stream);
    case UnaryOp::scale:
      return launch_map("unary_backward scale", ScaleBackward{{}, scalar}, nullptr, d_y, d_x, n, stream);
    case UnaryOp::add_scalar:
      return launch_map("unary_backward add_scalar", AddInto{}, d_y, nullptr, d_x, n, stream);
  }
}

void bias_add(const float* x, const float* bias, std::int64_t rows, std::int64_t N, float* out, cudaStream_t stream) {
  if (rows == 0 || N == 0) return;
  LL_LAUNCH(bias_add_kernel, rows_columns_grid(rows, N), block_for(N), 0, stream)(x, bias, rows, N, out);
  LL_LAUNCH_CHECK("bias_add");
}

void maximum(const float* const* xs, int count, std::int64_t n, float* out, std::int32_t* arg, cudaStream_t stream) {
  if (n == 0) return;
  for (int first = 0; first < count; first += max_inputs) {
    const int here = count - first < max_inputs ? count - first : max_inputs;
    InputPointers pointers{};
    for (int k = 0; k < here; ++k) pointers.p[k] = xs[first + k];
    LL_LAUNCH(maximum_kernel, grid_for(n, block_for(n)), block_for(n), 0, stream)(pointers, here, first, first > 0, n, out,
                                                                        arg);
    LL_LAUNCH_CHECK("maximum");
  }
}

void maximum_backward(const float* d_out, const std::int32_t* arg, std::int32_t which, float* d_x, std::int64_t n,
                      cudaStream_t stream) {
  if (n == 0) return;
  LL_LAUNCH(maximum_backward_kernel, grid_for(n, block_for(n)), block_for(n), 0, stream)(d_out, arg, which, d_x, n);
  LL_LAUNCH_CHECK("maximum_backward");
}

void broadcast_scalar_backward(const float* d_out, float factor, float* d_x, std::int64_t n, cudaStream_t stream) {
  launch_map("broadcast_scalar_backward", AddScaledScalar{{}, d_out, factor}, nullptr, nullptr, d_x, n, stream);
}

void masked_mean_backward(const float* d_out, float scale, const float* mask, float* d_x, std::int64_t n,
                          cudaStream_t stream) {
  launch_map("masked_mean_backward", AddScaledMask{{}, d_out, scale}, mask, nullptr, d_x, n, stream);
}

void sum_dim_backward(const float* d_out, std::int64_t outer, std::int64_t n, std::int64_t inner, float* d_x,
                      cudaStream_t stream) {
  if (outer == 0 || n == 0 || inner == 0) return;
  LL_LAUNCH(sum_dim_backward_kernel, grid_for(outer * n * inner, block_for(outer * n * inner)), block_for(outer * n * inner), 0, stream)(d_out, outer, n, inner,
                                                                                               d_x);
  LL_LAUNCH_CHECK("sum_dim_backward");
}

void score_rows(const float* rep, const float* table, const float* bias, std::int64_t D, const std::int32_t* ids,
                std::int64_t n, float* out, cudaStream_t stream) {
  if (n == 0) return;
  const unsigned block = block_for(n * warp_size);
  LL_LAUNCH(score_rows_kernel, grid_for(n, block / warp_size), block, 0, stream)(rep, table, bias, D, ids, n,
                                                                                     out);
  LL_LAUNCH_CHECK("score_rows");
}

void score_rows_backward(const float* d_out, const float* rep, const float* table, std::int64_t D,
                         const std::int32_t* ids, std::int64_t n, float* d_rep, float* d_entries,
                         cudaStream_t stream) {
  if (n == 0 || D == 0 || (!d_rep && !d_entries)) return;
  LL_LAUNCH(score_rows_backward_kernel, grid_for(n * D, block_for(n * D)), block_for(n * D), 0, stream)(d_out, rep, table, D, ids, n,
                                                                                      d_rep, d_entries);
  LL_LAUNCH_CHECK("score_rows_backward");
}

}  // namespace limelight::cuda::kernels
