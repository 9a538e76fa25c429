// Spotlight's running pooling on the CPU: one pass along time per batch row
// with the D components contiguous; batch rows split across threads.
#include <algorithm>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/cpu_math.hpp"
#include "backend/cpu/parallel.hpp"

namespace limelight::cpu {

namespace {

struct PoolState {
  int chunks;
};

// The running sums and counts live in small per-component buffers.
LL_SIMD_CLONES void running_pool_rows(const float* __restrict x, float* __restrict out, float* __restrict div,
                                      std::int64_t b0, std::int64_t b1, std::int64_t T, std::int64_t D) {
  float sum[256], count[256];
  for (std::int64_t b = b0; b < b1; ++b)
    for (std::int64_t d0 = 0; d0 < D; d0 += 256) {
      const std::int64_t n = std::min<std::int64_t>(256, D - d0);
      const float* xb = x + b * T * D + d0;
      float* ob = out + b * (T + 1) * D + d0;
      float* vb = div + b * (T + 1) * D + d0;
      for (std::int64_t d = 0; d < n; ++d) {
        sum[d] = 0.0f;
        count[d] = 1.0f;  // the divisor is items seen + 1
        ob[d] = 0.0f;
        vb[d] = 1.0f;
      }
      for (std::int64_t s = 0; s < T; ++s) {
        const float* __restrict xs = xb + s * D;
        float* __restrict o = ob + (s + 1) * D;
        float* __restrict v = vb + (s + 1) * D;
        for (std::int64_t d = 0; d < n; ++d) {
          sum[d] += xs[d];
          count[d] += xs[d] != 0.0f ? 1.0f : 0.0f;
          v[d] = count[d];
          o[d] = sum[d] / count[d];
        }
      }
    }
}

LL_SIMD_CLONES void running_pool_backward_rows(const float* __restrict g, const float* __restrict div,
                                               float* __restrict dx, std::int64_t b0, std::int64_t b1,
                                               std::int64_t T, std::int64_t D) {
  float run[1024];
  for (std::int64_t b = b0; b < b1; ++b) {
    for (std::int64_t d0 = 0; d0 < D; d0 += 1024) {
      const std::int64_t n = std::min<std::int64_t>(1024, D - d0);
      for (std::int64_t d = 0; d < n; ++d) run[d] = 0.0f;
      // x[s] feeds states s+1 .. T: d x[s] = sum_{u > s} g[u] / div[u].
      for (std::int64_t u = T; u >= 1; --u) {
        const float* __restrict gu = g + (b * (T + 1) + u) * D + d0;
        const float* __restrict vu = div + (b * (T + 1) + u) * D + d0;
        float* __restrict dxs = dx + (b * T + u - 1) * D + d0;
        for (std::int64_t d = 0; d < n; ++d) {
          run[d] += gu[d] / vu[d];
          dxs[d] += run[d];
        }
      }
    }
  }
}

}  // namespace

void CpuBackend::running_pool_forward(const float* x, std::int64_t B, std::int64_t T, std::int64_t D, float* out,
                                      float* div, BackendPayload* payload) {
  const int chunks = parallel_chunks(num_threads(), B, 2, [&](int, std::int64_t b0, std::int64_t b1) {
    running_pool_rows(x, out, div, b0, b1, T, D);
  });
  if (payload) payload->state.put(PoolState{chunks});
}

void CpuBackend::running_pool_backward(const float* d_out, const float* div, std::int64_t B, std::int64_t T,
                                       std::int64_t D, float* d_x, const BackendPayload& payload) {
  parallel_chunks(payload.state.get<PoolState>().chunks, B, 0, [&](int, std::int64_t b0, std::int64_t b1) {
    running_pool_backward_rows(d_out, div, d_x, b0, b1, T, D);
  });
}

}  // namespace limelight::cpu
