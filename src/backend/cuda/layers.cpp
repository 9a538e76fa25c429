// The layer primitives on the GPU: argument checks, scratch from the step
// arena (device memory), cuBLAS GEMMs through cuda::gemm and the kernels of
// kernels/linear.cu, conv.cu and lstm.cu. The structure follows the CPU
// backend's (src/backend/cpu/blas.cpp, conv.cpp, lstm.cpp) without its batch
// chunks: one GEMM covers all rows, so the weight gradients need no chunk
// sums.
#include "backend/cuda/layers.hpp"

#include <array>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backend/cuda/check.hpp"
#include "backend/cuda/context.hpp"
#include "backend/cuda/primitives.hpp"
#include "kernels/conv.cuh"
#include "kernels/linear.cuh"
#include "kernels/lstm.cuh"
#include "limelight/error.hpp"
#include "limelight_config.h"

#if !LIMELIGHT_CUDA_EMULATED
#include <cudnn.h>
#endif

namespace limelight::cuda {

namespace {

void check_sizes(const char* op, std::initializer_list<std::int64_t> sizes) {
  for (std::int64_t s : sizes) LL_CHECK(s >= 0, op, ": negative size ", s);
}

void check_scratch(const Arena& scratch, const char* op) {
  LL_CHECK(scratch.device() == Device::cuda, op, ": scratch must be a ", device_name(Device::cuda),
           " arena, got a ", device_name(scratch.device()), " one");
}

float* scratch_floats(Arena& scratch, std::int64_t n) { return scratch.tensor(Shape{n}).f32(); }

// out[n] += column sums of x (rows, N), with the workspace column_sums needs.
void add_column_sums(Context& ctx, const float* x, std::int64_t rows, std::int64_t N, float* out, Arena& scratch) {
  const std::int64_t chunks = kernels::column_sum_chunks(rows);
  float* workspace = chunks > 1 ? scratch_floats(scratch, chunks * N) : nullptr;
  kernels::column_sums(x, rows, N, out, workspace, ctx.stream());
}

}  // namespace

// ---------------------------------------------------------------- linear

void linear_forward(Context& ctx, const float* x, const float* W, const float* bias, std::int64_t rows,
                    std::int64_t K, std::int64_t N, float* y) {
  check_sizes("cuda::linear_forward", {rows, K, N});
  if (rows == 0 || N == 0) return;
  if (bias)  // y starts as the bias; the GEMM adds x W^T (beta = 1), as on the CPU
    kernels::broadcast_rows(bias, nullptr, rows, N, y, ctx.stream());
  else if (K == 0)
    CUDA_CHECK(cudaMemsetAsync(y, 0, sizeof(float) * static_cast<std::size_t>(rows * N), ctx.stream()));
  if (K > 0) gemm(ctx, false, true, rows, N, K, 1.0f, x, K, W, K, bias ? 1.0f : 0.0f, y, N);
}

void linear_backward(Context& ctx, const float* d_y, const float* x, const float* W, std::int64_t rows,
                     std::int64_t K, std::int64_t N, float* d_x, float* d_W, float* d_bias, Arena& scratch) {
  const char* op = "cuda::linear_backward";
  check_sizes(op, {rows, K, N});
  check_scratch(scratch, op);
  if (rows == 0 || N == 0) return;
  if (K > 0) {
    if (d_x) gemm(ctx, false, false, rows, K, N, 1.0f, d_y, N, W, K, 1.0f, d_x, K);
    if (d_W) gemm(ctx, true, false, N, K, rows, 1.0f, d_y, N, x, K, 1.0f, d_W, K);
  }
  if (d_bias) add_column_sums(ctx, d_y, rows, N, d_bias, scratch);
}

// ---------------------------------------------------------------- causal convolution

namespace {

// Tells the backward that the payload is a convolution's of the same shape.
struct ConvPayload {
  std::int64_t unfolded_floats;
  std::int64_t packed_floats;
};

kernels::ConvDims dims_of(const backend::ConvShape& s, const char* op) {
  check_sizes(op, {s.B, s.T, s.C, s.O, s.K, s.pad, s.To, s.Tr});
  LL_CHECK(s.K >= 1 && s.dilation >= 1, op, ": kernel width ", s.K, " and dilation ", s.dilation,
           " must be at least 1");
  LL_CHECK(s.To == s.T + s.pad - (s.K - 1) * s.dilation && s.To >= 1, op, ": output length ", s.To,
           " does not match T=", s.T, " pad=", s.pad, " K=", s.K, " dilation=", s.dilation);
  LL_CHECK(s.Tr <= s.To, op, ": residual of ", s.Tr, " steps is longer than the output's ", s.To);
  return kernels::ConvDims{s.B, s.T, s.C, s.O, s.K, s.dilation, s.pad, s.To, s.Tr};
}

int activation_code(ops::Activation act) {
  switch (act) {
    case ops::Activation::none: return kernels::conv_none;
    case ops::Activation::tanh: return kernels::conv_tanh;
    case ops::Activation::relu: return kernels::conv_relu;
  }
  ::limelight::detail::fail("cuda::causal_conv: unknown activation ", static_cast<int>(act));
}

}  // namespace

void causal_conv_forward(Context& ctx, const backend::ConvShape& s, ops::Activation act, const float* x,
                         const float* weight, const float* bias, const float* residual, float* y,
                         float* activations, Arena& scratch, BackendPayload* payload) {
  const char* op = "cuda::causal_conv_forward";
  const kernels::ConvDims d = dims_of(s, op);
  check_scratch(scratch, op);
  const int code = activation_code(act);
  const std::int64_t KC = s.K * s.C, rows = s.B * s.To;
  Tensor packed = scratch.tensor(Shape{s.O, KC});
  Tensor col = scratch.tensor(Shape{rows, KC});
  kernels::conv_pack_weight(weight, d, packed.f32(), ctx.stream());
  kernels::conv_unfold(x, d, col.f32(), ctx.stream());
  if (rows > 0 && s.O > 0) {
    if (KC > 0)
      gemm(ctx, false, true, rows, s.O, KC, 1.0f, col.f32(), KC, packed.f32(), KC, 0.0f, y, s.O);
    else
      CUDA_CHECK(cudaMemsetAsync(y, 0, sizeof(float) * static_cast<std::size_t>(rows * s.O), ctx.stream()));
  }
  kernels::conv_activate(y, activations, bias, residual, d, code, ctx.stream());
  if (payload) {
    payload->buffers[0] = col;
    payload->buffers[1] = packed;
    payload->state.put(ConvPayload{rows * KC, s.O * KC});
  }
}

void causal_conv_backward(Context& ctx, const backend::ConvShape& s, ops::Activation act, const float* d_y,
                          const float* activations, float* d_x, float* d_weight, float* d_bias, float* d_residual,
                          Arena& scratch, const BackendPayload& payload) {
  const char* op = "cuda::causal_conv_backward";
  const kernels::ConvDims d = dims_of(s, op);
  check_scratch(scratch, op);
  const int code = activation_code(act);
  const std::int64_t KC = s.K * s.C, rows = s.B * s.To, O = s.O;
  const ConvPayload saved = payload.state.get<ConvPayload>();
  LL_CHECK(saved.unfolded_floats == rows * KC && saved.packed_floats == O * KC &&
               payload.buffers[0].numel() == rows * KC && payload.buffers[1].numel() == O * KC,
           op, ": the payload does not come from a forward of this shape");
  const float* col = payload.buffers[0].f32();
  const float* wr = payload.buffers[1].f32();
  float* d_pre = scratch_floats(scratch, rows * O);
  kernels::conv_activation_backward(d_y, activations, d, code, d_pre, s.Tr > 0 ? d_residual : nullptr,
                                    ctx.stream());
  if (rows == 0 || O == 0) return;
  if (d_weight && KC > 0) {
    float* d_wr = scratch_floats(scratch, O * KC);
    gemm(ctx, true, false, O, KC, rows, 1.0f, d_pre, O, col, KC, 0.0f, d_wr, KC);
    kernels::conv_unpack_weight_add(d_wr, d, d_weight, ctx.stream());
  }
  if (d_bias) add_column_sums(ctx, d_pre, rows, O, d_bias, scratch);
  if (d_x && KC > 0) {
    float* d_col = scratch_floats(scratch, rows * KC);
    gemm(ctx, false, false, rows, KC, O, 1.0f, d_pre, O, wr, KC, 0.0f, d_col, KC);
    kernels::conv_fold_add(d_col, d, d_x, ctx.stream());
  }
}

// ---------------------------------------------------------------- LSTM

LstmPath lstm_path() {
  const char* v = std::getenv("LIMELIGHT_CUDA_LSTM");
  if (!v || !*v || std::strcmp(v, "kernel") == 0) return LstmPath::kernel;
  if (std::strcmp(v, "cudnn") == 0) {
#if LIMELIGHT_CUDA_EMULATED
    ::limelight::detail::fail("LIMELIGHT_CUDA_LSTM=cudnn: cuDNN's RNN needs the CUDA toolkit; this is an emulator "
                              "build (use LIMELIGHT_CUDA_LSTM=kernel or leave it unset)");
#else
    return LstmPath::cudnn;
#endif
  }
  ::limelight::detail::fail("LIMELIGHT_CUDA_LSTM=", v, ": expected \"kernel\" (the default) or \"cudnn\"");
}

namespace {

// What the backward needs besides the payload's buffers: the path, the
// shape it was run with, and (hand-written kernel) the sequences per block.
// 32 bytes, the payload's room: D and H are checked to fit an int32.
struct LstmPayload {
  LstmPath path;
  std::int32_t tile;
  std::int64_t rows;  // B * T
  std::int32_t D, H;
  std::uint64_t reserve_bytes;  // cuDNN's reserve space
};

LstmPayload lstm_payload(LstmPath path, int tile, std::int64_t B, std::int64_t T, std::int64_t D, std::int64_t H,
                         std::uint64_t reserve_bytes) {
  return LstmPayload{path, tile, B * T, static_cast<std::int32_t>(D), static_cast<std::int32_t>(H), reserve_bytes};
}

void check_lstm(const char* op, std::int64_t B, std::int64_t T, std::int64_t D, std::int64_t H) {
  check_sizes(op, {B, T, D, H});
  LL_CHECK(D >= 1 && H >= 1, op, ": input width D=", D, " and hidden size H=", H, " must be at least 1");
  LL_CHECK(D <= 0x7fffffff && H <= 0x7fffffff, op, ": input width D=", D, " or hidden size H=", H,
           " does not fit an int32");
}

void copy_device(Context& ctx, float* dst, const float* src, std::int64_t n) {
  if (n > 0)
    CUDA_CHECK(cudaMemcpyAsync(dst, src, sizeof(float) * static_cast<std::size_t>(n), cudaMemcpyDeviceToDevice,
                               ctx.stream()));
}

// ---- The hand-written kernel. Payload buffers: x (B, T, D) as given,
// h_prev and c (2, B, T, H), the activated gates (B, T, 4H).

void lstm_forward_kernel(Context& ctx, const float* x, const float* weight_ih, const float* weight_hh,
                         const float* bias_ih, const float* bias_hh, std::int64_t B, std::int64_t T, std::int64_t D,
                         std::int64_t H, float* out, Arena& scratch, BackendPayload* payload) {
  const std::int64_t G = 4 * H, rows = B * T;
  const int tile = kernels::lstm_tile(B, H, ctx.multiprocessors());
  Tensor gates = scratch.tensor(Shape{rows, G});
  Tensor states = scratch.tensor(Shape{2, rows, H});
  // gates = (b_ih + b_hh) + x W_ih^T for every step at once, as the CPU sums them.
  kernels::broadcast_rows(bias_ih, bias_hh, rows, G, gates.f32(), ctx.stream());
  if (rows > 0) gemm(ctx, false, true, rows, G, D, 1.0f, x, D, weight_ih, D, 1.0f, gates.f32(), G);
  const std::size_t workspace_bytes = kernels::lstm_forward_workspace(H);
  Tensor workspace = workspace_bytes ? scratch.tensor(Shape{static_cast<std::int64_t>(workspace_bytes / sizeof(float))})
                                     : Tensor{};
  kernels::lstm_recurrent_forward(gates.f32(), weight_hh, B, T, H, out, states.f32(), states.f32() + rows * H, tile,
                                  workspace_bytes ? workspace.f32() : nullptr, ctx.stream());
  if (payload) {
    Tensor x_saved = scratch.tensor(Shape{rows, D});
    copy_device(ctx, x_saved.f32(), x, rows * D);
    payload->buffers[0] = x_saved;
    payload->buffers[1] = states;
    payload->buffers[2] = gates;
    payload->state.put(lstm_payload(LstmPath::kernel, tile, B, T, D, H, 0));
  }
}

void lstm_backward_kernel(Context& ctx, const float* d_out, const float* weight_ih, const float* weight_hh,
                          std::int64_t B, std::int64_t T, std::int64_t D, std::int64_t H, float* d_x,
                          float* d_weight_ih, float* d_weight_hh, float* d_bias_ih, float* d_bias_hh,
                          Arena& scratch, const BackendPayload& payload, int tile) {
  const std::int64_t G = 4 * H, rows = B * T;
  const float* x = payload.buffers[0].f32();
  const float* h_prev = payload.buffers[1].f32();
  const float* c = h_prev + rows * H;
  const float* gates = payload.buffers[2].f32();
  float* dz = scratch_floats(scratch, rows * G);
  kernels::lstm_recurrent_backward(d_out, gates, c, weight_hh, B, T, H, dz, tile, ctx.stream());
  if (rows == 0) return;
  // Step t's gate gradients pair with h[t-1]: h_prev has it in row (b, t),
  // and zeros at t = 0, so one GEMM over all rows.
  if (d_weight_hh) gemm(ctx, true, false, G, H, rows, 1.0f, dz, G, h_prev, H, 1.0f, d_weight_hh, H);
  if (d_weight_ih) gemm(ctx, true, false, G, D, rows, 1.0f, dz, G, x, D, 1.0f, d_weight_ih, D);
  for (float* db : {d_bias_ih, d_bias_hh})
    if (db) add_column_sums(ctx, dz, rows, G, db, scratch);
  if (d_x) gemm(ctx, false, false, rows, D, G, 1.0f, dz, G, weight_ih, D, 1.0f, d_x, D);
}

#if !LIMELIGHT_CUDA_EMULATED
// ---- cuDNN's RNN. Payload buffers: x (B, T, D), y (B, T, H) and the
// reserve space; the weight space is packed again from the weights in the
// backward. Runs only on a GPU: not verified (docs/gpu.md).

// One cuDNN handle per thread (a Context serves one thread), bound to the
// Context's stream at every call.
cudnnHandle_t cudnn_handle(Context& ctx) {
  struct Handle {
    cudnnHandle_t handle = nullptr;
    ~Handle() {
      if (handle) cudnnDestroy(handle);
    }
  };
  thread_local Handle h;
  if (!h.handle) CUDNN_CHECK(cudnnCreate(&h.handle));
  CUDNN_CHECK(cudnnSetStream(h.handle, ctx.stream()));
  return h.handle;
}

// The descriptors of one LSTM shape: a single unidirectional layer with
// PyTorch's two biases, float data and FMA math (no TF32), batch-major
// padded sequences all of length T, h0 = c0 = 0; and its weight space and
// workspace, which every call of the shape reuses (cached_lstm).
struct CudnnLstm {
  cudnnHandle_t handle = nullptr;
  cudnnDropoutDescriptor_t dropout = nullptr;
  cudnnRNNDescriptor_t rnn = nullptr;
  cudnnRNNDataDescriptor_t x_desc = nullptr, y_desc = nullptr;
  cudnnTensorDescriptor_t h_desc = nullptr;
  DeviceBuffer seq_lengths;
  std::size_t weight_bytes = 0, work_bytes = 0, reserve_bytes = 0;
  DeviceBuffer weight_space, workspace;

  CudnnLstm(Context& ctx, std::int64_t B, std::int64_t T, std::int64_t D, std::int64_t H) {
    const char* op = "cuda::lstm (cuDNN)";
    LL_CHECK(B <= 0x7fffffff && T <= 0x7fffffff && D <= 0x7fffffff && H <= 0x7fffffff, op, ": sizes B=", B, " T=",
             T, " D=", D, " H=", H, " do not fit cuDNN's int");
    const int b = static_cast<int>(B), t = static_cast<int>(T), d = static_cast<int>(D), h = static_cast<int>(H);
    handle = cudnn_handle(ctx);
    CUDNN_CHECK(cudnnCreateDropoutDescriptor(&dropout));
    CUDNN_CHECK(cudnnSetDropoutDescriptor(dropout, handle, 0.0f, nullptr, 0, 0));
    CUDNN_CHECK(cudnnCreateRNNDescriptor(&rnn));
    CUDNN_CHECK(cudnnSetRNNDescriptor_v8(rnn, CUDNN_RNN_ALGO_STANDARD, CUDNN_LSTM, CUDNN_RNN_DOUBLE_BIAS,
                                         CUDNN_UNIDIRECTIONAL, CUDNN_LINEAR_INPUT, CUDNN_DATA_FLOAT,
                                         CUDNN_DATA_FLOAT, CUDNN_FMA_MATH, d, h, h, 1, dropout,
                                         CUDNN_RNN_PADDED_IO_ENABLED));
    const std::vector<int> lengths(static_cast<std::size_t>(b), t);
    CUDNN_CHECK(cudnnCreateRNNDataDescriptor(&x_desc));
    CUDNN_CHECK(cudnnCreateRNNDataDescriptor(&y_desc));
    float fill = 0.0f;
    CUDNN_CHECK(cudnnSetRNNDataDescriptor(x_desc, CUDNN_DATA_FLOAT, CUDNN_RNN_DATA_LAYOUT_BATCH_MAJOR_UNPACKED, t, b,
                                          d, lengths.data(), &fill));
    CUDNN_CHECK(cudnnSetRNNDataDescriptor(y_desc, CUDNN_DATA_FLOAT, CUDNN_RNN_DATA_LAYOUT_BATCH_MAJOR_UNPACKED, t, b,
                                          h, lengths.data(), &fill));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&h_desc));
    const int dims[3] = {1, b, h}, strides[3] = {b * h, h, 1};
    CUDNN_CHECK(cudnnSetTensorNdDescriptor(h_desc, CUDNN_DATA_FLOAT, 3, dims, strides));
    std::vector<std::int32_t> lengths32(lengths.begin(), lengths.end());
    seq_lengths = ctx.upload(lengths32);
    CUDNN_CHECK(cudnnGetRNNWeightSpaceSize(handle, rnn, &weight_bytes));
    CUDNN_CHECK(cudnnGetRNNTempSpaceSizes(handle, rnn, CUDNN_FWD_MODE_TRAINING, x_desc, &work_bytes, &reserve_bytes));
    weight_space = ctx.buffer(weight_bytes);
    workspace = ctx.buffer(work_bytes);
  }
  CudnnLstm(const CudnnLstm&) = delete;
  CudnnLstm& operator=(const CudnnLstm&) = delete;
  ~CudnnLstm() {
    if (h_desc) cudnnDestroyTensorDescriptor(h_desc);
    if (y_desc) cudnnDestroyRNNDataDescriptor(y_desc);
    if (x_desc) cudnnDestroyRNNDataDescriptor(x_desc);
    if (rnn) cudnnDestroyRNNDescriptor(rnn);
    if (dropout) cudnnDestroyDropoutDescriptor(dropout);
  }

  // Visits the 8 matrices and 8 bias vectors of a weight space: cuDNN's
  // linear layers 0-3 are the input weights of gates i, f, g (cuDNN's "new
  // memory" gate) and o, PyTorch's order, 4-7 the recurrent ones; each
  // matrix is (H, D) or (H, H) row-major, as PyTorch's weight rows
  // [gate*H, (gate+1)*H). fn(layer, matrix, bias) gets device pointers.
  template <class Fn>
  void for_each_layer(const void* space, Fn&& fn) {
    cudnnTensorDescriptor_t m_desc = nullptr, b_desc = nullptr;
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&m_desc));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&b_desc));
    try {
      for (int layer = 0; layer < 8; ++layer) {
        void* m = nullptr;
        void* bias = nullptr;
        CUDNN_CHECK(cudnnGetRNNWeightParams(handle, rnn, 0, weight_bytes, space, layer, m_desc, &m, b_desc, &bias));
        LL_CHECK(m && bias, "cuda::lstm (cuDNN): linear layer ", layer, " has no matrix or bias");
        fn(layer, static_cast<float*>(m), static_cast<float*>(bias));
      }
    } catch (...) {
      cudnnDestroyTensorDescriptor(b_desc);
      cudnnDestroyTensorDescriptor(m_desc);
      throw;
    }
    cudnnDestroyTensorDescriptor(b_desc);
    cudnnDestroyTensorDescriptor(m_desc);
  }

  // The weight space, filled with PyTorch's weights and biases (copies on
  // the stream: a call queued before reads what it packed).
  void* pack(Context& ctx, const float* weight_ih, const float* weight_hh, const float* bias_ih,
             const float* bias_hh, std::int64_t D, std::int64_t H) {
    for_each_layer(weight_space.data(), [&](int layer, float* m, float* bias) {
      const int gate = layer % 4;
      if (layer < 4) {
        copy_device(ctx, m, weight_ih + gate * H * D, H * D);
        copy_device(ctx, bias, bias_ih + gate * H, H);
      } else {
        copy_device(ctx, m, weight_hh + gate * H * H, H * H);
        copy_device(ctx, bias, bias_hh + gate * H, H);
      }
    });
    return weight_space.data();
  }
};

// The calling thread's CudnnLstm for a shape: descriptors, weight space and
// workspace made once and reused by every later call of that shape (a
// training run's steps), where each call made and destroyed them. At most
// eight shapes per thread (serving histories of many lengths), then the
// cache starts again.
CudnnLstm& cached_lstm(Context& ctx, std::int64_t B, std::int64_t T, std::int64_t D, std::int64_t H) {
  thread_local std::map<std::array<std::int64_t, 4>, std::unique_ptr<CudnnLstm>> shapes;
  const std::array<std::int64_t, 4> key{B, T, D, H};
  auto it = shapes.find(key);
  if (it == shapes.end()) {
    // Their buffers go back to the Context's allocator, which hands them out
    // again only in this stream's order, after the work queued on them.
    if (shapes.size() >= 8) shapes.clear();
    it = shapes.emplace(key, std::make_unique<CudnnLstm>(ctx, B, T, D, H)).first;
  } else {
    it->second->handle = cudnn_handle(ctx);  // bound to this call's stream
  }
  return *it->second;
}

void lstm_forward_cudnn(Context& ctx, const float* x, const float* weight_ih, const float* weight_hh,
                        const float* bias_ih, const float* bias_hh, std::int64_t B, std::int64_t T, std::int64_t D,
                        std::int64_t H, float* out, Arena& scratch, BackendPayload* payload) {
  CudnnLstm& lstm = cached_lstm(ctx, B, T, D, H);
  void* weights = lstm.pack(ctx, weight_ih, weight_hh, bias_ih, bias_hh, D, H);
  void* work = lstm.workspace.data();
  const std::int64_t reserve_floats = static_cast<std::int64_t>((lstm.reserve_bytes + 3) / 4);
  Tensor reserve = scratch.tensor(Shape{payload ? reserve_floats : 0});
  CUDNN_CHECK(cudnnRNNForward(lstm.handle, lstm.rnn, payload ? CUDNN_FWD_MODE_TRAINING : CUDNN_FWD_MODE_INFERENCE,
                              lstm.seq_lengths.as<std::int32_t>(), lstm.x_desc, x, lstm.y_desc, out, lstm.h_desc,
                              nullptr, nullptr, lstm.h_desc, nullptr, nullptr, lstm.weight_bytes, weights,
                              lstm.work_bytes, work, payload ? lstm.reserve_bytes : 0,
                              payload ? reserve.raw() : nullptr));
  if (payload) {
    const std::int64_t rows = B * T;
    Tensor x_saved = scratch.tensor(Shape{rows, D});
    Tensor y_saved = scratch.tensor(Shape{rows, H});
    copy_device(ctx, x_saved.f32(), x, rows * D);
    copy_device(ctx, y_saved.f32(), out, rows * H);
    payload->buffers[0] = x_saved;
    payload->buffers[1] = y_saved;
    payload->buffers[2] = reserve;
    payload->state.put(lstm_payload(LstmPath::cudnn, 0, B, T, D, H, lstm.reserve_bytes));
  }
}

void lstm_backward_cudnn(Context& ctx, const float* d_out, const float* weight_ih, const float* weight_hh,
                         std::int64_t B, std::int64_t T, std::int64_t D, std::int64_t H, float* d_x,
                         float* d_weight_ih, float* d_weight_hh, float* d_bias_ih, float* d_bias_hh,
                         const BackendPayload& payload, std::uint64_t reserve_bytes) {
  CudnnLstm& lstm = cached_lstm(ctx, B, T, D, H);
  LL_CHECK(lstm.reserve_bytes == reserve_bytes, "cuda::lstm_backward (cuDNN): reserve space of ", reserve_bytes,
           " bytes, cuDNN now asks for ", lstm.reserve_bytes);
  const std::int64_t G = 4 * H, rows = B * T;
  // The biases do not enter the backward: zeros stand in for them.
  DeviceBuffer zero_bias = ctx.buffer(sizeof(float) * static_cast<std::size_t>(G));
  CUDA_CHECK(cudaMemsetAsync(zero_bias.data(), 0, sizeof(float) * static_cast<std::size_t>(G), ctx.stream()));
  void* weights = lstm.pack(ctx, weight_ih, weight_hh, zero_bias.as<float>(), zero_bias.as<float>(), D, H);
  void* work = lstm.workspace.data();
  const float* x = payload.buffers[0].f32();
  const float* y = payload.buffers[1].f32();
  void* reserve = payload.buffers[2].raw();
  // Backward data must run first (it fills the reserve space the weight
  // gradient reads) and is needed even when only weight gradients are.
  DeviceBuffer dx = ctx.buffer(sizeof(float) * static_cast<std::size_t>(rows * D));
  CUDNN_CHECK(cudnnRNNBackwardData_v8(lstm.handle, lstm.rnn, lstm.seq_lengths.as<std::int32_t>(), lstm.y_desc, y,
                                      d_out, lstm.x_desc, dx.data(), lstm.h_desc, nullptr, nullptr, nullptr,
                                      lstm.h_desc, nullptr, nullptr, nullptr, lstm.weight_bytes, weights,
                                      lstm.work_bytes, work, lstm.reserve_bytes, reserve));
  if (d_x) kernels::add_into(dx.as<float>(), rows * D, d_x, ctx.stream());
  if (!d_weight_ih && !d_weight_hh && !d_bias_ih && !d_bias_hh) return;
  DeviceBuffer d_weights = ctx.buffer(lstm.weight_bytes);
  CUDA_CHECK(cudaMemsetAsync(d_weights.data(), 0, lstm.weight_bytes, ctx.stream()));
  CUDNN_CHECK(cudnnRNNBackwardWeights_v8(lstm.handle, lstm.rnn, CUDNN_WGRAD_MODE_ADD,
                                         lstm.seq_lengths.as<std::int32_t>(), lstm.x_desc, x, lstm.h_desc, nullptr,
                                         lstm.y_desc, y, lstm.weight_bytes, d_weights.data(), lstm.work_bytes,
                                         work, lstm.reserve_bytes, reserve));
  lstm.for_each_layer(d_weights.data(), [&](int layer, float* m, float* bias) {
    const int gate = layer % 4;
    float* dw = layer < 4 ? d_weight_ih : d_weight_hh;
    float* db = layer < 4 ? d_bias_ih : d_bias_hh;
    const std::int64_t width = layer < 4 ? D : H;
    if (dw) kernels::add_into(m, H * width, dw + gate * H * width, ctx.stream());
    if (db) kernels::add_into(bias, H, db + gate * H, ctx.stream());
  });
}
#endif

}  // namespace

void lstm_forward(Context& ctx, const float* x, const float* weight_ih, const float* weight_hh, const float* bias_ih,
                  const float* bias_hh, std::int64_t B, std::int64_t T, std::int64_t D, std::int64_t H, float* out,
                  Arena& scratch, BackendPayload* payload) {
  const char* op = "cuda::lstm_forward";
  check_lstm(op, B, T, D, H);
  check_scratch(scratch, op);
  const LstmPath path = lstm_path();
  LL_CHECK(path != LstmPath::kernel || H <= kernels::lstm_max_hidden, op, ": hidden size H=", H, " exceeds the ",
           kernels::lstm_max_hidden, " the LSTM kernel supports (its per-block state must fit in 48 KiB of shared "
           "memory; LIMELIGHT_CUDA_LSTM=cudnn has no such limit)");
  LL_CHECK(bias_ih && bias_hh, op, ": both biases are required");
  if (path == LstmPath::cudnn) {
#if !LIMELIGHT_CUDA_EMULATED
    lstm_forward_cudnn(ctx, x, weight_ih, weight_hh, bias_ih, bias_hh, B, T, D, H, out, scratch, payload);
    return;
#endif
  }
  lstm_forward_kernel(ctx, x, weight_ih, weight_hh, bias_ih, bias_hh, B, T, D, H, out, scratch, payload);
}

void lstm_backward(Context& ctx, const float* d_out, const float* weight_ih, const float* weight_hh, std::int64_t B,
                   std::int64_t T, std::int64_t D, std::int64_t H, float* d_x, float* d_weight_ih,
                   float* d_weight_hh, float* d_bias_ih, float* d_bias_hh, Arena& scratch,
                   const BackendPayload& payload) {
  const char* op = "cuda::lstm_backward";
  check_lstm(op, B, T, D, H);
  check_scratch(scratch, op);
  const LstmPayload saved = payload.state.get<LstmPayload>();
  LL_CHECK(saved.rows == B * T && saved.D == D && saved.H == H, op, ": the payload comes from a forward of ",
           saved.rows, " steps of D=", saved.D, ", H=", saved.H, ", not B*T=", B * T, " of D=", D, ", H=", H);
  if (saved.path == LstmPath::cudnn) {
#if !LIMELIGHT_CUDA_EMULATED
    lstm_backward_cudnn(ctx, d_out, weight_ih, weight_hh, B, T, D, H, d_x, d_weight_ih, d_weight_hh, d_bias_ih,
                        d_bias_hh, payload, saved.reserve_bytes);
    return;
#else
    ::limelight::detail::fail(op, ": the payload is cuDNN's, which an emulator build cannot run");
#endif
  }
  LL_CHECK(saved.tile >= 1, op, ": the payload does not come from an LSTM forward");
  lstm_backward_kernel(ctx, d_out, weight_ih, weight_hh, B, T, D, H, d_x, d_weight_ih, d_weight_hh, d_bias_ih,
                       d_bias_hh, scratch, payload, saved.tile);
}

}  // namespace limelight::cuda
