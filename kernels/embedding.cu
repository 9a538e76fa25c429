// Embedding lookup and its backward.
//
// gather_rows: out (n, D) = table (V, D)[ids (n)]. One warp per id (grid
//   stride), lanes over D: each row read and written coalesced. CPU
//   reference: CpuBackend::gather_rows (src/backend/cpu/embedding.cpp).
// scatter_add_rows: table_grad (V, D)[ids] += grad (n, D), id 0 skipped. One
//   warp per id, atomicAdd per element: fast, NOT deterministic (the order in
//   which repeated ids add into a row varies). CPU reference:
//   CpuBackend::scatter_add_rows (src/backend/cpu/embedding.cpp).
// sparse_rows_sorted: the row-sparse gradient (rows, values) of the same sum,
//   deterministic. The (id, position) pairs are radix-sorted by id (CUB's
//   radix sort is stable, so positions stay ascending within an id); run
//   heads are flagged and numbered by an exclusive scan; runs are cut into
//   segments of at most 128 entries (numbered the same way), one warp per
//   segment adds its rows in position order, and one warp per run adds its
//   segment sums in order. Same input, same bits, every run; a run of up to
//   128 entries has the CPU's bits, a longer one rounds per segment.
//   CPU reference: SparseRows filled as ops::embedding's backward does (the
//   CPU keeps rows in first-touch order; this keeps them sorted by id).
// add_distinct_rows: table_grad[rows] += values for sparse_rows_sorted's
//   distinct rows, their count read on the device: one plain addition per
//   element, deterministic.
// drop_ids_outside: ids outside [0, V) become padding and set the fault
//   flag (the device entries a row-sparse gradient appends).
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_scan.cuh>

#include <algorithm>
#include <bit>

#include "kernels/common.cuh"
#include "kernels/embedding.cuh"
#include "limelight/error.hpp"

namespace limelight::cuda::kernels {

namespace {

constexpr int threads = 256;

__global__ void __launch_bounds__(max_block_threads) gather_rows_kernel(const float* __restrict__ table, std::int64_t V, std::int64_t D,
                                   const std::int32_t* __restrict__ ids, std::int64_t n, float* __restrict__ out,
                                   int* fault) {
  const int lane = threadIdx.x % warp_size;
  for (std::int64_t i = global_warp(); i < n; i += warp_count()) {
    const std::int32_t id = ids[i];
    float* dst = out + i * D;
    if (id < 0 || id >= V) {
      if (lane == 0) atomicOr(fault, fault_gather_id);
      for (std::int64_t d = lane; d < D; d += warp_size) dst[d] = 0.0f;
      continue;
    }
    const float* src = table + static_cast<std::int64_t>(id) * D;
    for (std::int64_t d = lane; d < D; d += warp_size) dst[d] = src[d];
  }
}

__global__ void __launch_bounds__(max_block_threads) scatter_add_rows_kernel(const float* __restrict__ grad, std::int64_t V, std::int64_t D,
                                        const std::int32_t* __restrict__ ids, std::int64_t n,
                                        float* __restrict__ table_grad, int* fault) {
  const int lane = threadIdx.x % warp_size;
  for (std::int64_t i = global_warp(); i < n; i += warp_count()) {
    const std::int32_t id = ids[i];
    if (id == 0) continue;
    if (id < 0 || id >= V) {
      if (lane == 0) atomicOr(fault, fault_scatter_id);
      continue;
    }
    float* dst = table_grad + static_cast<std::int64_t>(id) * D;
    const float* src = grad + i * D;
    for (std::int64_t d = lane; d < D; d += warp_size) atomicAdd(dst + d, src[d]);
  }
}

__global__ void __launch_bounds__(max_block_threads) drop_ids_outside_kernel(std::int32_t* __restrict__ ids, std::int64_t n, std::int64_t V, int* fault) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    if (ids[i] < 0 || ids[i] >= V) {
      ids[i] = 0;
      atomicOr(fault, fault_scatter_id);
    }
}

// The first *count of rows (distinct ids): one addition per element, so no
// atomics.
__global__ void __launch_bounds__(max_block_threads) add_distinct_rows_kernel(const float* __restrict__ values, std::int64_t V, std::int64_t D,
                                         const std::int32_t* __restrict__ rows, const std::int32_t* __restrict__ count,
                                         float* __restrict__ table_grad, int* fault) {
  const int lane = threadIdx.x % warp_size;
  const std::int64_t n = *count;
  for (std::int64_t i = global_warp(); i < n; i += warp_count()) {
    const std::int32_t id = rows[i];
    if (id < 0 || id >= V) {
      if (lane == 0) atomicOr(fault, fault_scatter_id);
      continue;
    }
    float* dst = table_grad + static_cast<std::int64_t>(id) * D;
    const float* src = values + i * D;
    for (std::int64_t d = lane; d < D; d += warp_size) dst[d] = __fadd_rn(dst[d], src[d]);
  }
}

__global__ void __launch_bounds__(max_block_threads) iota_kernel(std::int32_t* out, std::int64_t n) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    out[i] = static_cast<std::int32_t>(i);
}

// flags[i] = 1 where a run of a valid, non-padding id starts; flags[n] = 0 so
// that the exclusive scan's last element is the run count. Keys are the ids
// as unsigned: negative ids sort after every valid one.
__global__ void __launch_bounds__(max_block_threads) run_heads_kernel(const std::uint32_t* __restrict__ keys, std::int64_t n, std::int64_t V,
                                 std::int32_t* __restrict__ flags, int* fault) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i <= n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    if (i == n) {
      flags[i] = 0;
      continue;
    }
    const std::uint32_t k = keys[i];
    const bool valid = k != 0 && k < static_cast<std::uint64_t>(V);
    if (k >= static_cast<std::uint64_t>(V)) atomicOr(fault, fault_sparse_grad_id);
    flags[i] = valid && (i == 0 || keys[i - 1] != k) ? 1 : 0;
  }
}

__global__ void __launch_bounds__(max_block_threads) run_starts_kernel(const std::int32_t* __restrict__ flags, const std::int32_t* __restrict__ run_index,
                                  std::int64_t n, std::int32_t* __restrict__ starts) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    if (flags[i]) starts[run_index[i]] = static_cast<std::int32_t>(i);
}

// A run longer than segment_length is summed by several warps, one segment
// each, and the segment sums are then added in order: a popular id no
// longer keeps one warp walking its whole run while the others idle. A run
// of up to segment_length entries adds in position order, bit-identical to
// the CPU; a longer one is deterministic but rounds per segment.
constexpr std::int64_t segment_length = 128;

__device__ __forceinline__ bool valid_key(std::uint32_t k, std::int64_t V) {
  return k != 0 && k < static_cast<std::uint64_t>(V);
}

// seg_flags[i] = 1 where a segment starts: at every run head and every
// segment_length-th entry of a run after it; seg_flags[n] = 0.
__global__ void __launch_bounds__(max_block_threads) segment_heads_kernel(const std::uint32_t* __restrict__ keys, std::int64_t n, std::int64_t V,
                                     const std::int32_t* __restrict__ flags, const std::int32_t* __restrict__ run_index,
                                     const std::int32_t* __restrict__ starts, std::int32_t* __restrict__ seg_flags) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i <= n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    if (i == n || !valid_key(keys[i], V)) {
      seg_flags[i] = 0;
      continue;
    }
    const std::int64_t run = run_index[i] - 1 + flags[i];  // the exclusive scan counts this run's head after it
    seg_flags[i] = (i - starts[run]) % segment_length == 0 ? 1 : 0;
  }
}

// One warp per segment: partial[g, :] = the sum of its grad rows, in order.
__global__ void __launch_bounds__(max_block_threads) segment_sums_kernel(const float* __restrict__ grad, std::int64_t D,
                                    const std::uint32_t* __restrict__ keys, const std::int32_t* __restrict__ positions,
                                    std::int64_t n, const std::int32_t* __restrict__ seg_starts,
                                    const std::int32_t* __restrict__ seg_count, float* __restrict__ partial) {
  const int lane = threadIdx.x % warp_size;
  const std::int64_t segments = seg_count[0];
  for (std::int64_t g = global_warp(); g < segments; g += warp_count()) {
    const std::int64_t start = seg_starts[g];
    const std::int64_t end = start + segment_length < n ? start + segment_length : n;
    const std::uint32_t key = keys[start];
    for (std::int64_t d = lane; d < D; d += warp_size) {
      float acc = 0.0f;
      for (std::int64_t j = start; j < end && keys[j] == key; ++j)
        acc += grad[static_cast<std::int64_t>(positions[j]) * D + d];
      partial[g * D + d] = acc;
    }
  }
}

// One warp per run: values[r, :] = its segment sums in order; rows[r] = id.
__global__ void __launch_bounds__(max_block_threads) run_sums_kernel(std::int64_t D, const std::uint32_t* __restrict__ keys,
                                const std::int32_t* __restrict__ starts, const std::int32_t* __restrict__ run_count,
                                const std::int32_t* __restrict__ seg_index, const std::int32_t* __restrict__ seg_count,
                                const float* __restrict__ partial, std::int32_t* __restrict__ rows,
                                float* __restrict__ values, std::int32_t* count) {
  const int lane = threadIdx.x % warp_size;
  const std::int64_t runs = run_count[0];
  if (global_warp() == 0 && lane == 0) count[0] = static_cast<std::int32_t>(runs);
  for (std::int64_t r = global_warp(); r < runs; r += warp_count()) {
    const std::int64_t first = seg_index[starts[r]];
    const std::int64_t last = r + 1 < runs ? seg_index[starts[r + 1]] : seg_count[0];
    if (lane == 0) rows[r] = static_cast<std::int32_t>(keys[starts[r]]);
    for (std::int64_t d = lane; d < D; d += warp_size) {
      float acc = partial[first * D + d];
      for (std::int64_t g = first + 1; g < last; ++g) acc += partial[g * D + d];
      values[r * D + d] = acc;
    }
  }
}

// Workspace layout, each part 256-byte aligned.
struct Layout {
  std::size_t keys, positions_in, positions_out, flags, run_index, starts, seg_flags, seg_index, seg_starts, partial,
      temp, total;
};

std::size_t align(std::size_t x) { return (x + 255) / 256 * 256; }

std::size_t cub_temp_bytes(std::int64_t n) {
  std::size_t sort_bytes = 0, scan_bytes = 0;
  CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, sort_bytes, static_cast<const std::uint32_t*>(nullptr),
                                             static_cast<std::uint32_t*>(nullptr),
                                             static_cast<const std::int32_t*>(nullptr),
                                             static_cast<std::int32_t*>(nullptr), n));
  CUDA_CHECK(cub::DeviceScan::ExclusiveSum(nullptr, scan_bytes, static_cast<const std::int32_t*>(nullptr),
                                           static_cast<std::int32_t*>(nullptr), n + 1));
  return std::max(sort_bytes, scan_bytes);
}

Layout layout(std::int64_t n, std::int64_t D) {
  const std::size_t ints = static_cast<std::size_t>(n + 1) * sizeof(std::int32_t);
  Layout l{};
  std::size_t at = 0;
  for (std::size_t* part : {&l.keys, &l.positions_in, &l.positions_out, &l.flags, &l.run_index, &l.starts,
                            &l.seg_flags, &l.seg_index, &l.seg_starts}) {
    *part = at;
    at += align(ints);
  }
  l.partial = at;
  at += align(static_cast<std::size_t>(n * D) * sizeof(float));
  l.temp = at;
  l.total = at + align(cub_temp_bytes(n));
  return l;
}

}  // namespace

void gather_rows(const float* table, std::int64_t V, std::int64_t D, const std::int32_t* ids, std::int64_t n,
                 float* out, int* fault, cudaStream_t stream) {
  if (n == 0 || D == 0) return;
  LL_LAUNCH(gather_rows_kernel, grid_for(n, threads / warp_size), threads, 0, stream)(table, V, D, ids, n, out, fault);
  LL_LAUNCH_CHECK("gather_rows");
}

void scatter_add_rows(const float* grad, std::int64_t V, std::int64_t D, const std::int32_t* ids, std::int64_t n,
                      float* table_grad, int* fault, cudaStream_t stream) {
  if (n == 0 || D == 0) return;
  LL_LAUNCH(scatter_add_rows_kernel, grid_for(n, threads / warp_size), threads, 0, stream)(grad, V, D, ids, n,
                                                                                         table_grad, fault);
  LL_LAUNCH_CHECK("scatter_add_rows");
}

void drop_ids_outside(std::int32_t* ids, std::int64_t n, std::int64_t V, int* fault, cudaStream_t stream) {
  if (n == 0) return;
  LL_LAUNCH(drop_ids_outside_kernel, grid_for(n, threads), threads, 0, stream)(ids, n, V, fault);
  LL_LAUNCH_CHECK("drop_ids_outside");
}

void add_distinct_rows(const float* values, std::int64_t V, std::int64_t D, const std::int32_t* rows,
                       const std::int32_t* count, std::int64_t max_rows, float* table_grad, int* fault,
                       cudaStream_t stream) {
  if (max_rows == 0 || D == 0) return;
  LL_LAUNCH(add_distinct_rows_kernel, grid_for(max_rows, threads / warp_size), threads, 0, stream)(
      values, V, D, rows, count, table_grad, fault);
  LL_LAUNCH_CHECK("add_distinct_rows");
}

std::size_t sparse_rows_workspace(std::int64_t n, std::int64_t D) { return layout(n, D).total; }

void sparse_rows_sorted(const float* grad, std::int64_t V, std::int64_t D, const std::int32_t* ids, std::int64_t n,
                        std::int32_t* rows, float* values, std::int32_t* count, void* workspace,
                        std::size_t workspace_bytes, int* fault, cudaStream_t stream) {
  LL_CHECK(n < (std::int64_t{1} << 31) - 1, "sparse_rows_sorted: ", n, " ids exceed the int32 positions");
  if (n == 0) {
    CUDA_CHECK(cudaMemsetAsync(count, 0, sizeof(std::int32_t), stream));
    return;
  }
  const Layout l = layout(n, D);
  LL_CHECK(workspace_bytes >= l.total, "sparse_rows_sorted: workspace of ", workspace_bytes, " bytes, needs ", l.total);
  auto* base = static_cast<char*>(workspace);
  auto* keys = reinterpret_cast<std::uint32_t*>(base + l.keys);
  auto* positions_in = reinterpret_cast<std::int32_t*>(base + l.positions_in);
  auto* positions = reinterpret_cast<std::int32_t*>(base + l.positions_out);
  auto* flags = reinterpret_cast<std::int32_t*>(base + l.flags);
  auto* run_index = reinterpret_cast<std::int32_t*>(base + l.run_index);
  auto* starts = reinterpret_cast<std::int32_t*>(base + l.starts);
  auto* seg_flags = reinterpret_cast<std::int32_t*>(base + l.seg_flags);
  auto* seg_index = reinterpret_cast<std::int32_t*>(base + l.seg_index);
  auto* seg_starts = reinterpret_cast<std::int32_t*>(base + l.seg_starts);
  auto* partial = reinterpret_cast<float*>(base + l.partial);
  std::size_t temp_bytes = l.total - l.temp;

  const unsigned grid = grid_for(n + 1, threads);
  LL_LAUNCH(iota_kernel, grid, threads, 0, stream)(positions_in, n);
  LL_LAUNCH_CHECK("sparse_rows_sorted iota");
  // The bits ids below V use: a radix pass per 8 of them, not four always.
  // (An id outside [0, V) may then sort out of place; run_heads flags it.)
  const int key_bits = std::max(1, static_cast<int>(std::bit_width(static_cast<std::uint64_t>(V - 1))));
  CUDA_CHECK(cub::DeviceRadixSort::SortPairs(base + l.temp, temp_bytes, reinterpret_cast<const std::uint32_t*>(ids),
                                             keys, positions_in, positions, n, 0, std::min(key_bits, 32), stream));
  LL_LAUNCH(run_heads_kernel, grid, threads, 0, stream)(keys, n, V, flags, fault);
  LL_LAUNCH_CHECK("sparse_rows_sorted run_heads");
  temp_bytes = l.total - l.temp;
  CUDA_CHECK(cub::DeviceScan::ExclusiveSum(base + l.temp, temp_bytes, flags, run_index, n + 1, stream));
  LL_LAUNCH(run_starts_kernel, grid, threads, 0, stream)(flags, run_index, n, starts);
  LL_LAUNCH_CHECK("sparse_rows_sorted run_starts");
  LL_LAUNCH(segment_heads_kernel, grid, threads, 0, stream)(keys, n, V, flags, run_index, starts, seg_flags);
  LL_LAUNCH_CHECK("sparse_rows_sorted segment_heads");
  temp_bytes = l.total - l.temp;
  CUDA_CHECK(cub::DeviceScan::ExclusiveSum(base + l.temp, temp_bytes, seg_flags, seg_index, n + 1, stream));
  LL_LAUNCH(run_starts_kernel, grid, threads, 0, stream)(seg_flags, seg_index, n, seg_starts);
  LL_LAUNCH_CHECK("sparse_rows_sorted segment_starts");
  const unsigned warp_grid = grid_for(n, threads / warp_size);
  LL_LAUNCH(segment_sums_kernel, warp_grid, threads, 0, stream)(grad, D, keys, positions, n, seg_starts,
                                                                seg_index + n, partial);
  LL_LAUNCH_CHECK("sparse_rows_sorted segment_sums");
  LL_LAUNCH(run_sums_kernel, warp_grid, threads, 0, stream)(D, keys, starts, run_index + n, seg_index, seg_index + n,
                                                            partial, rows, values, count);
  LL_LAUNCH_CHECK("sparse_rows_sorted run_sums");
}

}  // namespace limelight::cuda::kernels
