// Elementwise work, copies, reductions and scans on the CPU: plain loops the
// compiler vectorises. Sums over many elements accumulate in double.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/parallel.hpp"

namespace limelight::cpu {

namespace {
inline void accumulate(float* __restrict dst, const float* __restrict src, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) dst[i] += src[i];
}
}  // namespace

// Catalogue-sized fills (gradient zeroing) are bound by memory bandwidth,
// which one core does not saturate.
void CpuBackend::fill(float* x, std::int64_t n, float value) {
  parallel_chunks(num_threads(), n, 1 << 18, [&](int, std::int64_t i0, std::int64_t i1) {
    std::fill(x + i0, x + i1, value);
  });
}

void CpuBackend::axpy(float alpha, const float* x, float* y, std::int64_t n) {
  if (alpha == 1.0f)
    accumulate(y, x, n);
  else
    for (std::int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

void CpuBackend::copy_band(const float* src, std::int64_t src_n, std::int64_t src_at, float* dst, std::int64_t dst_n,
                           std::int64_t dst_at, std::int64_t outer, std::int64_t len, std::int64_t inner,
                           bool add) {
  for (std::int64_t o = 0; o < outer; ++o) {
    const float* s = src + (o * src_n + src_at) * inner;
    float* d = dst + (o * dst_n + dst_at) * inner;
    if (add)
      accumulate(d, s, len * inner);
    else
      std::memcpy(d, s, sizeof(float) * static_cast<std::size_t>(len * inner));
  }
}

void CpuBackend::binary(Binary op, const float* a, const float* b, float* out, std::int64_t n) {
  switch (op) {
    case Binary::add:
      for (std::int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
      break;
    case Binary::sub:
      for (std::int64_t i = 0; i < n; ++i) out[i] = a[i] - b[i];
      break;
    case Binary::mul:
      for (std::int64_t i = 0; i < n; ++i) out[i] = a[i] * b[i];
      break;
  }
}

void CpuBackend::binary_backward(Binary op, const float* d_out, const float* a, const float* b, float* d_a,
                                 float* d_b, std::int64_t n) {
  if (op == Binary::mul) {
    if (d_a)
      for (std::int64_t i = 0; i < n; ++i) d_a[i] += d_out[i] * b[i];
    if (d_b)
      for (std::int64_t i = 0; i < n; ++i) d_b[i] += d_out[i] * a[i];
    return;
  }
  if (d_a) accumulate(d_a, d_out, n);
  if (d_b) {
    if (op == Binary::sub)
      for (std::int64_t i = 0; i < n; ++i) d_b[i] -= d_out[i];
    else
      accumulate(d_b, d_out, n);
  }
}

void CpuBackend::unary(Unary op, float scalar, const float* x, float* y, std::int64_t n) {
  switch (op) {
    case Unary::tanh:
      for (std::int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
      break;
    case Unary::relu:
      for (std::int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
      break;
    case Unary::sigmoid:
      for (std::int64_t i = 0; i < n; ++i) y[i] = 1.0f / (1.0f + std::exp(-x[i]));
      break;
    case Unary::scale:
      for (std::int64_t i = 0; i < n; ++i) y[i] = x[i] * scalar;
      break;
    case Unary::add_scalar:
      for (std::int64_t i = 0; i < n; ++i) y[i] = x[i] + scalar;
      break;
  }
}

void CpuBackend::unary_backward(Unary op, float scalar, const float* y, const float* d_y, float* d_x, std::int64_t n) {
  switch (op) {
    case Unary::tanh:
      for (std::int64_t i = 0; i < n; ++i) d_x[i] += d_y[i] * (1.0f - y[i] * y[i]);
      break;
    case Unary::relu:
      for (std::int64_t i = 0; i < n; ++i) d_x[i] += y[i] > 0.0f ? d_y[i] : 0.0f;
      break;
    case Unary::sigmoid:
      for (std::int64_t i = 0; i < n; ++i) d_x[i] += d_y[i] * y[i] * (1.0f - y[i]);
      break;
    case Unary::scale:
      for (std::int64_t i = 0; i < n; ++i) d_x[i] += d_y[i] * scalar;
      break;
    case Unary::add_scalar:
      accumulate(d_x, d_y, n);
      break;
  }
}

void CpuBackend::bias_add(const float* x, const float* bias, std::int64_t rows, std::int64_t N, float* out) {
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t j = 0; j < N; ++j) out[r * N + j] = x[r * N + j] + bias[j];
}

void CpuBackend::sum_rows(const float* x, std::int64_t rows, std::int64_t N, float* out) {
  for (std::int64_t r = 0; r < rows; ++r) accumulate(out, x + r * N, N);
}

void CpuBackend::maximum(const float* const* xs, int count, std::int64_t n, float* out, std::int32_t* arg) {
  std::copy(xs[0], xs[0] + n, out);
  std::fill(arg, arg + n, 0);
  for (int k = 1; k < count; ++k) {
    const float* p = xs[k];
    for (std::int64_t i = 0; i < n; ++i)
      if (p[i] > out[i]) {  // strictly greater: ties keep the lowest index
        out[i] = p[i];
        arg[i] = k;
      }
  }
}

void CpuBackend::maximum_backward(const float* d_out, const std::int32_t* arg, std::int32_t which, float* d_x,
                                  std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i)
    if (arg[i] == which) d_x[i] += d_out[i];
}

void CpuBackend::sum_all(const float* x, std::int64_t n, float factor, float* out) {
  double acc = 0.0;  // double: sums over a whole batch lose digits in float
  for (std::int64_t i = 0; i < n; ++i) acc += x[i];
  out[0] = static_cast<float>(acc) * factor;
}

void CpuBackend::broadcast_scalar_backward(const float* d_out, float factor, float* d_x, std::int64_t n) {
  const float g = d_out[0] * factor;
  for (std::int64_t i = 0; i < n; ++i) d_x[i] += g;
}

double CpuBackend::masked_mean(const float* x, const float* mask, std::int64_t n, float* out) {
  double num = 0.0, den = 0.0;
  for (std::int64_t i = 0; i < n; ++i) {
    num += static_cast<double>(x[i]) * mask[i];
    den += mask[i];
  }
  if (den > 0.0) out[0] = static_cast<float>(num / den);
  return den;
}

void CpuBackend::masked_mean_backward(const float* d_out, float scale, const float* mask, float* d_x, std::int64_t n) {
  const float g = d_out[0] * scale;
  for (std::int64_t i = 0; i < n; ++i) d_x[i] += g * mask[i];
}

void CpuBackend::sum_dim(const float* x, std::int64_t outer, std::int64_t n, std::int64_t inner, float* out) {
  std::fill(out, out + outer * inner, 0.0f);
  for (std::int64_t a = 0; a < outer; ++a)
    for (std::int64_t k = 0; k < n; ++k) accumulate(out + a * inner, x + (a * n + k) * inner, inner);
}

void CpuBackend::sum_dim_backward(const float* d_out, std::int64_t outer, std::int64_t n, std::int64_t inner,
                                  float* d_x) {
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t k = 0; k < n; ++k) accumulate(d_x + (o * n + k) * inner, d_out + o * inner, inner);
}

void CpuBackend::cumsum(const float* x, std::int64_t outer, std::int64_t n, std::int64_t inner, float* out) {
  for (std::int64_t a = 0; a < outer; ++a) {
    const std::int64_t base = a * n * inner;
    for (std::int64_t i = 0; i < inner; ++i) out[base + i] = x[base + i];
    for (std::int64_t k = 1; k < n; ++k)
      for (std::int64_t i = 0; i < inner; ++i)
        out[base + k * inner + i] = out[base + (k - 1) * inner + i] + x[base + k * inner + i];
  }
}

void CpuBackend::cumsum_backward(const float* d_out, std::int64_t outer, std::int64_t n, std::int64_t inner,
                                 float* d_x) {
  // d x[k] = sum_{j >= k} d_out[j]: a reverse cumulative sum.
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t i = 0; i < inner; ++i) {
      float run = 0.0f;
      for (std::int64_t k = n - 1; k >= 0; --k) {
        const std::int64_t at = (o * n + k) * inner + i;
        run += d_out[at];
        d_x[at] += run;
      }
    }
}

void CpuBackend::softmax(const float* x, std::int64_t outer, std::int64_t n, std::int64_t inner, float* y) {
  for (std::int64_t a = 0; a < outer; ++a)
    for (std::int64_t i = 0; i < inner; ++i) {
      const std::int64_t base = a * n * inner + i;
      float mx = -INFINITY;
      for (std::int64_t k = 0; k < n; ++k) mx = std::max(mx, x[base + k * inner]);
      float z = 0.0f;
      for (std::int64_t k = 0; k < n; ++k) z += y[base + k * inner] = std::exp(x[base + k * inner] - mx);
      for (std::int64_t k = 0; k < n; ++k) y[base + k * inner] /= z;
    }
}

void CpuBackend::softmax_backward(const float* y, const float* d_y, std::int64_t outer, std::int64_t n,
                                  std::int64_t inner, float* d_x) {
  for (std::int64_t o = 0; o < outer; ++o)
    for (std::int64_t i = 0; i < inner; ++i) {
      float dot = 0.0f;
      for (std::int64_t k = 0; k < n; ++k) {
        const std::int64_t at = (o * n + k) * inner + i;
        dot += d_y[at] * y[at];
      }
      for (std::int64_t k = 0; k < n; ++k) {
        const std::int64_t at = (o * n + k) * inner + i;
        d_x[at] += y[at] * (d_y[at] - dot);
      }
    }
}

}  // namespace limelight::cpu
