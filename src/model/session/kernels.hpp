// The loops a session's step and scoring run on raw arrays: one event is a
// handful of small matrix-vector products, where a BLAS call costs more than
// it computes, and scoring reads a copy of the item embeddings blocked for it
// (see block_dots): sgemv on the row-major table, and sgemm's packing for the
// mixture, took several times longer.
//
// They keep internal linkage, as each carries LL_SIMD_CLONES: every file that
// calls one builds its own clones and resolver (an external declaration would
// make callers build resolvers over clones they cannot see).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "backend/cpu/cpu_math.hpp"

namespace limelight::detail {
namespace {

// out[o] += sum_c x[c] * wt[c * n_out + o]: a matrix-vector product with the
// matrix stored input-major, so the inner loop runs along contiguous outputs.
[[maybe_unused]] LL_SIMD_CLONES void add_product(float* __restrict out, const float* __restrict x,
                                                 const float* __restrict wt, std::int64_t n_in, std::int64_t n_out) {
  for (std::int64_t c = 0; c < n_in; ++c) {
    const float xc = x[c];
    const float* __restrict w = wt + c * n_out;
    for (std::int64_t o = 0; o < n_out; ++o) out[o] += xc * w[o];
  }
}

// One LSTM step for `rows` independent (h, c) rows sharing the input
// projection xz (4H: W_ih x + b_ih + b_hh); PyTorch's gate order i, f, g, o.
// z is scratch of 4H floats. FixedH > 0 compiles the loops for that size.
template <int FixedH>
LL_SIMD_CLONES void lstm_rows(const float* __restrict xz, const float* __restrict w_hh_t, float* __restrict h,
                              float* __restrict c, float* __restrict z, std::int64_t rows, std::int64_t runtime_h) {
  const std::int64_t H = FixedH > 0 ? FixedH : runtime_h, G = 4 * H;
  for (std::int64_t r = 0; r < rows; ++r) {
    float* __restrict hr = h + r * H;
    float* __restrict cr = c + r * H;
    for (std::int64_t g = 0; g < G; ++g) z[g] = xz[g];
    for (std::int64_t k = 0; k < H; ++k) {
      const float hk = hr[k];
      const float* __restrict w = w_hh_t + k * G;
      for (std::int64_t g = 0; g < G; ++g) z[g] += hk * w[g];
    }
    for (std::int64_t k = 0; k < H; ++k) {
      const float i = cpu::fast_sigmoid(z[k]);
      const float f = cpu::fast_sigmoid(z[H + k]);
      const float g = cpu::fast_tanh(z[2 * H + k]);
      const float o = cpu::fast_sigmoid(z[3 * H + k]);
      const float cell = f * cr[k] + i * g;
      cr[k] = cell;
      hr[k] = o * cpu::fast_tanh(cell);
    }
  }
}

[[maybe_unused]] void lstm_step(const float* xz, const float* w_hh_t, float* h, float* c, float* z, std::int64_t rows,
                                std::int64_t H) {
  switch (H) {
    case 16: lstm_rows<16>(xz, w_hh_t, h, c, z, rows, H); break;
    case 32: lstm_rows<32>(xz, w_hh_t, h, c, z, rows, H); break;
    case 64: lstm_rows<64>(xz, w_hh_t, h, c, z, rows, H); break;
    default: lstm_rows<0>(xz, w_hh_t, h, c, z, rows, H); break;
  }
}

// Mixture scores of `count` items from their dot products with the M tastes
// (rows 0..M-1 of dots, stride V) and the M attentions (rows M..2M-1):
// softmax over the attention logits, mixed tastes, plus the bias. Blocks of
// items keep every loop running along items, so they vectorise.
[[maybe_unused]] LL_SIMD_CLONES void mixture_mix(const float* __restrict dots, std::int64_t V, std::int64_t M,
                                                 const float* __restrict bias, std::int64_t first, std::int64_t count,
                                                 float* __restrict out) {
  constexpr std::int64_t B = 64;
  float mx[B], z[B], s[B];
  for (std::int64_t v0 = first; v0 < first + count; v0 += B) {
    const std::int64_t n = std::min(B, first + count - v0);
    for (std::int64_t i = 0; i < n; ++i) {
      mx[i] = -INFINITY;
      z[i] = 0.0f;
      s[i] = 0.0f;
    }
    for (std::int64_t m = 0; m < M; ++m) {
      const float* __restrict att = dots + (M + m) * V + v0;
      for (std::int64_t i = 0; i < n; ++i) mx[i] = att[i] > mx[i] ? att[i] : mx[i];  // a blend, not std::max's branch
    }
    for (std::int64_t m = 0; m < M; ++m) {
      const float* __restrict att = dots + (M + m) * V + v0;
      const float* __restrict taste = dots + m * V + v0;
      for (std::int64_t i = 0; i < n; ++i) {
        const float w = cpu::fast_exp(att[i] - mx[i]);
        z[i] += w;
        s[i] += w * taste[i];
      }
    }
    for (std::int64_t i = 0; i < n; ++i) out[v0 + i] = s[i] / z[i] + bias[v0 + i];
  }
}

// Scoring reads the item embeddings blocked by 16 items, component-major
// inside a block (blocked[(b * D + d) * 16 + i] = E[16 b + i, d]), so that
// every product runs along 16 contiguous items with one state value
// broadcast: the R state vectors' dot products with a whole block stay in
// registers. out[r * stride + v] = sum_d reps[r, d] E[v, d] (+ bias[v] when
// bias is given, R = 1).
constexpr std::int64_t kBlock = 16;

// 16 floats as one value: GCC and Clang vector extensions, one register under
// AVX-512 and four under SSE. (Written as plain loops, GCC vectorised along
// the wrong axis, with permutes, and ran 5x slower.)
typedef float Lanes __attribute__((vector_size(kBlock * sizeof(float))));

// The first v' >= v, in steps of 16, whose block of 16 scores holds one
// above `worst`, or the last start at or before `end - 16` (the caller
// finishes the tail one by one). The heap's threshold only rises, so blocks
// skipped here could never enter it.
[[maybe_unused]] LL_SIMD_CLONES std::int64_t skip_blocks(const float* __restrict scores, std::int64_t v,
                                                         std::int64_t end, float worst) {
  for (; v + kBlock <= end; v += kBlock) {
    int any = 0;
    for (std::int64_t i = 0; i < kBlock; ++i) any |= scores[v + i] > worst ? 1 : 0;
    if (any) return v;
  }
  return v;
}

// G blocks at a time give R * G independent accumulators: enough to hide
// the latency of the multiply-adds when R is small.
template <int FixedR, int G>
LL_SIMD_CLONES void block_dots(const float* __restrict blocked, std::int64_t blocks, std::int64_t D,
                               const float* __restrict reps, std::int64_t runtime_r, const float* __restrict bias,
                               float* __restrict out, std::int64_t stride) {
  const std::int64_t R = FixedR > 0 ? FixedR : runtime_r;
  constexpr std::int64_t kMaxR = FixedR > 0 ? FixedR : 128;
  Lanes acc[kMaxR][G];
  std::int64_t b = 0;
  auto run = [&](auto groups) {
    constexpr std::int64_t n = decltype(groups)::value;
    for (std::int64_t r = 0; r < R; ++r)
      for (std::int64_t g = 0; g < n; ++g) acc[r][g] = Lanes{};
    const float* __restrict e = blocked + b * D * kBlock;
    for (std::int64_t d = 0; d < D; ++d) {
      Lanes row[n];
      for (std::int64_t g = 0; g < n; ++g) std::memcpy(&row[g], e + (g * D + d) * kBlock, sizeof(Lanes));
      for (std::int64_t r = 0; r < R; ++r) {
        const float w = reps[r * D + d];
        for (std::int64_t g = 0; g < n; ++g) acc[r][g] += w * row[g];
      }
    }
    for (std::int64_t r = 0; r < R; ++r)
      for (std::int64_t g = 0; g < n; ++g) {
        if (bias != nullptr) {
          Lanes bv;
          std::memcpy(&bv, bias + (b + g) * kBlock, sizeof bv);
          acc[r][g] += bv;
        }
        std::memcpy(out + r * stride + (b + g) * kBlock, &acc[r][g], sizeof(Lanes));
      }
    b += n;
  };
  while (b + G <= blocks) run(std::integral_constant<std::int64_t, G>{});
  while (b < blocks) run(std::integral_constant<std::int64_t, 1>{});
}

}  // namespace
}  // namespace limelight::detail
