// The causal convolution's kernels: weight packing, the unfold (im2col
// with the causal left padding and dilation) and its fold, the fused bias,
// activation and residual, and its backward. All elementwise, one thread
// per output element in a grid-stride loop with consecutive threads on
// consecutive channels (coalesced). The fold gathers, for its element, the
// K taps of the unfolded gradient in tap order instead of scattering with
// atomics: deterministic. CPU reference: src/backend/cpu/conv.cpp.
#include "kernels/common.cuh"
#include "kernels/conv.cuh"
#include "backend/scalar_math.hpp"

namespace limelight::cuda::kernels {

using scalar::fast_tanh;

namespace {

constexpr int threads = grid_stride_block;

// Index: the type of the elements' index and of the divisions that split it
// into coordinates, int32_t whenever the work is below 2^30 elements (launch
// below): a 64-bit division costs several times a 32-bit one per element.
#define LL_GRID_STRIDE(i, n)                                                                        \
  for (Index i = static_cast<Index>(blockIdx.x) * static_cast<Index>(blockDim.x) + static_cast<Index>(threadIdx.x); \
       i < static_cast<Index>(n); i += static_cast<Index>(gridDim.x) * static_cast<Index>(blockDim.x))

// ConvDims in the kernel's index type: the arithmetic below stays in it.
template <class Index>
struct Dims {
  __device__ explicit Dims(const ConvDims& s)
      : B(static_cast<Index>(s.B)), T(static_cast<Index>(s.T)), C(static_cast<Index>(s.C)),
        O(static_cast<Index>(s.O)), K(static_cast<Index>(s.K)), dilation(static_cast<Index>(s.dilation)),
        pad(static_cast<Index>(s.pad)), To(static_cast<Index>(s.To)), Tr(static_cast<Index>(s.Tr)) {}
  Index B, T, C, O, K, dilation, pad, To, Tr;
};

template <class Index>
__global__ void __launch_bounds__(max_block_threads)
    pack_weight_kernel(const float* __restrict__ weight, ConvDims dims, float* __restrict__ wr) {
  const Dims<Index> s(dims);
  const Index KC = s.K * s.C;
  LL_GRID_STRIDE(i, s.O * KC) {
    const Index o = i / KC, r = i - o * KC, j = r / s.C, c = r - j * s.C;
    wr[i] = weight[(o * s.C + c) * s.K + j];
  }
}

template <class Index>
__global__ void __launch_bounds__(max_block_threads)
    unpack_weight_add_kernel(const float* __restrict__ d_wr, ConvDims dims, float* __restrict__ d_weight) {
  const Dims<Index> s(dims);
  const Index KC = s.K * s.C;
  LL_GRID_STRIDE(i, s.O * KC) {
    const Index o = i / KC, r = i - o * KC, c = r / s.K, j = r - c * s.K;
    d_weight[i] += d_wr[o * KC + j * s.C + c];
  }
}

template <class Index>
__global__ void __launch_bounds__(max_block_threads)
    unfold_kernel(const float* __restrict__ x, ConvDims dims, float* __restrict__ col) {
  const Dims<Index> s(dims);
  const Index KC = s.K * s.C;
  LL_GRID_STRIDE(i, s.B * s.To * KC) {
    const Index row = i / KC, r = i - row * KC, j = r / s.C, c = r - j * s.C;
    const Index b = row / s.To, t = row - b * s.To;
    const Index src = t + j * s.dilation - s.pad;
    col[i] = src >= 0 ? x[(b * s.T + src) * s.C + c] : 0.0f;
  }
}

template <class Index>
__global__ void __launch_bounds__(max_block_threads)
    fold_add_kernel(const float* __restrict__ d_col, ConvDims dims, float* __restrict__ d_x) {
  const Dims<Index> s(dims);
  const Index KC = s.K * s.C;
  LL_GRID_STRIDE(i, s.B * s.T * s.C) {
    const Index row = i / s.C, c = i - row * s.C;
    const Index b = row / s.T, u = row - b * s.T;
    float sum = 0.0f;
    for (Index j = 0; j < s.K; ++j) {
      const Index t = u + s.pad - j * s.dilation;  // the output step that read x[b, u] through tap j
      if (t >= 0 && t < s.To) sum += d_col[(b * s.To + t) * KC + j * s.C + c];
    }
    d_x[i] += sum;
  }
}

__device__ __forceinline__ float activate(float pre, int activation) {
  return activation == conv_relu ? (pre > 0.0f ? pre : 0.0f) : activation == conv_tanh ? fast_tanh(pre) : pre;
}

template <class Index>
__global__ void __launch_bounds__(max_block_threads)
    activate_kernel(float* __restrict__ y, float* __restrict__ activations, const float* __restrict__ bias,
                    const float* __restrict__ residual, ConvDims dims, int activation) {
  const Dims<Index> s(dims);
  LL_GRID_STRIDE(i, s.B * s.To * s.O) {
    const Index row = i / s.O, o = i - row * s.O;
    const Index b = row / s.To, t = row - b * s.To;
    const float v = activate(y[i] + (bias ? bias[o] : 0.0f), activation);
    activations[i] = v;
    const Index r = t - (s.To - s.Tr);  // the residual's step
    y[i] = v + (residual && r >= 0 ? residual[(b * s.Tr + r) * s.O + o] : 0.0f);
  }
}

template <class Index>
__global__ void __launch_bounds__(max_block_threads)
    activation_backward_kernel(const float* __restrict__ d_y, const float* __restrict__ a, ConvDims dims,
                               int activation, float* __restrict__ d_pre, float* __restrict__ d_residual) {
  const Dims<Index> s(dims);
  LL_GRID_STRIDE(i, s.B * s.To * s.O) {
    const float g = d_y[i];
    d_pre[i] = activation == conv_relu ? (a[i] > 0.0f ? g : 0.0f)
               : activation == conv_tanh ? g * (1.0f - a[i] * a[i])
                                         : g;
    if (d_residual) {
      const Index row = i / s.O, o = i - row * s.O;
      const Index b = row / s.To, r = row - b * s.To - (s.To - s.Tr);
      if (r >= 0) d_residual[(b * s.Tr + r) * s.O + o] += g;
    }
  }
}

// Launches kernel<int32_t> when n elements' indices fit 32 bits with room for
// the grid stride, kernel<int64_t> otherwise.
#define LL_CONV_LAUNCH(kernel, n, stream, ...)                                                  \
  do {                                                                                          \
    if ((n) < (std::int64_t{1} << 30)) {                                                        \
      LL_LAUNCH(kernel<std::int32_t>, grid_for(n, threads), block_for(n), 0, stream)(__VA_ARGS__); \
    } else {                                                                                    \
      LL_LAUNCH(kernel<std::int64_t>, grid_for(n, threads), block_for(n), 0, stream)(__VA_ARGS__); \
    }                                                                                           \
  } while (false)

}  // namespace

void conv_pack_weight(const float* weight, const ConvDims& s, float* wr, cudaStream_t stream) {
  const std::int64_t n = s.O * s.K * s.C;
  if (n == 0) return;
  LL_CONV_LAUNCH(pack_weight_kernel, n, stream, weight, s, wr);
  LL_LAUNCH_CHECK("conv_pack_weight");
}

void conv_unpack_weight_add(const float* d_wr, const ConvDims& s, float* d_weight, cudaStream_t stream) {
  const std::int64_t n = s.O * s.K * s.C;
  if (n == 0) return;
  LL_CONV_LAUNCH(unpack_weight_add_kernel, n, stream, d_wr, s, d_weight);
  LL_LAUNCH_CHECK("conv_unpack_weight_add");
}

void conv_unfold(const float* x, const ConvDims& s, float* col, cudaStream_t stream) {
  const std::int64_t n = s.B * s.To * s.K * s.C;
  if (n == 0) return;
  LL_CONV_LAUNCH(unfold_kernel, n, stream, x, s, col);
  LL_LAUNCH_CHECK("conv_unfold");
}

void conv_fold_add(const float* d_col, const ConvDims& s, float* d_x, cudaStream_t stream) {
  const std::int64_t n = s.B * s.T * s.C;
  if (n == 0) return;
  LL_CONV_LAUNCH(fold_add_kernel, n, stream, d_col, s, d_x);
  LL_LAUNCH_CHECK("conv_fold_add");
}

void conv_activate(float* y, float* activations, const float* bias, const float* residual, const ConvDims& s,
                   int activation, cudaStream_t stream) {
  const std::int64_t n = s.B * s.To * s.O;
  if (n == 0) return;
  LL_CONV_LAUNCH(activate_kernel, n, stream, y, activations, bias, residual, s,
                                                                           activation);
  LL_LAUNCH_CHECK("conv_activate");
}

void conv_activation_backward(const float* d_y, const float* activations, const ConvDims& s, int activation,
                              float* d_pre, float* d_residual, cudaStream_t stream) {
  const std::int64_t n = s.B * s.To * s.O;
  if (n == 0) return;
  LL_CONV_LAUNCH(activation_backward_kernel, n, stream, d_y, activations, s,
                                                                                      activation, d_pre, d_residual);
  LL_LAUNCH_CHECK("conv_activation_backward");
}

}  // namespace limelight::cuda::kernels
