// The fused masked sequence loss: target and negative scoring (dot product or
// mixture head, plus item bias), the four losses, masking of padding targets
// and the mean, forward and backward.
//
// Shapes: states (B, S, W), table (V, D), bias (V) or null, ids (N+1, B, L),
// coef (N+1, B, L). Forward: one warp per position (b, l), lanes over the
// D (or 2 M D) columns of each dot product; lane 0 writes the position's
// coefficients; warps add their loss and count into per-block partials (in
// double) in a fixed order, and a one-block kernel adds the partials in
// index order: the loss is deterministic for a given shape. Backward: one
// warp per position; each lane owns distinct columns of d_states, so there
// are no atomics and the result is deterministic. Differences from the CPU
// are rounding only (the warp-tree dot products); the losses at a position
// are the CPU's formulas (src/backend/scalar_math.hpp).
// CPU reference: sequence_loss_forward and sequence_loss_backward in
// src/backend/cpu/sequence_loss.cpp.
#include "backend/scalar_math.hpp"
#include "kernels/common.cuh"
#include "kernels/loss.cuh"

namespace limelight::cuda::kernels {

namespace {

constexpr int threads = 256;
constexpr int warps_per_block = threads / warp_size;

__device__ __forceinline__ float score_entry(const float* rep, const float* table, const float* bias, std::int32_t id,
                                             const LossShape& s, float* w, float* sm) {
  const float* e = table + static_cast<std::int64_t>(id) * s.D;
  const float base = s.M > 0 ? warp_mixture(rep, e, static_cast<int>(s.M), s.D, w, sm) : warp_dot(rep, e, s.D);
  return base + (bias ? bias[id] : 0.0f);
}

// Three blocks per multiprocessor (at most 85 registers) rather than the
// default target: the mixture head's scoring, inlined twice, spilled 12
// bytes at the 64 registers that __launch_bounds__(256) alone gives it
// (ptxas of CUDA 13.0: 80 registers, no spill, this way).
__global__ void __launch_bounds__(max_block_threads, 3)
    loss_forward_kernel(int kind, LossShape s, const float* __restrict__ states, const float* __restrict__ table,
                        const float* __restrict__ bias, const std::int32_t* __restrict__ ids, float* __restrict__ coef,
                        double* __restrict__ partials, int* fault) {
  __shared__ double block_sum[warps_per_block], block_count[warps_per_block];
  const int lane = threadIdx.x % warp_size, warp = threadIdx.x / warp_size;
  const std::int64_t BL = s.B * s.L;
  float w[max_mixtures], sm[max_mixtures];
  double sum = 0.0, count = 0.0;
  // Every warp of the grid runs the same number of iterations (no early exit)
  // so that the block reduction below is reached by all of them.
  for (std::int64_t r = global_warp(); r < BL; r += warp_count()) {
    const std::int64_t b = r / s.L, l = r - b * s.L;
    if (lane == 0)
      for (std::int64_t j = 0; j <= s.N; ++j) coef[j * BL + r] = 0.0f;
    const std::int32_t target = ids[r];
    if (target == 0) continue;
    bool bad = target < 0 || target >= s.V;
    for (std::int64_t j = 1; j <= s.N; ++j) bad = bad || ids[j * BL + r] < 0 || ids[j * BL + r] >= s.V;
    if (bad) {
      if (lane == 0) atomicOr(fault, fault_loss_id);
      continue;
    }
    const float* rep = states + (b * s.S + l) * s.W;
    const float p = score_entry(rep, table, bias, target, s, w, sm);
    std::int64_t best = 0;
    float neg = 0.0f;
    scalar::hardest_negative([&](std::int64_t k) { return score_entry(rep, table, bias, ids[(1 + k) * BL + r], s, w, sm); },
                             s.N, neg, best);
    float value, d_p, d_n;
    scalar::loss_element(static_cast<ops::LossKind>(kind), p, neg, value, d_p, d_n);
    sum += value;
    count += 1.0;
    __syncwarp();
    if (lane == 0) {
      coef[r] = d_p;
      coef[(1 + best) * BL + r] = d_n;
    }
  }
  if (lane == 0) {
    block_sum[warp] = sum;
    block_count[warp] = count;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    double bs = 0.0, bc = 0.0;
    for (int k = 0; k < warps_per_block; ++k) {
      bs += block_sum[k];
      bc += block_count[k];
    }
    partials[2 * blockIdx.x] = bs;
    partials[2 * blockIdx.x + 1] = bc;
  }
}

__global__ void __launch_bounds__(max_block_threads) loss_finish_kernel(const double* __restrict__ partials, int blocks, float* __restrict__ result) {
  if (threadIdx.x != 0) return;
  double sum = 0.0, count = 0.0;
  for (int k = 0; k < blocks; ++k) {
    sum += partials[2 * k];
    count += partials[2 * k + 1];
  }
  result[0] = count > 0.0 ? static_cast<float>(sum / count) : 0.0f;
  result[1] = count > 0.0 ? static_cast<float>(1.0 / count) : 0.0f;
  result[2] = static_cast<float>(count);
}

__global__ void __launch_bounds__(max_block_threads) loss_backward_kernel(LossShape s, const float* __restrict__ states, const float* __restrict__ table,
                                     const std::int32_t* __restrict__ ids, const float* __restrict__ coef,
                                     const float* __restrict__ result, float d_loss, float* __restrict__ d_states,
                                     float* __restrict__ d_entries, float* __restrict__ d_bias_entries,
                                     std::int32_t* __restrict__ entry_ids) {
  const int lane = threadIdx.x % warp_size;
  const std::int64_t BL = s.B * s.L;
  const float g = d_loss * result[1];
  float w[max_mixtures], sm[max_mixtures];
  for (std::int64_t r = global_warp(); r < BL; r += warp_count()) {
    const std::int64_t b = r / s.L, l = r - b * s.L;
    const float* rep = states + (b * s.S + l) * s.W;
    float* dr = d_states ? d_states + (b * s.S + l) * s.W : nullptr;
    for (std::int64_t j = 0; j <= s.N; ++j) {
      const std::int64_t entry = j * BL + r;
      const float c = coef[entry] * g;
      const std::int32_t id = ids[entry];
      if (lane == 0) {
        entry_ids[entry] = c != 0.0f ? id : 0;
        if (d_bias_entries) d_bias_entries[entry] = c;
      }
      float* de = d_entries ? d_entries + entry * s.D : nullptr;
      if (c == 0.0f || id < 0 || id >= s.V) {
        if (de)
          for (std::int64_t k = lane; k < s.D; k += warp_size) de[k] = 0.0f;
        continue;
      }
      const float* e = table + static_cast<std::int64_t>(id) * s.D;
      if (s.M == 0) {
        for (std::int64_t k = lane; k < s.D; k += warp_size) {
          if (dr) dr[k] += c * e[k];
          if (de) de[k] = c * rep[k];
        }
        continue;
      }
      const float mixed = warp_mixture(rep, e, static_cast<int>(s.M), s.D, w, sm);
      for (std::int64_t k = lane; k < s.D; k += warp_size) {
        float acc = 0.0f;
        for (std::int64_t m = 0; m < s.M; ++m) {
          const float d_taste = c * w[m], d_logit = c * w[m] * (sm[m] - mixed);
          if (dr) {
            dr[m * s.D + k] += d_taste * e[k];
            dr[(s.M + m) * s.D + k] += d_logit * e[k];
          }
          acc += d_taste * rep[m * s.D + k] + d_logit * rep[(s.M + m) * s.D + k];
        }
        if (de) de[k] = acc;
      }
    }
  }
}

unsigned forward_grid(const LossShape& s) { return std::min<unsigned>(grid_for(s.B * s.L, warps_per_block), 4096); }

}  // namespace

std::int64_t loss_partials(const LossShape& s) { return 2 * static_cast<std::int64_t>(forward_grid(s)); }

void sequence_loss_forward(int kind, const LossShape& s, const float* states, const float* table, const float* bias,
                           const std::int32_t* ids, float* coef, float* result, double* partials, int* fault,
                           cudaStream_t stream) {
  const unsigned grid = forward_grid(s);
  LL_LAUNCH(loss_forward_kernel, grid, threads, 0, stream)(kind, s, states, table, bias, ids, coef, partials, fault);
  LL_LAUNCH_CHECK("sequence_loss_forward");
  LL_LAUNCH(loss_finish_kernel, 1, warp_size, 0, stream)(partials, static_cast<int>(grid), result);
  LL_LAUNCH_CHECK("sequence_loss_finish");
}

void sequence_loss_backward(const LossShape& s, const float* states, const float* table, const std::int32_t* ids,
                            const float* coef, const float* result, float d_loss, float* d_states, float* d_entries,
                            float* d_bias_entries, std::int32_t* entry_ids, cudaStream_t stream) {
  if (s.B * s.L == 0) return;
  LL_LAUNCH(loss_backward_kernel, grid_for(s.B * s.L, warps_per_block), threads, 0, stream)(
      s, states, table, ids, coef, result, d_loss, d_states, d_entries, d_bias_entries, entry_ids);
  LL_LAUNCH_CHECK("sequence_loss_backward");
}

}  // namespace limelight::cuda::kernels
