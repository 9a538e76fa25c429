// Whole-catalogue scoring for predict and recommend.
//
// add_column_bias: scores (B, V) += bias (V); one thread per element.
// score_top_k: users (B, D), table (V, D), bias (V) -> the k best (id, score)
//   per user. Scoring is fused with the selection so the (B, V) score matrix
//   never reaches memory: a block owns a chunk of 2048 items of one user
//   (grid = chunks x B), each thread scores items against the user vector
//   held in shared memory (float4 loads when rows allow), the chunk is
//   bitonic-sorted in shared memory (better = higher score, then lower id)
//   and its first k written out as candidates. Merge passes then sort
//   chunks of 2048 candidates down to k each until one chunk is left, whose
//   k are the answer: each pass divides the candidates by 2048 / k.
//   Deterministic (a total order on (score, id)); NaN scores have no
//   defined place. Scores differ from the CPU's by dot-product rounding.
// CPU reference: ImplicitSequenceModel::recommend_into (src/model/model.cpp),
//   whose heap uses the same order and also never returns id 0.
#include "kernels/common.cuh"
#include "kernels/scoring.cuh"
#include "limelight/error.hpp"

namespace limelight::cuda::kernels {

namespace {

constexpr int chunk = 2048;
constexpr int select_threads = 512;

__device__ __forceinline__ bool better(float sa, std::int32_t ia, float sb, std::int32_t ib) {
  return sa > sb || (sa == sb && static_cast<std::uint32_t>(ia) < static_cast<std::uint32_t>(ib));
}

__global__ void add_column_bias_kernel(float* __restrict__ scores, std::int64_t B, std::int64_t V,
                                       const float* __restrict__ bias) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < B * V;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    scores[i] += bias[i % V];
}

__global__ void exclude_bits_kernel(const std::int32_t* __restrict__ exclude_ids, std::int64_t B, std::int64_t X,
                                    std::int64_t V, std::int64_t words, std::uint32_t* __restrict__ bits, int* fault) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < B * X;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int32_t id = exclude_ids[i];
    if (id == 0) continue;
    if (id < 0 || id >= V) {
      atomicOr(fault, fault_exclude_id);
      continue;
    }
    atomicOr(bits + (i / X) * words + id / 32, 1u << (id % 32));
  }
}

// Sorts keys/ids (chunk entries in shared memory) best first.
__device__ void bitonic_sort(float* keys, std::int32_t* ids) {
  for (int size = 2; size <= chunk; size <<= 1)
    for (int stride = size / 2; stride > 0; stride >>= 1) {
      __syncthreads();
      for (int t = threadIdx.x; t < chunk / 2; t += blockDim.x) {
        const int i = 2 * t - (t & (stride - 1)), j = i + stride;
        const bool best_first = (i & size) == 0;
        const bool swap = best_first ? better(keys[j], ids[j], keys[i], ids[i]) : better(keys[i], ids[i], keys[j], ids[j]);
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

struct ScoreSource {
  const float* users;
  const float* table;
  const float* bias;
  const std::uint32_t* exclude_bits;  // null: only id 0 is excluded
  std::int64_t V, D, words;
  bool vec4;
};

struct CandidateSource {
  const float* scores;
  const std::int32_t* ids;
  std::int64_t length;  // per row
};

// Block (c, b): candidates of chunk c of row b, best k to out[b, c * k ..].
template <bool kScore>
__global__ void select_kernel(ScoreSource score, CandidateSource cand, int k, float* __restrict__ out_scores,
                              std::int32_t* __restrict__ out_ids, std::int64_t out_stride) {
  __shared__ float keys[chunk];
  __shared__ std::int32_t ids[chunk];
  LL_DYNAMIC_SHARED(float, user);
  const std::int64_t row = blockIdx.y;
  const std::int64_t begin = static_cast<std::int64_t>(blockIdx.x) * chunk;
  if constexpr (kScore) {
    for (std::int64_t d = threadIdx.x; d < score.D; d += blockDim.x) user[d] = score.users[row * score.D + d];
    __syncthreads();
  }
  for (int t = threadIdx.x; t < chunk; t += blockDim.x) {
    const std::int64_t i = begin + t;
    float s = -INFINITY;
    std::int32_t id = -1;
    if constexpr (kScore) {
      const bool excluded =
          i >= score.V || i == 0 ||
          (score.exclude_bits && (score.exclude_bits[row * score.words + i / 32] >> (i % 32)) & 1u);
      if (!excluded) {
        const float* e = score.table + i * score.D;
        float acc = 0.0f;
        if (score.vec4) {
          const float4* e4 = reinterpret_cast<const float4*>(e);
          const float4* u4 = reinterpret_cast<const float4*>(user);
          for (std::int64_t q = 0; q < score.D / 4; ++q) {
            const float4 a = e4[q], b = u4[q];
            acc += a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w;
          }
        } else {
          for (std::int64_t d = 0; d < score.D; ++d) acc += e[d] * user[d];
        }
        s = acc + (score.bias ? score.bias[i] : 0.0f);
        id = static_cast<std::int32_t>(i);
      }
    } else if (i < cand.length) {
      s = cand.scores[row * cand.length + i];
      id = cand.ids[row * cand.length + i];
    }
    keys[t] = s;
    ids[t] = id;
  }
  bitonic_sort(keys, ids);
  for (int j = threadIdx.x; j < k; j += blockDim.x) {
    out_scores[row * out_stride + static_cast<std::int64_t>(blockIdx.x) * k + j] = keys[j];
    out_ids[row * out_stride + static_cast<std::int64_t>(blockIdx.x) * k + j] = ids[j];
  }
}

std::int64_t chunks_of(std::int64_t n) { return (n + chunk - 1) / chunk; }
std::size_t align(std::size_t x) { return (x + 255) / 256 * 256; }

struct Layout {
  std::size_t candidates[2], candidate_ids[2], bits, total;
};

Layout layout(std::int64_t B, std::int64_t V, int k) {
  const std::size_t n = static_cast<std::size_t>(B * chunks_of(V) * k);
  Layout l{};
  std::size_t at = 0;
  for (int p = 0; p < 2; ++p) {
    l.candidates[p] = at;
    at += align(n * sizeof(float));
    l.candidate_ids[p] = at;
    at += align(n * sizeof(std::int32_t));
  }
  l.bits = at;
  at += align(static_cast<std::size_t>(B * ((V + 31) / 32)) * sizeof(std::uint32_t));
  l.total = at;
  return l;
}

}  // namespace

void add_column_bias(float* scores, std::int64_t B, std::int64_t V, const float* bias, cudaStream_t stream) {
  if (B * V == 0) return;
  LL_LAUNCH(add_column_bias_kernel, grid_for(B * V, 256), 256, 0, stream)(scores, B, V, bias);
  LL_LAUNCH_CHECK("add_column_bias");
}

std::size_t top_k_workspace(std::int64_t B, std::int64_t V, int k) { return layout(B, V, k).total; }

void score_top_k(const float* users, std::int64_t B, const float* table, const float* bias, std::int64_t V,
                 std::int64_t D, int k, const std::int32_t* exclude_ids, std::int64_t X, std::int32_t* out_ids,
                 float* out_scores, void* workspace, std::size_t workspace_bytes, int* fault, cudaStream_t stream) {
  LL_CHECK(k >= 1 && k <= max_top_k, "score_top_k: k must be in [1, ", max_top_k, "], got ", k);
  LL_CHECK(B >= 1 && B <= 65535, "score_top_k: ", B, " users; one call takes 1 to 65535");
  const Layout l = layout(B, V, k);
  LL_CHECK(workspace_bytes >= l.total, "score_top_k: workspace of ", workspace_bytes, " bytes, needs ", l.total);
  auto* base = static_cast<char*>(workspace);
  ScoreSource score{users, table, bias, nullptr, V, D, (V + 31) / 32,
                    D % 4 == 0 && reinterpret_cast<std::uintptr_t>(table) % 16 == 0};
  if (exclude_ids && X > 0) {
    auto* bits = reinterpret_cast<std::uint32_t*>(base + l.bits);
    CUDA_CHECK(cudaMemsetAsync(bits, 0, static_cast<std::size_t>(B * score.words) * sizeof(std::uint32_t), stream));
    LL_LAUNCH(exclude_bits_kernel, grid_for(B * X, 256), 256, 0, stream)(exclude_ids, B, X, V, score.words, bits, fault);
    LL_LAUNCH_CHECK("score_top_k exclude_bits");
    score.exclude_bits = bits;
  }
  std::int64_t chunks = chunks_of(V);
  int p = 0;
  auto target = [&](std::int64_t c, float*& s, std::int32_t*& i, std::int64_t& stride) {
    if (c == 1) {
      s = out_scores;
      i = out_ids;
      stride = k;
    } else {
      s = reinterpret_cast<float*>(base + l.candidates[p]);
      i = reinterpret_cast<std::int32_t*>(base + l.candidate_ids[p]);
      stride = c * k;
    }
  };
  float* s_out;
  std::int32_t* i_out;
  std::int64_t stride;
  target(chunks, s_out, i_out, stride);
  const std::size_t user_bytes = static_cast<std::size_t>(D) * sizeof(float);
  LL_LAUNCH(select_kernel<true>, dim3(static_cast<unsigned>(chunks), static_cast<unsigned>(B)), select_threads, user_bytes, stream)(score, CandidateSource{}, k, s_out, i_out, stride);
  LL_LAUNCH_CHECK("score_top_k score_select");
  while (chunks > 1) {
    const CandidateSource cand{s_out, i_out, chunks * k};
    p ^= 1;
    chunks = chunks_of(cand.length);
    target(chunks, s_out, i_out, stride);
    LL_LAUNCH(select_kernel<false>, dim3(static_cast<unsigned>(chunks), static_cast<unsigned>(B)), select_threads, 0, stream)(ScoreSource{}, cand, k, s_out, i_out, stride);
    LL_LAUNCH_CHECK("score_top_k merge");
  }
}

}  // namespace limelight::cuda::kernels
