// Reductions and scans: whole sums and the masked mean, sums along a
// dimension, cumulative sums, softmax, and the first id outside a table.
//
// Whole sums (sum_all, masked_mean): a grid of at most 1024 blocks, its size
// a function of n alone; each thread adds its grid-stride elements (float4
// loads where x and mask are 16-byte aligned) in double, each block adds its
// threads by a warp tree and then its warps in order into one partial, and a
// one-block kernel adds the partials the same way. The CPU also adds in
// double, so the float result agrees with it but for the double rounding of
// a different order (far below float32's). Fixed order: deterministic.
//
// Along a dimension of (outer, n, inner): one thread per (outer, inner)
// column adding along n in the CPU's order (consecutive threads take
// consecutive inner indices: coalesced for inner >= 32, which is how the
// models reduce, over a few hashes of width D). Columns longer than
// chunk_rows are cut into chunks summed by separate threads into a
// workspace, and the chunk sums are then added in order: deterministic, and
// the CPU's bits whenever n <= chunk_rows (a longer column rounds per chunk,
// within float32's bound for the sum). For inner = 1 a thread reads its
// column's chunk contiguously, not coalesced across the warp.
//
// cumsum and softmax (forward and backward) run one thread per column along
// n: the CPU's operations in its order (to the bit, expf aside, which
// differs from glibc's by a few ulp on a GPU); the scans are sequential by
// nature and softmax's n is a handful of components in the models.
//
// find_bad_id: a grid-stride search; a thread that meets a bad id lowers the
// shared minimum index with an integer atomicMin (the minimum does not
// depend on the order) and stops.
//
// CPU reference: src/backend/cpu/elementwise.cpp and embedding.cpp.
#include "kernels/common.cuh"
#include "kernels/reductions.cuh"

#include <cstdint>

namespace limelight::cuda::kernels {

namespace {

constexpr int threads = grid_stride_block;
constexpr std::int64_t whole_sum_items_per_block = threads * 16;
constexpr std::int64_t whole_sum_max_blocks = 1024;
constexpr std::int64_t chunk_rows = 256;

std::int64_t whole_sum_blocks(std::int64_t n) {
  return std::clamp<std::int64_t>((n + whole_sum_items_per_block - 1) / whole_sum_items_per_block, 1,
                                  whole_sum_max_blocks);
}

// The block's sum of v, in thread 0 (a warp tree, then the warps in order).
// Every thread of the block calls it; it may be called again right after.
__device__ __forceinline__ double block_sum(double v) {
  __shared__ double per_warp[threads / warp_size];
  v = warp_sum(v);
  if (threadIdx.x % warp_size == 0) per_warp[threadIdx.x / warp_size] = v;
  __syncthreads();
  double total = 0.0;
  if (threadIdx.x == 0)
    for (unsigned w = 0; w < blockDim.x / warp_size; ++w) total += per_warp[w];
  __syncthreads();  // per_warp is free for the next call
  return total;
}

// partials[block] = the block's sum of x (times mask, when given) and, with
// a mask, partials[gridDim.x + block] = its sum of mask.
__global__ void __launch_bounds__(max_block_threads) whole_sum_partials_kernel(const float* __restrict__ x, const float* __restrict__ mask, std::int64_t n,
                                          bool vectorised, double* __restrict__ partials) {
  double sum = 0.0, den = 0.0;
  std::int64_t scalar_from = 0;
  if (vectorised) {
    const std::int64_t n4 = n / 4;
    for (std::int64_t i = thread_index(); i < n4; i += thread_count()) {
      const float4 v = reinterpret_cast<const float4*>(x)[i];
      if (mask) {
        const float4 m = reinterpret_cast<const float4*>(mask)[i];
        sum += static_cast<double>(v.x) * m.x;
        sum += static_cast<double>(v.y) * m.y;
        sum += static_cast<double>(v.z) * m.z;
        sum += static_cast<double>(v.w) * m.w;
        den += m.x;
        den += m.y;
        den += m.z;
        den += m.w;
      } else {
        sum += v.x;
        sum += v.y;
        sum += v.z;
        sum += v.w;
      }
    }
    scalar_from = n4 * 4;
  }
  for (std::int64_t i = scalar_from + thread_index(); i < n; i += thread_count()) {
    if (mask) {
      sum += static_cast<double>(x[i]) * mask[i];
      den += mask[i];
    } else {
      sum += x[i];
    }
  }
  sum = block_sum(sum);
  if (mask) den = block_sum(den);
  if (threadIdx.x == 0) {
    partials[blockIdx.x] = sum;
    if (mask) partials[gridDim.x + blockIdx.x] = den;
  }
}

// One block: the partials in a fixed order, then the result.
__global__ void __launch_bounds__(max_block_threads) whole_sum_finish_kernel(const double* __restrict__ partials, int blocks, bool masked, float factor,
                                        float* __restrict__ out, double* __restrict__ den_out) {
  double sum = 0.0, den = 0.0;
  for (int k = threadIdx.x; k < blocks; k += blockDim.x) {
    sum += partials[k];
    if (masked) den += partials[blocks + k];
  }
  sum = block_sum(sum);
  if (masked) den = block_sum(den);
  if (threadIdx.x != 0) return;
  if (!masked) {
    out[0] = __fmul_rn(static_cast<float>(sum), factor);
  } else {
    den_out[0] = den;
    if (den > 0.0) out[0] = static_cast<float>(sum / den);
  }
}

// dst[(o * chunks + c) * inner + i] = the sum of x[o, k, i] over the chunk c
// of k, added in order; chunk 0 starts from init[o * inner + i] (out's
// values, when accumulating) or 0, as the CPU starts from out or its zero
// fill. With one chunk dst is out itself (and may be init).
__global__ void __launch_bounds__(max_block_threads) sum_chunks_kernel(const float* __restrict__ x, std::int64_t outer, std::int64_t n, std::int64_t inner,
                                  std::int64_t chunks, const float* init, float* dst) {
  for (std::int64_t t = thread_index(); t < outer * chunks * inner; t += thread_count()) {
    const std::int64_t q = t / inner, i = t - q * inner;
    const std::int64_t o = q / chunks, c = q - o * chunks;
    const float* column = x + o * n * inner + i;
    std::int64_t k = c * chunk_rows;
    const std::int64_t end = k + chunk_rows < n ? k + chunk_rows : n;
    float acc;
    if (c == 0) {
      acc = init ? init[o * inner + i] : 0.0f;
    } else {
      acc = column[k * inner];
      ++k;
    }
    for (; k < end; ++k) acc = __fadd_rn(acc, column[k * inner]);
    dst[t] = acc;
  }
}

// out[o, i] = the chunk sums of column (o, i), added in order.
__global__ void __launch_bounds__(max_block_threads) sum_chunk_totals_kernel(const float* __restrict__ partial, std::int64_t outer, std::int64_t chunks,
                                        std::int64_t inner, float* __restrict__ out) {
  for (std::int64_t t = thread_index(); t < outer * inner; t += thread_count()) {
    const std::int64_t o = t / inner, i = t - o * inner;
    const float* p = partial + o * chunks * inner + i;
    float acc = p[0];
    for (std::int64_t c = 1; c < chunks; ++c) acc = __fadd_rn(acc, p[c * inner]);
    out[t] = acc;
  }
}

__global__ void __launch_bounds__(max_block_threads) cumsum_kernel(const float* __restrict__ x, std::int64_t outer, std::int64_t n, std::int64_t inner,
                              float* __restrict__ out) {
  for (std::int64_t t = thread_index(); t < outer * inner; t += thread_count()) {
    const std::int64_t o = t / inner, i = t - o * inner;
    const std::int64_t base = o * n * inner + i;
    float run = x[base];
    out[base] = run;
    for (std::int64_t k = 1; k < n; ++k) {
      run = __fadd_rn(run, x[base + k * inner]);
      out[base + k * inner] = run;
    }
  }
}

__global__ void __launch_bounds__(max_block_threads) cumsum_backward_kernel(const float* __restrict__ d_out, std::int64_t outer, std::int64_t n,
                                       std::int64_t inner, float* __restrict__ d_x) {
  for (std::int64_t t = thread_index(); t < outer * inner; t += thread_count()) {
    const std::int64_t o = t / inner, i = t - o * inner;
    const std::int64_t base = o * n * inner + i;
    float run = 0.0f;  // d x[k] = sum over j >= k of d_out[j]
    for (std::int64_t k = n - 1; k >= 0; --k) {
      run = __fadd_rn(run, d_out[base + k * inner]);
      d_x[base + k * inner] = __fadd_rn(d_x[base + k * inner], run);
    }
  }
}

__global__ void __launch_bounds__(max_block_threads) softmax_kernel(const float* __restrict__ x, std::int64_t outer, std::int64_t n, std::int64_t inner,
                               float* __restrict__ y) {
  for (std::int64_t t = thread_index(); t < outer * inner; t += thread_count()) {
    const std::int64_t o = t / inner, i = t - o * inner;
    const std::int64_t base = o * n * inner + i;
    float mx = -INFINITY;
    for (std::int64_t k = 0; k < n; ++k) {
      const float v = x[base + k * inner];
      mx = mx < v ? v : mx;  // std::max's choice: a NaN input is passed over
    }
    float z = 0.0f;
    for (std::int64_t k = 0; k < n; ++k) {
      const float e = expf(__fsub_rn(x[base + k * inner], mx));
      y[base + k * inner] = e;
      z = __fadd_rn(z, e);
    }
    for (std::int64_t k = 0; k < n; ++k) y[base + k * inner] = __fdiv_rn(y[base + k * inner], z);
  }
}

__global__ void __launch_bounds__(max_block_threads) softmax_backward_kernel(const float* __restrict__ y, const float* __restrict__ d_y, std::int64_t outer,
                                        std::int64_t n, std::int64_t inner, float* __restrict__ d_x) {
  for (std::int64_t t = thread_index(); t < outer * inner; t += thread_count()) {
    const std::int64_t o = t / inner, i = t - o * inner;
    const std::int64_t base = o * n * inner + i;
    float dot = 0.0f;
    for (std::int64_t k = 0; k < n; ++k)
      dot = __fadd_rn(dot, __fmul_rn(d_y[base + k * inner], y[base + k * inner]));
    for (std::int64_t k = 0; k < n; ++k) {
      const std::int64_t at = base + k * inner;
      d_x[at] = __fadd_rn(d_x[at], __fmul_rn(y[at], __fsub_rn(d_y[at], dot)));
    }
  }
}

__global__ void __launch_bounds__(max_block_threads) find_bad_id_kernel(const std::int32_t* __restrict__ ids, std::int64_t n, std::int64_t V,
                                   unsigned long long* first) {
  for (std::int64_t i = thread_index(); i < n; i += thread_count()) {
    const std::int32_t id = ids[i];
    if (id < 0 || id >= V) {
      atomicMin(first, static_cast<unsigned long long>(i));
      return;  // this thread's later indices are larger
    }
  }
}

}  // namespace

std::int64_t whole_sum_workspace(std::int64_t n) { return 2 * whole_sum_blocks(n); }

void sum_all(const float* x, std::int64_t n, float factor, float* out, double* workspace, cudaStream_t stream) {
  const std::int64_t blocks = whole_sum_blocks(n);
  LL_LAUNCH(whole_sum_partials_kernel, static_cast<unsigned>(blocks), block_for(n), 0, stream)(x, nullptr, n, aligned16(x),
                                                                                         workspace);
  LL_LAUNCH_CHECK("sum_all");
  LL_LAUNCH(whole_sum_finish_kernel, 1, block_for(blocks), 0, stream)(workspace, static_cast<int>(blocks), false, factor, out,
                                                            nullptr);
  LL_LAUNCH_CHECK("sum_all");
}

void masked_mean(const float* x, const float* mask, std::int64_t n, float* out, double* den, double* workspace,
                 cudaStream_t stream) {
  const std::int64_t blocks = whole_sum_blocks(n);
  LL_LAUNCH(whole_sum_partials_kernel, static_cast<unsigned>(blocks), block_for(n), 0, stream)(
      x, mask, n, aligned16(x) && aligned16(mask), workspace);
  LL_LAUNCH_CHECK("masked_mean");
  LL_LAUNCH(whole_sum_finish_kernel, 1, block_for(blocks), 0, stream)(workspace, static_cast<int>(blocks), true, 1.0f, out, den);
  LL_LAUNCH_CHECK("masked_mean");
}

namespace {
std::int64_t chunks_of(std::int64_t n) { return n > chunk_rows ? (n + chunk_rows - 1) / chunk_rows : 1; }
}  // namespace

std::int64_t sum_along_workspace(std::int64_t outer, std::int64_t n, std::int64_t inner) {
  const std::int64_t chunks = chunks_of(n);
  return chunks > 1 ? outer * chunks * inner : 0;
}

void sum_along(const float* x, std::int64_t outer, std::int64_t n, std::int64_t inner, float* out, bool accumulate,
               float* workspace, cudaStream_t stream) {
  if (outer == 0 || inner == 0) return;
  const std::int64_t chunks = chunks_of(n);
  const float* init = accumulate ? out : nullptr;
  float* dst = chunks > 1 ? workspace : out;
  LL_LAUNCH(sum_chunks_kernel, grid_for(outer * chunks * inner, block_for(outer * chunks * inner)), block_for(outer * chunks * inner), 0, stream)(x, outer, n, inner,
                                                                                              chunks, init, dst);
  LL_LAUNCH_CHECK("sum_along");
  if (chunks == 1) return;
  LL_LAUNCH(sum_chunk_totals_kernel, grid_for(outer * inner, block_for(outer * inner)), block_for(outer * inner), 0, stream)(workspace, outer, chunks,
                                                                                           inner, out);
  LL_LAUNCH_CHECK("sum_along");
}

void cumsum(const float* x, std::int64_t outer, std::int64_t n, std::int64_t inner, float* out, cudaStream_t stream) {
  if (outer == 0 || n == 0 || inner == 0) return;
  LL_LAUNCH(cumsum_kernel, grid_for(outer * inner, block_for(outer * inner)), block_for(outer * inner), 0, stream)(x, outer, n, inner, out);
  LL_LAUNCH_CHECK("cumsum");
}

void cumsum_backward(const float* d_out, std::int64_t outer, std::int64_t n, std::int64_t inner, float* d_x,
                     cudaStream_t stream) {
  if (outer == 0 || n == 0 || inner == 0) return;
  LL_LAUNCH(cumsum_backward_kernel, grid_for(outer * inner, block_for(outer * inner)), block_for(outer * inner), 0, stream)(d_out, outer, n, inner, d_x);
  LL_LAUNCH_CHECK("cumsum_backward");
}

void softmax(const float* x, std::int64_t outer, std::int64_t n, std::int64_t inner, float* y, cudaStream_t stream) {
  if (outer == 0 || n == 0 || inner == 0) return;
  LL_LAUNCH(softmax_kernel, grid_for(outer * inner, block_for(outer * inner)), block_for(outer * inner), 0, stream)(x, outer, n, inner, y);
  LL_LAUNCH_CHECK("softmax");
}

void softmax_backward(const float* y, const float* d_y, std::int64_t outer, std::int64_t n, std::int64_t inner,
                      float* d_x, cudaStream_t stream) {
  if (outer == 0 || n == 0 || inner == 0) return;
  LL_LAUNCH(softmax_backward_kernel, grid_for(outer * inner, block_for(outer * inner)), block_for(outer * inner), 0, stream)(y, d_y, outer, n, inner,
                                                                                           d_x);
  LL_LAUNCH_CHECK("softmax_backward");
}

void find_bad_id(const std::int32_t* ids, std::int64_t n, std::int64_t V, unsigned long long* first,
                 cudaStream_t stream) {
  if (n == 0) return;
  LL_LAUNCH(find_bad_id_kernel, grid_for(n, block_for(n)), block_for(n), 0, stream)(ids, n, V, first);
  LL_LAUNCH_CHECK("find_bad_id");
}

}  // namespace limelight::cuda::kernels
