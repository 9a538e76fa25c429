// The hand-written LSTM: one kernel runs the whole recurrence forward, one
// runs it backward through time. A block owns a tile of sequences and
// loops over the T steps itself, with __syncthreads between the phases of
// a step, so that nothing of a step leaves the chip but what is saved for
// the backward.
//
// Forward, per step: thread g computes gate row g of every sequence of the
// tile, pre[g] + h[t-1] . W_hh[g, :], activates it (sigmoid, or tanh for
// g), then threads take (sequence, unit) pairs for the cell update. For H
// <= 64 a block has 4H threads and thread g holds row g of W_hh in
// registers for all T steps (an unrolled loop with constant indices keeps
// the array out of local memory) and loads each step's gate pre-activations
// a step ahead; larger H reads W_hh from global memory, transposed first so
// that the threads of a warp read consecutive addresses.
// h and c of the tile stay in shared memory.
//
// Backward, per step in reverse: the cell phase gives each (sequence,
// unit) its four gate gradients dz from the saved gates and cell states;
// then dh for the step before is dz W_hh, computed by thread (q, k) as the
// sum over gate block q's H rows of column k of W_hh (held in registers
// for H <= 64), the four blocks' sums added in order by the next cell
// phase. dz goes to global memory; the weight and bias gradients are GEMMs
// and column sums over it afterwards. Every sum has a fixed order: no
// atomics, deterministic.
//
// The sums run in the CPU reference's order (src/backend/cpu/lstm.cpp)
// except dh = dz W_hh, which the CPU sums over all 4H rows at once.
#include "kernels/common.cuh"
#include "backend/scalar_math.hpp"
#include "kernels/lstm.cuh"

#include <type_traits>

namespace limelight::cuda::kernels {

using scalar::fast_sigmoid;
using scalar::fast_tanh;

namespace {

constexpr int general_threads = 256;
constexpr std::size_t shared_limit = 48 * 1024;  // without the opt-in attribute
constexpr int max_tile = 8;

std::size_t forward_shared(int tile, std::int64_t H) { return sizeof(float) * tile * 6 * H; }
std::size_t backward_shared(int tile, std::int64_t H) { return sizeof(float) * tile * 10 * H; }

// w_hh_t: W_hh transposed, (H, 4H), which the general kernel (MaxH = 0)
// reads so that consecutive gate rows g read consecutive addresses.
template <int MaxH>
__global__ void __launch_bounds__(max_block_threads)
    lstm_forward_kernel(float* __restrict__ gates, const float* __restrict__ w_hh, const float* __restrict__ w_hh_t,
                        std::int64_t B, std::int64_t T, int H, int tile, float* __restrict__ out,
                        float* __restrict__ h_prev, float* __restrict__ c_out) {
  LL_DYNAMIC_SHARED(float, shared);
  const int G = 4 * H;
  float* z = shared;          // (tile, G) activated gates of this step
  float* h = z + tile * G;    // (tile, H)
  float* c = h + tile * H;    // (tile, H)
  const std::int64_t b0 = static_cast<std::int64_t>(blockIdx.x) * tile;
  const int nb = static_cast<int>(B - b0 < tile ? B - b0 : tile);
  const int tid = threadIdx.x;
  float w[MaxH > 0 ? MaxH : 1];
  if constexpr (MaxH > 0) {
    LL_UNROLL
    for (int k = 0; k < MaxH; ++k) w[k] = k < H && tid < G ? w_hh[static_cast<std::int64_t>(tid) * H + k] : 0.0f;
  }
  // For H <= 64 (one gate row per thread) each step's pre-activations are
  // loaded a step ahead, so that the load is in flight over the cell phase
  // and the barriers rather than waited for at the step's start.
  [[maybe_unused]] float pre[max_tile];
  if constexpr (MaxH > 0) {
    LL_UNROLL
    for (int b = 0; b < max_tile; ++b)
      pre[b] = b < nb && tid < G ? gates[((b0 + b) * T) * G + tid] : 0.0f;
  }
  for (std::int64_t t = 0; t < T; ++t) {
    if constexpr (MaxH > 0) {
      if (tid < G) {
        const int g = tid;
        const bool is_tanh = g / H == 2;
        LL_UNROLL
        for (int b = 0; b < max_tile; ++b) {
          if (b >= nb) continue;
          float v = pre[b];
          if (t + 1 < T) pre[b] = gates[((b0 + b) * T + t + 1) * G + g];
          if (t > 0) {
            const float* hb = h + b * H;
            LL_UNROLL
            for (int k = 0; k < MaxH; ++k)
              if (k < H) v += hb[k] * w[k];
          }
          v = is_tanh ? fast_tanh(v) : fast_sigmoid(v);
          gates[((b0 + b) * T + t) * G + g] = v;
          z[b * G + g] = v;
        }
      }
    } else {
      for (int g = tid; g < G; g += blockDim.x) {
        const bool is_tanh = g / H == 2;
        for (int b = 0; b < nb; ++b) {
          float* slot = gates + ((b0 + b) * T + t) * G + g;
          float v = *slot;
          if (t > 0) {
            const float* hb = h + b * H;
            for (int k = 0; k < H; ++k) v += hb[k] * w_hh_t[static_cast<std::int64_t>(k) * G + g];
          }
          v = is_tanh ? fast_tanh(v) : fast_sigmoid(v);
          *slot = v;
          z[b * G + g] = v;
        }
      }
    }
    __syncthreads();
    for (int e = tid; e < nb * H; e += blockDim.x) {
      const int b = e / H, k = e - b * H;
      const float* zb = z + b * G;
      const float i = zb[k], f = zb[H + k], g = zb[2 * H + k], o = zb[3 * H + k];
      float cell = i * g;
      if (t > 0) cell += f * c[e];
      const float hv = o * fast_tanh(cell);
      c[e] = cell;
      h[e] = hv;
      const std::int64_t at = ((b0 + b) * T + t) * H + k;
      out[at] = hv;
      c_out[at] = cell;
      if (t == 0) h_prev[at] = 0.0f;
      if (t + 1 < T) h_prev[at + H] = hv;
    }
    __syncthreads();
  }
}

template <int MaxH>
__global__ void __launch_bounds__(max_block_threads) lstm_backward_kernel(const float* __restrict__ d_out, const float* __restrict__ gates,
                                     const float* __restrict__ c, const float* __restrict__ w_hh, std::int64_t B,
                                     std::int64_t T, int H, int tile, float* __restrict__ dz) {
  LL_DYNAMIC_SHARED(float, shared);
  const int G = 4 * H;
  float* dz_s = shared;             // (tile, G) this step's gate gradients
  float* dc = dz_s + tile * G;      // (tile, H) d c flowing to the step before
  float* part = dc + tile * H;      // (4, tile, H) the four blocks of dz W_hh
  const std::int64_t b0 = static_cast<std::int64_t>(blockIdx.x) * tile;
  const int nb = static_cast<int>(B - b0 < tile ? B - b0 : tile);
  const int tid = threadIdx.x;
  float w[MaxH > 0 ? MaxH : 1];  // column k of gate block q of W_hh, for thread (q, k)
  if constexpr (MaxH > 0) {
    const int q = tid / H, k = tid - q * H;
    LL_UNROLL
    for (int j = 0; j < MaxH; ++j)
      w[j] = j < H && tid < G ? w_hh[static_cast<std::int64_t>(q * H + j) * H + k] : 0.0f;
  }
  for (int e = tid; e < tile * H; e += blockDim.x) dc[e] = 0.0f;
  for (int e = tid; e < 4 * tile * H; e += blockDim.x) part[e] = 0.0f;
  __syncthreads();
  for (std::int64_t t = T - 1; t >= 0; --t) {
    for (int e = tid; e < nb * H; e += blockDim.x) {
      const int b = e / H, k = e - b * H;
      const std::int64_t at = ((b0 + b) * T + t) * H + k;
      const float* gb = gates + ((b0 + b) * T + t) * G;
      const float i = gb[k], f = gb[H + k], g = gb[2 * H + k], o = gb[3 * H + k];
      const float tc = fast_tanh(c[at]);
      const int stride = tile * H;
      const float dh_next = part[e] + part[stride + e] + part[2 * stride + e] + part[3 * stride + e];
      const float dh = d_out[at] + dh_next;
      const float dcv = dc[e] + dh * o * (1.0f - tc * tc);
      const float prev = t > 0 ? c[at - H] : 0.0f;
      const float dzi = dcv * g * i * (1.0f - i);
      const float dzf = dcv * prev * f * (1.0f - f);
      const float dzg = dcv * i * (1.0f - g * g);
      const float dzo = dh * tc * o * (1.0f - o);
      float* out = dz + ((b0 + b) * T + t) * G;
      out[k] = dzi;
      out[H + k] = dzf;
      out[2 * H + k] = dzg;
      out[3 * H + k] = dzo;
      float* ds = dz_s + b * G;
      ds[k] = dzi;
      ds[H + k] = dzf;
      ds[2 * H + k] = dzg;
      ds[3 * H + k] = dzo;
      dc[e] = dcv * f;
    }
    __syncthreads();
    if (t > 0)
      for (int p = tid; p < G; p += blockDim.x) {
        const int q = p / H, k = p - q * H;
        for (int b = 0; b < nb; ++b) {
          const float* ds = dz_s + b * G + q * H;
          float s = 0.0f;
          if constexpr (MaxH > 0) {
    LL_UNROLL
            for (int j = 0; j < MaxH; ++j)
              if (j < H) s += ds[j] * w[j];
          } else {
            for (int j = 0; j < H; ++j) s += ds[j] * w_hh[static_cast<std::int64_t>(q * H + j) * H + k];
          }
          part[(q * tile + b) * H + k] = s;
        }
      }
    __syncthreads();
  }
}

// out (cols, rows) = a (rows, cols) transposed.
__global__ void __launch_bounds__(max_block_threads) transpose_kernel(const float* __restrict__ a, std::int64_t rows,
                                                                      std::int64_t cols, float* __restrict__ out) {
  for (std::int64_t c = blockIdx.y; c < cols; c += gridDim.y)
    for (std::int64_t r = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; r < rows;
         r += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
      out[c * rows + r] = a[r * cols + c];
}

__global__ void __launch_bounds__(max_block_threads) add_into_kernel(const float* __restrict__ x, std::int64_t n, float* __restrict__ y) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    y[i] += x[i];
}

// Runs fn with the register size for H (16, 32 or 64), or 0 for the general kernel.
template <class Fn>
void dispatch_hidden(std::int64_t H, Fn&& fn) {
  if (H <= 16)
    fn(std::integral_constant<int, 16>{});
  else if (H <= 32)
    fn(std::integral_constant<int, 32>{});
  else if (H <= lstm_max_register_hidden)
    fn(std::integral_constant<int, 64>{});
  else
    fn(std::integral_constant<int, 0>{});
}

unsigned block_threads(std::int64_t H) {
  return static_cast<unsigned>(H <= lstm_max_register_hidden ? 4 * H : general_threads);
}

}  // namespace

int lstm_tile(std::int64_t B, std::int64_t H, int multiprocessors) {
  // Enough blocks to occupy the SMs first, then up to max_tile sequences
  // per block to reuse the weights; within the shared memory limit.
  const std::int64_t per_sm = (B + multiprocessors - 1) / std::max(multiprocessors, 1);
  int tile = static_cast<int>(std::clamp<std::int64_t>(per_sm, 1, max_tile));
  while (tile > 1 && backward_shared(tile, H) > shared_limit) --tile;
  return tile;
}

std::size_t lstm_forward_workspace(std::int64_t H) {
  return H > lstm_max_register_hidden ? static_cast<std::size_t>(4 * H * H) * sizeof(float) : 0;
}

void lstm_recurrent_forward(float* gates, const float* weight_hh, std::int64_t B, std::int64_t T, std::int64_t H,
                            float* out, float* h_prev, float* c, int tile, float* workspace, cudaStream_t stream) {
  if (B == 0 || T == 0) return;
  const std::size_t shared = forward_shared(tile, H);
  const unsigned blocks = static_cast<unsigned>((B + tile - 1) / tile);
  float* w_hh_t = nullptr;
  if (H > lstm_max_register_hidden) {
    const std::int64_t G = 4 * H;
    w_hh_t = workspace;
    LL_LAUNCH(transpose_kernel, dim3(grid_for(G, general_threads), static_cast<unsigned>(std::min<std::int64_t>(H, 65535))),
              general_threads, 0, stream)(weight_hh, G, H, w_hh_t);
    LL_LAUNCH_CHECK("lstm_recurrent_forward transpose");
  }
  dispatch_hidden(H, [&](auto max_h) {
    constexpr int MaxH = decltype(max_h)::value;
    LL_LAUNCH(lstm_forward_kernel<MaxH>, blocks, block_threads(H), shared, stream)(
        gates, weight_hh, w_hh_t, B, T, static_cast<int>(H), tile, out, h_prev, c);
  });
  LL_LAUNCH_CHECK("lstm_recurrent_forward");
}

void lstm_recurrent_backward(const float* d_out, const float* gates, const float* c, const float* weight_hh,
                             std::int64_t B, std::int64_t T, std::int64_t H, float* dz, int tile,
                             cudaStream_t stream) {
  if (B == 0 || T == 0) return;
  const std::size_t shared = backward_shared(tile, H);
  const unsigned blocks = static_cast<unsigned>((B + tile - 1) / tile);
  dispatch_hidden(H, [&](auto max_h) {
    constexpr int MaxH = decltype(max_h)::value;
    LL_LAUNCH(lstm_backward_kernel<MaxH>, blocks, block_threads(H), shared, stream)(
        d_out, gates, c, weight_hh, B, T, static_cast<int>(H), tile, dz);
  });
  LL_LAUNCH_CHECK("lstm_recurrent_backward");
}

void add_into(const float* x, std::int64_t n, float* y, cudaStream_t stream) {
  if (n == 0) return;
  const unsigned block = n >= general_threads ? general_threads : static_cast<unsigned>((n + 31) / 32 * 32);
  LL_LAUNCH(add_into_kernel, grid_for(n, general_threads), block, 0, stream)(x, n, y);
  LL_LAUNCH_CHECK("add_into");
}

}  // namespace limelight::cuda::kernels
