// The mixture-of-tastes head, written once for the CPU: training scores
// (ops::mixture_score), the fused loss and catalogue scoring all call it.
// For a state holding M taste vectors then M attention vectors (width D) and
// an item embedding e: w = softmax_m(att_m . e), score = sum_m w_m (taste_m . e).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace limelight::cpu {

inline float dot(const float* __restrict a, const float* __restrict b, std::int64_t n) {
  float s = 0.0f;
  for (std::int64_t k = 0; k < n; ++k) s += a[k] * b[k];
  return s;
}

// The softmax mix from precomputed dot products, for `count` (<= mix_block)
// items at once: the entries of item i for component m are att[m * stride + i]
// and taste[m * stride + i]. Fills w (M x count, component-major) with the
// softmax weights and score (count) with sum_m w_m taste_m. Each item's
// arithmetic is the same whatever the count; blocks of items let the
// compiler vectorise the max and the weighting across items.
constexpr std::int64_t mix_block = 64;
inline void mixture_mix(const float* __restrict att, const float* __restrict taste, std::int64_t stride,
                        std::int64_t M, std::int64_t count, float* __restrict w, float* __restrict score) {
  float mx[mix_block], z[mix_block];
  for (std::int64_t i = 0; i < count; ++i) {
    mx[i] = -INFINITY;
    z[i] = 0.0f;
    score[i] = 0.0f;
  }
  for (std::int64_t m = 0; m < M; ++m)
    for (std::int64_t i = 0; i < count; ++i) mx[i] = std::max(mx[i], att[m * stride + i]);
  for (std::int64_t m = 0; m < M; ++m)
    for (std::int64_t i = 0; i < count; ++i) z[i] += w[m * count + i] = std::exp(att[m * stride + i] - mx[i]);
  for (std::int64_t m = 0; m < M; ++m)
    for (std::int64_t i = 0; i < count; ++i) {
      w[m * count + i] /= z[i];
      score[i] += w[m * count + i] * taste[m * stride + i];
    }
}

// One state and item: fills w (M softmax weights) and s (M taste dots) and
// returns the score without bias.
inline float mixture_head_forward(const float* rep, const float* e, std::int64_t M, std::int64_t D, float* w,
                                  float* s) {
  float att[64];
  for (std::int64_t m = 0; m < M; ++m) att[m] = dot(rep + (M + m) * D, e, D);
  for (std::int64_t m = 0; m < M; ++m) s[m] = dot(rep + m * D, e, D);
  float score;
  mixture_mix(att, s, 1, M, 1, w, &score);
  return score;
}

// The head's gradient for an upstream gradient c, from the forward's w, s and
// score `mixed`: adds into d_rep (2MD) and d_e (D); either may be null.
inline void mixture_head_backward(const float* rep, const float* e, std::int64_t M, std::int64_t D, const float* w,
                                  const float* s, float mixed, float c, float* d_rep, float* d_e) {
  for (std::int64_t m = 0; m < M; ++m) {
    // d score / d logit_m = w_m (s_m - score); d score / d taste_m = w_m e.
    const float d_taste = c * w[m], d_logit = c * w[m] * (s[m] - mixed);
    if (d_rep)
      for (std::int64_t k = 0; k < D; ++k) {
        d_rep[m * D + k] += d_taste * e[k];
        d_rep[(M + m) * D + k] += d_logit * e[k];
      }
    if (d_e)
      for (std::int64_t k = 0; k < D; ++k) d_e[k] += d_taste * rep[m * D + k] + d_logit * rep[(M + m) * D + k];
  }
}

}  // namespace limelight::cpu
