// Whole-catalogue scoring for predict and recommend.
//
// add_column_bias: scores (B, V) += bias (V); one thread per element.
// score_top_k: users (B, D), table (V, D), bias (V) -> the k best (id, score)
//   per user, without the (B, V) score matrix ever reaching memory.
//   Scoring pass: block (t, c) holds a tile of up to 8 users (a power of
//   two) in shared memory and scans slice c of the catalogue; each group of 8
//   lanes scores one item row against every user of the tile, four rows in
//   flight per warp (lanes over D: each row read in 32-byte runs, once per
//   tile), each lane's per-user sums in registers and then one
//   transpose-reduce across the group (U - 1 + 3 - log2 U shuffles for four
//   items, at most 2 per item per user), and the blocks of all tiles for a slice run
//   side by side (tile is the fast grid index), so the row comes from DRAM
//   about once per call and from L2 for the other tiles. Each user of the
//   tile keeps a candidate list in shared memory and a running threshold,
//   its k-th best so far: an item that does not beat it costs one compare.
//   When a list fills it is sorted (bitonic) and cut back to k, raising the
//   threshold. Excluded ids (a linear scan of the user's exclusion list) are
//   checked only for items that beat the threshold. Each block writes its k
//   best per user; merge passes sort chunks of 2048 candidates down to k
//   until one chunk is left. Workspace: B x slices x k candidates, twice;
//   slices are chosen from the device's multiprocessor count, not V.
//   Deterministic (a total order on (score, id): higher score, then lower
//   id); NaN scores never beat a threshold and are not returned. Scores
//   differ from the CPU's by dot-product rounding.
// CPU reference: ImplicitSequenceModel::recommend_into (src/model/model_serving.cpp),
//   whose heap uses the same order and also never returns id 0.
#include <bit>

#include "kernels/common.cuh"
#include "kernels/scoring.cuh"
#include "limelight/error.hpp"

namespace limelight::cuda::kernels {

namespace {

constexpr int chunk = 2048;  // merge pass: candidates sorted per block
constexpr int merge_threads = 512;
constexpr int tile_threads = 256;
constexpr int tile_warps = tile_threads / warp_size;
constexpr int max_tile_users = 8;
constexpr int list_capacity = 256;                // candidates per user of a tile, a power of two
constexpr int round_items = 4 * tile_warps;       // items a block scores between two threshold checks
constexpr int compact_at = list_capacity - round_items;  // a list this full is cut back before the next round

__device__ __forceinline__ bool better(float sa, std::int32_t ia, float sb, std::int32_t ib) {
  return sa > sb || (sa == sb && static_cast<std::uint32_t>(ia) < static_cast<std::uint32_t>(ib));
}

__global__ void __launch_bounds__(max_block_threads) add_column_bias_kernel(float* __restrict__ scores, std::int64_t B, std::int64_t V,
                                       const float* __restrict__ bias) {
  LL_ROWS_COLUMNS(b, v, B, V) scores[b * V + v] += bias[v];
}

// Exclusion ids outside [0, V) set the fault flag (0 is padding).
__global__ void __launch_bounds__(max_block_threads) check_exclusions_kernel(const std::int32_t* __restrict__ exclude_ids, std::int64_t count,
                                        std::int64_t V, int* fault) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    if (exclude_ids[i] < 0 || exclude_ids[i] >= V) atomicOr(fault, fault_exclude_id);
}

// Sorts n (a power of two, at most 2 x blockDim) entries best first.
__device__ void bitonic_sort(float* keys, std::int32_t* ids, int n) {
  for (int size = 2; size <= n; size <<= 1)
    for (int stride = size / 2; stride > 0; stride >>= 1) {
      __syncthreads();
      for (int t = threadIdx.x; t < n / 2; t += blockDim.x) {
        const int i = 2 * t - (t & (stride - 1)), j = i + stride;
        const bool best_first = (i & size) == 0;
        const bool swap =
            best_first ? better(keys[j], ids[j], keys[i], ids[i]) : better(keys[i], ids[i], keys[j], ids[j]);
        if (swap) {
          const float k = keys[i];
          keys[i] = keys[j];
          keys[j] = k;
          const std::int32_t d = ids[i];
          ids[i] = ids[j];
          ids[j] = d;
        }
      }
    }
  __syncthreads();
}

struct TileSource {
  const float* row_scores;  // (B, V) scores whose top k to take, in place of the dot products; or null
  const float* users;
  const float* table;
  const float* bias;
  const std::int32_t* exclude_ids;  // (B, X) or null
  const unsigned char* excluded;    // (V) flags shared by the users, or null
  std::int64_t B, V, D, X, slice_items;
  int tile_users, k;
};

// A group of lanes scores one item: the warp scores group_items at once.
constexpr int group_lanes = 8;
constexpr int group_items = warp_size / group_lanes;

// The transpose-reduce of N per-lane partial sums (one per user) over a group
// of 8 lanes, with the xor offset halving from Offset: while more than one
// value is left, each lane keeps half of them (by its offset bit) and sends
// the other half, so N values take N - 1 shuffles, then a plain sum for each
// offset left. Lane g of the group ends with the whole sum of user
// g >> (3 - log2 N). In each sum the two halves are added as the warp's
// butterfly adds them (a + b = b + a: every lane holding a user gets the
// same bits).
template <int N, int Offset>
__device__ __forceinline__ float transpose_reduce(const float (&v)[N], int g) {
  if constexpr (Offset == 0) {
    static_assert(N == 1, "more users than the group has lanes");
    return v[0];
  } else if constexpr (N == 1) {
    const float next[1] = {v[0] + __shfl_xor_sync(full_mask, v[0], Offset)};
    return transpose_reduce<1, Offset / 2>(next, g);
  } else {
    const bool upper = (g & Offset) != 0;
    float next[N / 2];
LL_UNROLL
    for (int j = 0; j < N / 2; ++j) {
      const float keep = upper ? v[j + N / 2] : v[j];
      const float send = upper ? v[j] : v[j + N / 2];
      next[j] = keep + __shfl_xor_sync(full_mask, send, Offset);
    }
    return transpose_reduce<N / 2, Offset / 2>(next, g);
  }
}

// Block (t, c): the k best items of slice c for each user of tile t (at most
// U, a power of two up to 8), to out[user, c * k ...] (padded with (-inf,
// -1)). Each group of 8 lanes scores one item against the U users held in
// shared memory (zero rows past the tile's last user), U sums per lane in
// registers, then one transpose-reduce: U - 1 + 3 - log2 U shuffles for
// group_items items, at most 2 per item per user (U = 1: 0.75).
template <int U>
__global__ void __launch_bounds__(max_block_threads) tile_top_k_kernel(TileSource src, float* __restrict__ out_scores, std::int32_t* __restrict__ out_ids,
                                  std::int64_t out_stride) {
  __shared__ float list_scores[max_tile_users][list_capacity];
  __shared__ std::int32_t list_ids[max_tile_users][list_capacity];
  __shared__ int list_count[max_tile_users];
  __shared__ float threshold_score[max_tile_users];
  __shared__ std::int32_t threshold_id[max_tile_users];
  LL_DYNAMIC_SHARED(float, users);  // U x D
  const int lane = threadIdx.x % warp_size, warp = threadIdx.x / warp_size;
  const int group = lane / group_lanes, g = lane % group_lanes;
  constexpr int log2_users = U == 1 ? 0 : U == 2 ? 1 : U == 4 ? 2 : 3;
  constexpr int lanes_per_user = group_lanes / U;
  const std::int64_t first_user = static_cast<std::int64_t>(blockIdx.x) * U;
  const int tile = static_cast<int>(src.B - first_user < U ? src.B - first_user : U);
  for (std::int64_t i = threadIdx.x; i < U * src.D; i += blockDim.x)
    users[i] = i < tile * src.D ? src.users[first_user * src.D + i] : 0.0f;
  if (threadIdx.x < max_tile_users) {
    list_count[threadIdx.x] = 0;
    threshold_score[threadIdx.x] = -INFINITY;
    threshold_id[threadIdx.x] = -1;  // as unsigned, the worst id: every finite score beats it
  }
  __syncthreads();

  // Sorts the lists of the users marked in `sorting` (all of them with
  // `all`) side by side, one bitonic network, keeps each one's best k and
  // raises its threshold. Called by every thread of the block.
  __shared__ bool sorting[max_tile_users];
  auto compact = [&](bool all) {
    __syncthreads();
    if (threadIdx.x < max_tile_users)
      sorting[threadIdx.x] = static_cast<int>(threadIdx.x) < tile && (all || list_count[threadIdx.x] > compact_at);
    __syncthreads();
    for (int i = threadIdx.x; i < tile * list_capacity; i += blockDim.x) {
      const int u = i / list_capacity, at = i % list_capacity;
      if (sorting[u] && at >= list_count[u]) {
        list_scores[u][at] = -INFINITY;
        list_ids[u][at] = -1;
      }
    }
    constexpr int pairs = list_capacity / 2;
    for (int size = 2; size <= list_capacity; size <<= 1)
      for (int stride = size / 2; stride > 0; stride >>= 1) {
        __syncthreads();
        for (int t = threadIdx.x; t < tile * pairs; t += blockDim.x) {
          const int u = t / pairs, p = t % pairs;
          if (!sorting[u]) continue;
          const int i = 2 * p - (p & (stride - 1)), j = i + stride;
          float* keys = list_scores[u];
          std::int32_t* ids = list_ids[u];
          const bool best_first = (i & size) == 0;
          const bool swap =
              best_first ? better(keys[j], ids[j], keys[i], ids[i]) : better(keys[i], ids[i], keys[j], ids[j]);
          if (swap) {
            const float key = keys[i];
            keys[i] = keys[j];
            keys[j] = key;
            const std::int32_t id = ids[i];
            ids[i] = ids[j];
            ids[j] = id;
          }
        }
      }
    __syncthreads();
    if (static_cast<int>(threadIdx.x) < tile && sorting[threadIdx.x]) {
      const int u = static_cast<int>(threadIdx.x), n = list_count[u];
      list_count[u] = n < src.k ? n : src.k;
      if (n >= src.k) {
        threshold_score[u] = list_scores[u][src.k - 1];
        threshold_id[u] = list_ids[u][src.k - 1];
      }
    }
    __syncthreads();
  };

  const std::int64_t begin = static_cast<std::int64_t>(blockIdx.y) * src.slice_items;
  const std::int64_t end = begin + src.slice_items < src.V ? begin + src.slice_items : src.V;
  // Every thread runs the same rounds so that all reach the barriers; every
  // lane of a warp takes part in its shuffles, a group past the slice's end
  // scoring its last item again for nothing.
  for (std::int64_t round = begin; round < end; round += round_items) {
    for (std::int64_t first = round + warp * group_items; first < round + round_items;
         first += tile_warps * group_items) {
      const std::int64_t item = first + group;
      const bool valid = item < end;
      const int u = g >> (3 - log2_users);
      const bool decides = valid && g % lanes_per_user == 0 && u < tile && item != 0;
      float sum = 0.0f;
      if (src.row_scores) {  // the same in every thread of the launch
        if (decides) sum = src.row_scores[(first_user + u) * src.V + item];
      } else {
        const float* e = src.table + (valid ? item : end - 1) * src.D;
        float acc[U];
LL_UNROLL
        for (int v = 0; v < U; ++v) acc[v] = 0.0f;
        for (std::int64_t d = g; d < src.D; d += group_lanes) {
          const float x = e[d];
LL_UNROLL
          for (int v = 0; v < U; ++v) acc[v] += x * users[v * src.D + d];
        }
        sum = transpose_reduce<U, group_lanes / 2>(acc, g);
      }
      if (decides) {
        const float score = sum + (src.bias ? src.bias[item] : 0.0f);
        const std::int32_t id = static_cast<std::int32_t>(item);
        if (better(score, id, threshold_score[u], threshold_id[u])) {
          bool excluded = src.excluded && src.excluded[item];
          if (src.exclude_ids && !excluded) {
            const std::int32_t* x = src.exclude_ids + (first_user + u) * src.X;
            for (std::int64_t j = 0; j < src.X && !excluded; ++j) excluded = x[j] == id;
          }
          if (!excluded) {
            const int at = atomicAdd(&list_count[u], 1);
            list_scores[u][at] = score;
            list_ids[u][at] = id;
          }
        }
      }
    }
    __syncthreads();  // the round's candidates are in
    bool full = false;
    for (int v = 0; v < tile; ++v) full = full || list_count[v] > compact_at;
    __syncthreads();  // every thread has read the counts before the next round adds to them
    if (full) compact(false);
  }
  compact(true);
  for (int v = 0; v < tile; ++v) {
    for (int j = threadIdx.x; j < src.k; j += blockDim.x) {
      const std::int64_t at = (first_user + v) * out_stride + static_cast<std::int64_t>(blockIdx.y) * src.k + j;
      out_scores[at] = list_scores[v][j];
      out_ids[at] = list_ids[v][j];
    }
  }
}

struct CandidateSource {
  const float* scores;
  const std::int32_t* ids;
  std::int64_t length;  // per row
};

// Block (c, b): candidates of chunk c of row b, best k to out[b, c * k ..].
__global__ void __launch_bounds__(merge_threads) merge_kernel(CandidateSource cand, int k, float* __restrict__ out_scores,
                             std::int32_t* __restrict__ out_ids, std::int64_t out_stride) {
  __shared__ float keys[chunk];
  __shared__ std::int32_t ids[chunk];
  const std::int64_t row = blockIdx.y;
  const std::int64_t begin = static_cast<std::int64_t>(blockIdx.x) * chunk;
  for (int t = threadIdx.x; t < chunk; t += blockDim.x) {
    const std::int64_t i = begin + t;
    keys[t] = i < cand.length ? cand.scores[row * cand.length + i] : -INFINITY;
    ids[t] = i < cand.length ? cand.ids[row * cand.length + i] : -1;
  }
  bitonic_sort(keys, ids, chunk);
  for (int j = threadIdx.x; j < k; j += blockDim.x) {
    out_scores[row * out_stride + static_cast<std::int64_t>(blockIdx.x) * k + j] = keys[j];
    out_ids[row * out_stride + static_cast<std::int64_t>(blockIdx.x) * k + j] = ids[j];
  }
}

std::int64_t chunks_of(std::int64_t n) { return (n + chunk - 1) / chunk; }
std::size_t align(std::size_t x) { return (x + 255) / 256 * 256; }

// Users per tile: a power of two, as many as fit max_top_k_width floats of
// shared memory (8 at most), and no more than B needs.
int tile_users_for(std::int64_t B, std::int64_t D) {
  const auto fit = static_cast<std::uint64_t>(std::clamp<std::int64_t>(max_top_k_width / D, 1, max_tile_users));
  return static_cast<int>(std::min(std::bit_floor(fit), std::bit_ceil(static_cast<std::uint64_t>(B))));
}

struct Plan {
  int tile_users;
  std::int64_t tiles, slices, slice_items;
};

// Enough blocks to fill the device twice over, each slice a multiple of a
// round and at least 8 rounds long.
Plan plan(std::int64_t B, std::int64_t V, std::int64_t D, int target_blocks) {
  Plan p{};
  p.tile_users = tile_users_for(B, D);
  p.tiles = (B + p.tile_users - 1) / p.tile_users;
  const std::int64_t max_slices = std::max<std::int64_t>(1, V / (8 * round_items));
  const std::int64_t wanted = (target_blocks + p.tiles - 1) / p.tiles;
  p.slices = std::clamp<std::int64_t>(wanted, 1, std::min<std::int64_t>(max_slices, 65535));
  p.slice_items = (V + p.slices - 1) / p.slices;
  p.slice_items = (p.slice_items + round_items - 1) / round_items * round_items;
  p.slices = (V + p.slice_items - 1) / p.slice_items;
  return p;
}

struct Layout {
  std::size_t candidates[2], candidate_ids[2], total;
};

Layout layout(std::int64_t B, const Plan& p, int k) {
  const std::size_t n = static_cast<std::size_t>(B * p.slices * k);
  Layout l{};
  std::size_t at = 0;
  for (int q = 0; q < 2; ++q) {
    l.candidates[q] = at;
    at += align(n * sizeof(float));
    l.candidate_ids[q] = at;
    at += align(n * sizeof(std::int32_t));
  }
  l.total = at;
  return l;
}

__global__ void __launch_bounds__(max_block_threads) pack_top_k_kernel(const std::int32_t* __restrict__ ids, const float* __restrict__ scores,
                                  std::int64_t rows, int k, ScoredPair* __restrict__ out,
                                  unsigned long long* __restrict__ counts) {
  for (std::int64_t r = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; r < rows;
       r += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    unsigned long long n = 0;
    for (int j = 0; j < k; ++j) {
      const std::int64_t at = r * k + j;
      out[at] = ScoredPair{ids[at], scores[at]};
      if (ids[at] >= 0) ++n;
    }
    counts[r] = n;
  }
}

}  // namespace

void pack_top_k(const std::int32_t* ids, const float* scores, std::int64_t rows, int k, ScoredPair* out,
                unsigned long long* counts, cudaStream_t stream) {
  if (rows == 0) return;
  LL_LAUNCH(pack_top_k_kernel, grid_for(rows, 128), 128, 0, stream)(ids, scores, rows, k, out, counts);
  LL_LAUNCH_CHECK("pack_top_k");
}

void add_column_bias(float* scores, std::int64_t B, std::int64_t V, const float* bias, cudaStream_t stream) {
  if (B * V == 0) return;
  LL_LAUNCH(add_column_bias_kernel, rows_columns_grid(B, V), block_for(V), 0, stream)(scores, B, V, bias);
  LL_LAUNCH_CHECK("add_column_bias");
}

std::size_t top_k_workspace(std::int64_t B, std::int64_t V, std::int64_t D, int k, int target_blocks) {
  return layout(B, plan(B, V, D, target_blocks), k).total;
}

namespace {

// score_top_k's passes; with row_scores, the scores are given (B, V) and
// the users, table and width unused (D = 0: no user vectors to load).
void top_k_passes(const float* row_scores, const float* users, std::int64_t B, const float* table, const float* bias,
                  std::int64_t V, std::int64_t D, int k, const std::int32_t* exclude_ids, std::int64_t X,
                  std::int32_t* out_ids, float* out_scores, void* workspace, std::size_t workspace_bytes,
                  int target_blocks, int* fault, cudaStream_t stream, const unsigned char* excluded) {
  LL_CHECK(k >= 1 && k <= max_top_k, "score_top_k: k must be in [1, ", max_top_k, "], got ", k);
  LL_CHECK(B >= 1 && B <= 65535, "score_top_k: ", B, " users; one call takes 1 to 65535");
  LL_CHECK(D >= 0 && D <= max_top_k_width && (D >= 1 || row_scores), "score_top_k: embedding width ", D, " not in [1, ",
           max_top_k_width, "]");
  const Plan p = plan(B, V, std::max<std::int64_t>(D, 1), target_blocks);
  const Layout l = layout(B, p, k);
  LL_CHECK(workspace_bytes >= l.total, "score_top_k: workspace of ", workspace_bytes, " bytes, needs ", l.total);
  auto* base = static_cast<char*>(workspace);
  if (exclude_ids && X > 0) {
    LL_LAUNCH(check_exclusions_kernel, grid_for(B * X, 256), 256, 0, stream)(exclude_ids, B * X, V, fault);
    LL_LAUNCH_CHECK("score_top_k check_exclusions");
  }
  int q = 0;
  std::int64_t per_row = p.slices * k;  // candidates per user after the scoring pass
  auto target = [&](std::int64_t length, float*& s, std::int32_t*& i, std::int64_t& stride) {
    if (length == k) {
      s = out_scores;
      i = out_ids;
      stride = k;
    } else {
      s = reinterpret_cast<float*>(base + l.candidates[q]);
      i = reinterpret_cast<std::int32_t*>(base + l.candidate_ids[q]);
      stride = length;
    }
  };
  float* s_out;
  std::int32_t* i_out;
  std::int64_t stride;
  target(per_row, s_out, i_out, stride);
  const TileSource src{row_scores, users, table, bias, exclude_ids && X > 0 ? exclude_ids : nullptr, excluded, B, V, D,
                       X, p.slice_items, p.tile_users, k};
  const std::size_t user_bytes = static_cast<std::size_t>(p.tile_users * D) * sizeof(float);
  const dim3 grid(static_cast<unsigned>(p.tiles), static_cast<unsigned>(p.slices));
  switch (p.tile_users) {
    case 1: LL_LAUNCH(tile_top_k_kernel<1>, grid, tile_threads, user_bytes, stream)(src, s_out, i_out, stride); break;
    case 2: LL_LAUNCH(tile_top_k_kernel<2>, grid, tile_threads, user_bytes, stream)(src, s_out, i_out, stride); break;
    case 4: LL_LAUNCH(tile_top_k_kernel<4>, grid, tile_threads, user_bytes, stream)(src, s_out, i_out, stride); break;
    default: LL_LAUNCH(tile_top_k_kernel<8>, grid, tile_threads, user_bytes, stream)(src, s_out, i_out, stride);
  }
  LL_LAUNCH_CHECK("score_top_k tile_top_k");
  while (per_row > k) {
    const CandidateSource cand{s_out, i_out, per_row};
    q ^= 1;
    const std::int64_t chunks = chunks_of(per_row);
    per_row = chunks * k;
    target(per_row, s_out, i_out, stride);
    LL_LAUNCH(merge_kernel, dim3(static_cast<unsigned>(chunks), static_cast<unsigned>(B)), merge_threads, 0,
              stream)(cand, k, s_out, i_out, stride);
    LL_LAUNCH_CHECK("score_top_k merge");
  }
}

}  // namespace

void score_top_k(const float* users, std::int64_t B, const float* table, const float* bias, std::int64_t V,
                 std::int64_t D, int k, const std::int32_t* exclude_ids, std::int64_t X, std::int32_t* out_ids,
                 float* out_scores, void* workspace, std::size_t workspace_bytes, int target_blocks, int* fault,
                 cudaStream_t stream, const unsigned char* excluded) {
  top_k_passes(nullptr, users, B, table, bias, V, D, k, exclude_ids, X, out_ids, out_scores, workspace,
               workspace_bytes, target_blocks, fault, stream, excluded);
}

void rows_top_k(const float* scores, std::int64_t rows, std::int64_t V, const unsigned char* excluded, int k,
                std::int32_t* out_ids, float* out_scores, void* workspace, std::size_t workspace_bytes,
                int target_blocks, int* fault, cudaStream_t stream) {
  top_k_passes(scores, nullptr, rows, nullptr, nullptr, V, 0, k, nullptr, 0, out_ids, out_scores, workspace,
               workspace_bytes, target_blocks, fault, stream, excluded);
}

}  // namespace limelight::cuda::kernels
