// The mixture-of-tastes head: score of item e for a state with M tastes t_m
// and M attentions a_m is sum_m softmax(a . e)_m (t_m . e) + bias.
//
// Shapes: rep (rows, 2 M D), table (V, D), ids (rows), out (rows), weights
// (rows, M). One warp per row (grid stride), lanes over D for each of the
// 2 M dot products (warp-tree sums, every lane holds the scalars). Backward
// lanes own distinct columns: no atomics, deterministic. Differences from
// the CPU are rounding only.
// CPU reference: CpuBackend::mixture_score and mixture_score_backward in
// src/backend/cpu/embedding.cpp (mixture_head.hpp's head).
#include "kernels/common.cuh"
#include "kernels/mixture.cuh"

namespace limelight::cuda::kernels {

namespace {

constexpr int threads = 256;

__global__ void __launch_bounds__(max_block_threads) mixture_forward_kernel(const float* __restrict__ rep, const float* __restrict__ table,
                                       const float* __restrict__ bias, std::int64_t V, std::int64_t D, int M,
                                       const std::int32_t* __restrict__ ids, std::int64_t rows,
                                       float* __restrict__ out, float* __restrict__ weights, int* fault) {
  const int lane = threadIdx.x % warp_size;
  float w[max_mixtures], s[max_mixtures];
  for (std::int64_t r = global_warp(); r < rows; r += warp_count()) {
    const std::int32_t id = ids[r];
    if (id < 0 || id >= V) {
      if (lane == 0) {
        atomicOr(fault, fault_mixture_id);
        out[r] = 0.0f;
        for (int m = 0; m < M; ++m) weights[r * M + m] = 0.0f;
      }
      continue;
    }
    const float score = warp_mixture(rep + r * 2 * M * D, table + static_cast<std::int64_t>(id) * D, M, D, w, s);
    if (lane == 0) {
      out[r] = score + (bias ? bias[id] : 0.0f);
      for (int m = 0; m < M; ++m) weights[r * M + m] = w[m];
    }
  }
}

// One warp per (row, item) pair: scores (rows, V) of every item.
__global__ void __launch_bounds__(max_block_threads) mixture_catalogue_kernel(const float* __restrict__ rep, const float* __restrict__ table,
                                         const float* __restrict__ bias, std::int64_t V, std::int64_t D, int M,
                                         std::int64_t rows, float* __restrict__ scores) {
  const int lane = threadIdx.x % warp_size;
  float w[max_mixtures], s[max_mixtures];
  for (std::int64_t pair = global_warp(); pair < rows * V; pair += warp_count()) {
    const std::int64_t r = pair / V, item = pair - r * V;
    const float score = warp_mixture(rep + r * 2 * M * D, table + item * D, M, D, w, s);
    if (lane == 0) scores[pair] = score + (bias ? bias[item] : 0.0f);
  }
}

__global__ void __launch_bounds__(max_block_threads) mixture_backward_kernel(const float* __restrict__ d_out, const float* __restrict__ rep,
                                        const float* __restrict__ table, std::int64_t V, std::int64_t D, int M,
                                        const std::int32_t* __restrict__ ids, std::int64_t rows,
                                        const float* __restrict__ weights, float* __restrict__ d_rep,
                                        float* __restrict__ d_entries) {
  const int lane = threadIdx.x % warp_size;
  float s[max_mixtures];
  for (std::int64_t r = global_warp(); r < rows; r += warp_count()) {
    const std::int32_t id = ids[r];
    const float g = d_out[r];
    const float* taste = rep + r * 2 * M * D;
    const float* att = taste + M * D;
    const float* wr = weights + r * M;
    if (id < 0 || id >= V) {
      if (d_entries)
        for (std::int64_t k = lane; k < D; k += warp_size) d_entries[r * D + k] = 0.0f;
      continue;
    }
    const float* e = table + static_cast<std::int64_t>(id) * D;
    // d score / d logit_m = w_m (s_m - score without bias), s_m = taste_m . e
    float mixed = 0.0f;
    for (int m = 0; m < M; ++m) {
      s[m] = warp_dot(taste + m * D, e, D);
      mixed += wr[m] * s[m];
    }
    for (std::int64_t k = lane; k < D; k += warp_size) {
      float acc = 0.0f;
      for (int m = 0; m < M; ++m) {
        const float d_logit = g * wr[m] * (s[m] - mixed), d_taste = g * wr[m];
        if (d_rep) {
          d_rep[r * 2 * M * D + m * D + k] += d_taste * e[k];
          d_rep[r * 2 * M * D + (M + m) * D + k] += d_logit * e[k];
        }
        acc += d_taste * taste[m * D + k] + d_logit * att[m * D + k];
      }
      if (d_entries) d_entries[r * D + k] = acc;
    }
  }
}

}  // namespace

void mixture_score_forward(const float* rep, const float* table, const float* bias, std::int64_t V, std::int64_t D,
                           std::int64_t M, const std::int32_t* ids, std::int64_t rows, float* out, float* weights,
                           int* fault, cudaStream_t stream) {
  if (rows == 0) return;
  LL_LAUNCH(mixture_forward_kernel, grid_for(rows, threads / warp_size), threads, 0, stream)(
      rep, table, bias, V, D, static_cast<int>(M), ids, rows, out, weights, fault);
  LL_LAUNCH_CHECK("mixture_score_forward");
}

void mixture_score_backward(const float* d_out, const float* rep, const float* table, std::int64_t V,
                            std::int64_t D, std::int64_t M, const std::int32_t* ids, std::int64_t rows,
                            const float* weights, float* d_rep, float* d_entries, cudaStream_t stream) {
  if (rows == 0) return;
  LL_LAUNCH(mixture_backward_kernel, grid_for(rows, threads / warp_size), threads, 0, stream)(
      d_out, rep, table, V, D, static_cast<int>(M), ids, rows, weights, d_rep, d_entries);
  LL_LAUNCH_CHECK("mixture_score_backward");
}

void mixture_score_catalogue(const float* rep, std::int64_t rows, const float* table, const float* bias,
                             std::int64_t V, std::int64_t D, std::int64_t M, float* scores, cudaStream_t stream) {
  if (rows * V == 0) return;
  LL_LAUNCH(mixture_catalogue_kernel, grid_for(rows * V, threads / warp_size), threads, 0, stream)(
      rep, table, bias, V, D, static_cast<int>(M), rows, scores);
  LL_LAUNCH_CHECK("mixture_score_catalogue");
}

}  // namespace limelight::cuda::kernels
