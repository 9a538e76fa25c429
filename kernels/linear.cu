// The linear layer's kernels beside its cuBLAS GEMMs: the bias broadcast
// into the output (the GEMM then adds x W^T with beta = 1, as the CPU does)
// and the bias gradient's column sum.
//
// column_sums: a block of 256 threads covers 32 columns of one chunk of
// rows; its 8 row lanes walk the chunk with a stride of 8 (consecutive
// threads read consecutive columns: coalesced), their 8 partial sums are
// added in lane order, and the chunks' sums in chunk order by a second
// kernel. The order of every addition is fixed by the sizes alone.
#include "kernels/common.cuh"
#include "kernels/linear.cuh"

namespace limelight::cuda::kernels {

namespace {

constexpr int threads = grid_stride_block;
constexpr int sum_columns = 32;                      // columns per block
constexpr int sum_lanes = threads / sum_columns;     // row lanes per block
constexpr std::int64_t rows_per_chunk = 1024;        // rows one block sums
constexpr std::int64_t max_chunks = 256;

__global__ void __launch_bounds__(max_block_threads) broadcast_rows_kernel(const float* __restrict__ a, const float* __restrict__ b, std::int64_t rows,
                                      std::int64_t N, float* __restrict__ out) {
  LL_ROWS_COLUMNS(r, n, rows, N) out[r * N + n] = b ? a[n] + b[n] : a[n];
}

// Block (column tile blockIdx.x, chunk blockIdx.y): the chunk's sum of each
// column into partial[chunk, n], or added into out when there is one chunk.
__global__ void __launch_bounds__(max_block_threads) column_chunk_sums_kernel(const float* __restrict__ x, std::int64_t rows, std::int64_t N,
                                         std::int64_t chunk_rows, float* __restrict__ partial,
                                         float* __restrict__ out) {
  __shared__ float lanes[sum_lanes][sum_columns];
  const int column = threadIdx.x % sum_columns, lane = threadIdx.x / sum_columns;
  const std::int64_t n = static_cast<std::int64_t>(blockIdx.x) * sum_columns + column;
  const std::int64_t r0 = static_cast<std::int64_t>(blockIdx.y) * chunk_rows;
  const std::int64_t r1 = r0 + chunk_rows < rows ? r0 + chunk_rows : rows;
  float s = 0.0f;
  if (n < N)
    for (std::int64_t r = r0 + lane; r < r1; r += sum_lanes) s += x[r * N + n];
  lanes[lane][column] = s;
  __syncthreads();
  if (lane == 0 && n < N) {
    float total = lanes[0][column];
    for (int l = 1; l < sum_lanes; ++l) total += lanes[l][column];
    if (partial)
      partial[static_cast<std::int64_t>(blockIdx.y) * N + n] = total;
    else
      out[n] += total;
  }
}

__global__ void __launch_bounds__(max_block_threads) column_merge_kernel(const float* __restrict__ partial, std::int64_t chunks, std::int64_t N,
                                    float* __restrict__ out) {
  for (std::int64_t n = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; n < N;
       n += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    float total = partial[n];
    for (std::int64_t c = 1; c < chunks; ++c) total += partial[c * N + n];
    out[n] += total;
  }
}

}  // namespace

void broadcast_rows(const float* a, const float* b, std::int64_t rows, std::int64_t N, float* out,
                    cudaStream_t stream) {
  if (rows == 0 || N == 0) return;
  LL_LAUNCH(broadcast_rows_kernel, rows_columns_grid(rows, N), block_for(N), 0, stream)(a, b, rows, N, out);
  LL_LAUNCH_CHECK("broadcast_rows");
}

std::int64_t column_sum_chunks(std::int64_t rows) {
  const std::int64_t chunks = (rows + rows_per_chunk - 1) / rows_per_chunk;
  return chunks < 1 ? 1 : chunks > max_chunks ? max_chunks : chunks;
}

void column_sums(const float* x, std::int64_t rows, std::int64_t N, float* out, float* workspace,
                 cudaStream_t stream) {
  if (rows == 0 || N == 0) return;
  const std::int64_t chunks = column_sum_chunks(rows);
  const std::int64_t chunk_rows = (rows + chunks - 1) / chunks;
  const dim3 grid(grid_for(N, sum_columns), static_cast<unsigned>(chunks));
  LL_LAUNCH(column_chunk_sums_kernel, grid, threads, 0, stream)(x, rows, N, chunk_rows,
                                                                 chunks > 1 ? workspace : nullptr, out);
  LL_LAUNCH_CHECK("column_sums");
  if (chunks > 1) {
    LL_LAUNCH(column_merge_kernel, grid_for(N, threads), block_for(N), 0, stream)(workspace, chunks, N, out);
    LL_LAUNCH_CHECK("column_sums merge");
  }
}

}  // namespace limelight::cuda::kernels
