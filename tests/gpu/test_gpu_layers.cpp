// CPU-against-GPU parity of the layer primitives (src/backend/cuda/
// layers.hpp): linear, the causal convolution and the hand-written LSTM,
// forward and backward, every output and every gradient, on random inputs.
// The CPU backend (src/backend/cpu/blas.cpp, conv.cpp, lstm.cpp) is the
// reference. Gradients start from random values, so that "adds into" is
// checked too. Also: the same inputs give the same bits twice (no atomics),
// and the LSTM's clear errors (path selection, the hidden-size limit).
// Skipped without a device.
#include <cstdlib>
#include <cstring>
#include <string>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cuda/layers.hpp"
#include "gpu_test.hpp"
#include "kernels/lstm.cuh"
#include "limelight/error.hpp"
#include "limelight/tape.hpp"
#include "limelight_config.h"

using namespace limelight;
using namespace limelight::cuda;
using gpu_test::check_close;
using gpu_test::random_floats;

namespace {

using Floats = std::vector<float>;

std::size_t size(std::int64_t n) { return static_cast<std::size_t>(n); }

// Device copies of host vectors; an empty vector is a null pointer (a
// gradient not wanted, a missing bias).
struct DeviceCopies {
  explicit DeviceCopies(Context& c) : ctx(c) {}
  Context& ctx;
  std::vector<DeviceBuffer> held;
  float* up(const Floats& v) {
    if (v.empty()) return nullptr;
    held.push_back(ctx.upload(v));
    return held.back().as<float>();
  }
  Floats down(const float* p, std::size_t n) {
    Floats out(n);
    if (n) ctx.download(p, out.data(), n);
    return out;
  }
};

const char* activation_name(ops::Activation a) {
  return a == ops::Activation::relu ? "relu" : a == ops::Activation::tanh ? "tanh" : "none";
}

// Float32 rounding of the dot products these layers are made of: each
// output is a sum of at most a few hundred products of O(1) terms, summed
// in different orders by OpenBLAS on the CPU and by cuBLAS (on the
// emulator: OpenBLAS in column-major, other blocking) and the kernels.
constexpr double rtol = 1e-5, atol = 1e-5;

// For sums over many rows (a weight or bias gradient): |got - want| <=
// n u S, the bound of float32 summation of n terms in any order, with S the
// sum of the terms' magnitudes (plus the gradient's start) and u = 2^-24.
void check_sum_bounded(const std::string& label, const Floats& got, const Floats& want, const Floats& scale,
                       std::int64_t n) {
  REQUIRE(got.size() == want.size());
  REQUIRE(scale.size() == want.size());
  const double u = 5.96e-8;
  int bad = 0;
  std::size_t first = 0;
  for (std::size_t i = 0; i < got.size(); ++i)
    if (!(std::fabs(static_cast<double>(got[i]) - want[i]) <= static_cast<double>(n + 1) * u * scale[i] + 1e-7))
      if (bad++ == 0) first = i;
  INFO(label, ": ", bad, " of ", got.size(), " beyond the summation bound; first at ", first, " got ",
       got.empty() ? 0.0f : got[first], " want ", want.empty() ? 0.0f : want[first]);
  CHECK(bad == 0);
}

Floats magnitudes(const Floats& v) {
  Floats out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = std::fabs(v[i]);
  return out;
}

// ---------------------------------------------------------------- linear

void check_linear(Context& ctx, std::int64_t rows, std::int64_t K, std::int64_t N, bool with_bias,
                  std::mt19937& rng) {
  const std::string label = "linear rows=" + std::to_string(rows) + " K=" + std::to_string(K) +
                            " N=" + std::to_string(N) + (with_bias ? " bias" : " no bias");
  const Floats x = random_floats(size(rows * K), rng), W = random_floats(size(N * K), rng);
  const Floats bias = with_bias ? random_floats(size(N), rng) : Floats{};
  const Floats d_y = random_floats(size(rows * N), rng);
  const Floats d_x0 = random_floats(size(rows * K), rng), d_W0 = random_floats(size(N * K), rng);
  const Floats d_b0 = with_bias ? random_floats(size(N), rng) : Floats{};

  cpu::CpuBackend& cpu = cpu::backend();
  Floats y(size(rows * N)), d_x = d_x0, d_W = d_W0, d_b = d_b0;
  Arena host(limelight::Device::cpu);
  cpu.linear_forward(x.data(), W.data(), with_bias ? bias.data() : nullptr, rows, K, N, y.data());
  cpu.linear_backward(d_y.data(), x.data(), W.data(), rows, K, N, d_x.data(), d_W.data(),
                      with_bias ? d_b.data() : nullptr, host);

  DeviceCopies dev(ctx);
  Arena scratch(limelight::Device::cuda);
  float* gy = dev.up(Floats(size(rows * N), 7.0f));  // overwritten, not added into
  float *gx = dev.up(d_x0), *gW = dev.up(d_W0), *gb = dev.up(d_b0);
  linear_forward(ctx, dev.up(x), dev.up(W), dev.up(bias), rows, K, N, gy);
  linear_backward(ctx, dev.up(d_y), dev.up(x), dev.up(W), rows, K, N, gx, gW, gb, scratch);
  check_close(label + ": y", dev.down(gy, y.size()), y, rtol, atol);
  check_close(label + ": d_x", dev.down(gx, d_x.size()), d_x, rtol, atol);
  // d_W and d_bias sum over all rows: their bound grows with the rows.
  Floats W_scale = magnitudes(d_W0), b_scale = magnitudes(d_b0), unused(size(rows * K));
  cpu.linear_backward(magnitudes(d_y).data(), magnitudes(x).data(), W.data(), rows, K, N, unused.data(),
                      W_scale.data(), with_bias ? b_scale.data() : nullptr, host);
  check_sum_bounded(label + ": d_W", dev.down(gW, d_W.size()), d_W, W_scale, rows);
  if (with_bias) check_sum_bounded(label + ": d_bias", dev.down(gb, d_b.size()), d_b, b_scale, rows);
}

// ---------------------------------------------------------------- causal convolution

struct ConvCase {
  std::int64_t B, T, C, O, K, dilation, pad, Tr;
  ops::Activation act;
  bool with_bias;
};

std::string conv_label(const ConvCase& c) {
  return "conv B=" + std::to_string(c.B) + " T=" + std::to_string(c.T) + " C=" + std::to_string(c.C) +
         " O=" + std::to_string(c.O) + " K=" + std::to_string(c.K) + " dilation=" + std::to_string(c.dilation) +
         " pad=" + std::to_string(c.pad) + " Tr=" + std::to_string(c.Tr) + " " + activation_name(c.act) +
         (c.with_bias ? "" : " no bias");
}

void check_conv(Context& ctx, const ConvCase& c, std::mt19937& rng) {
  const std::string label = conv_label(c);
  backend::ConvShape s{c.B, c.T, c.C, c.O, c.K, c.dilation, c.pad, 0, c.Tr};
  s.To = s.T + s.pad - (s.K - 1) * s.dilation;
  REQUIRE(s.To >= 1);
  REQUIRE(s.Tr <= s.To);
  const Floats x = random_floats(size(s.B * s.T * s.C), rng), W = random_floats(size(s.O * s.C * s.K), rng, 0.5f);
  const Floats bias = c.with_bias ? random_floats(size(s.O), rng) : Floats{};
  const Floats residual = s.Tr ? random_floats(size(s.B * s.Tr * s.O), rng) : Floats{};
  const Floats d_y = random_floats(size(s.B * s.To * s.O), rng);
  const Floats d_x0 = random_floats(x.size(), rng), d_W0 = random_floats(W.size(), rng);
  const Floats d_b0 = c.with_bias ? random_floats(bias.size(), rng) : Floats{};
  const Floats d_r0 = random_floats(residual.size(), rng);

  cpu::CpuBackend& cpu = cpu::backend();
  Floats y(d_y.size()), acts(d_y.size()), d_x = d_x0, d_W = d_W0, d_b = d_b0, d_r = d_r0;
  Arena host(limelight::Device::cpu);
  BackendPayload host_payload;
  cpu.causal_conv_forward(s, c.act, x.data(), W.data(), c.with_bias ? bias.data() : nullptr,
                          s.Tr ? residual.data() : nullptr, y.data(), acts.data(), host, &host_payload);
  cpu.causal_conv_backward(s, c.act, d_y.data(), acts.data(), d_x.data(), d_W.data(),
                           c.with_bias ? d_b.data() : nullptr, s.Tr ? d_r.data() : nullptr, host, host_payload);

  DeviceCopies dev(ctx);
  Arena scratch(limelight::Device::cuda);
  BackendPayload payload;
  float* gy = dev.up(Floats(y.size(), 7.0f));
  float* ga = dev.up(Floats(y.size(), 7.0f));
  float *gx = dev.up(d_x0), *gW = dev.up(d_W0), *gb = dev.up(d_b0), *gr = dev.up(d_r0);
  causal_conv_forward(ctx, s, c.act, dev.up(x), dev.up(W), dev.up(bias), dev.up(residual), gy, ga, scratch,
                      &payload);
  causal_conv_backward(ctx, s, c.act, dev.up(d_y), ga, gx, gW, gb, gr, scratch, payload);
  check_close(label + ": y", dev.down(gy, y.size()), y, rtol, atol);
  check_close(label + ": activations", dev.down(ga, acts.size()), acts, rtol, atol);
  check_close(label + ": d_x", dev.down(gx, d_x.size()), d_x, rtol, atol);
  check_close(label + ": d_weight", dev.down(gW, d_W.size()), d_W, rtol, atol);
  if (c.with_bias) check_close(label + ": d_bias", dev.down(gb, d_b.size()), d_b, rtol, atol);
  if (s.Tr) check_close(label + ": d_residual", dev.down(gr, d_r.size()), d_r, rtol, atol);
}

// ---------------------------------------------------------------- LSTM

// An LSTM's outputs and gradients pass through T steps of the recurrence,
// and the CPU's polynomial activations are evaluated with FMA contraction
// there and without it in the emulator's kernels: a few more roundings
// per step than a single dot product.
constexpr double lstm_rtol = 2e-5, lstm_atol = 2e-5;

struct LstmData {
  std::int64_t B, T, D, H;
  Floats x, W_ih, W_hh, b_ih, b_hh, d_out, d_x0, d_Wih0, d_Whh0, d_bih0, d_bhh0;
  LstmData(std::int64_t B_, std::int64_t T_, std::int64_t D_, std::int64_t H_, std::mt19937& rng)
      : B(B_), T(T_), D(D_), H(H_) {
    const std::int64_t G = 4 * H;
    // PyTorch's initialisation scale, U(-1/sqrt(H), 1/sqrt(H)), in spread.
    const float w = 1.0f / std::sqrt(static_cast<float>(H));
    x = random_floats(size(B * T * D), rng);
    W_ih = random_floats(size(G * D), rng, w);
    W_hh = random_floats(size(G * H), rng, w);
    b_ih = random_floats(size(G), rng, w);
    b_hh = random_floats(size(G), rng, w);
    d_out = random_floats(size(B * T * H), rng);
    d_x0 = random_floats(x.size(), rng);
    d_Wih0 = random_floats(W_ih.size(), rng);
    d_Whh0 = random_floats(W_hh.size(), rng);
    d_bih0 = random_floats(b_ih.size(), rng);
    d_bhh0 = random_floats(b_hh.size(), rng);
  }
  std::string label() const {
    return "lstm B=" + std::to_string(B) + " T=" + std::to_string(T) + " D=" + std::to_string(D) +
           " H=" + std::to_string(H);
  }
};

struct LstmResult {
  Floats out, d_x, d_Wih, d_Whh, d_bih, d_bhh;
};

LstmResult lstm_on_cpu(const LstmData& d) {
  LstmResult r{Floats(d.d_out.size()), d.d_x0, d.d_Wih0, d.d_Whh0, d.d_bih0, d.d_bhh0};
  cpu::CpuBackend& cpu = cpu::backend();
  Arena host(limelight::Device::cpu);
  BackendPayload payload;
  cpu.lstm_forward(d.x.data(), d.W_ih.data(), d.W_hh.data(), d.b_ih.data(), d.b_hh.data(), d.B, d.T, d.D, d.H,
                   r.out.data(), host, &payload);
  cpu.lstm_backward(d.d_out.data(), d.W_ih.data(), d.W_hh.data(), d.B, d.T, d.D, d.H, r.d_x.data(), r.d_Wih.data(),
                    r.d_Whh.data(), r.d_bih.data(), r.d_bhh.data(), host, payload);
  return r;
}

LstmResult lstm_on_gpu(Context& ctx, const LstmData& d) {
  DeviceCopies dev(ctx);
  Arena scratch(limelight::Device::cuda);
  BackendPayload payload;
  float* out = dev.up(Floats(d.d_out.size(), 7.0f));
  float *gx = dev.up(d.d_x0), *gWih = dev.up(d.d_Wih0), *gWhh = dev.up(d.d_Whh0), *gbih = dev.up(d.d_bih0),
        *gbhh = dev.up(d.d_bhh0);
  float *W_ih = dev.up(d.W_ih), *W_hh = dev.up(d.W_hh);
  lstm_forward(ctx, dev.up(d.x), W_ih, W_hh, dev.up(d.b_ih), dev.up(d.b_hh), d.B, d.T, d.D, d.H, out, scratch,
               &payload);
  lstm_backward(ctx, dev.up(d.d_out), W_ih, W_hh, d.B, d.T, d.D, d.H, gx, gWih, gWhh, gbih, gbhh, scratch, payload);
  return LstmResult{dev.down(out, d.d_out.size()), dev.down(gx, d.d_x0.size()), dev.down(gWih, d.d_Wih0.size()),
                    dev.down(gWhh, d.d_Whh0.size()), dev.down(gbih, d.d_bih0.size()),
                    dev.down(gbhh, d.d_bhh0.size())};
}

void check_lstm(Context& ctx, std::int64_t B, std::int64_t T, std::int64_t D, std::int64_t H, std::mt19937& rng) {
  const LstmData d(B, T, D, H, rng);
  const LstmResult want = lstm_on_cpu(d), got = lstm_on_gpu(ctx, d);
  const std::string label = d.label();
  check_close(label + ": out", got.out, want.out, lstm_rtol, lstm_atol);
  check_close(label + ": d_x", got.d_x, want.d_x, lstm_rtol, lstm_atol);
  check_close(label + ": d_weight_ih", got.d_Wih, want.d_Wih, lstm_rtol, lstm_atol);
  check_close(label + ": d_weight_hh", got.d_Whh, want.d_Whh, lstm_rtol, lstm_atol);
  check_close(label + ": d_bias_ih", got.d_bih, want.d_bih, lstm_rtol, lstm_atol);
  check_close(label + ": d_bias_hh", got.d_bhh, want.d_bhh, lstm_rtol, lstm_atol);
}

// Sets an environment variable for the scope, restoring the old value.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (had_)
      ::setenv(name_, old_.c_str(), 1);
    else
      ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

}  // namespace

GPU_TEST_CASE("gpu layers: linear forward and backward, with and without bias") {
  gpu_test::install_device_allocator();
  Context ctx;
  std::mt19937 rng(11);
  // Rows of 1, rows not a multiple of any block, columns beyond one 32-column
  // tile, and more rows than one chunk of the bias column sum (1024).
  for (bool bias : {true, false}) {
    check_linear(ctx, 1, 5, 3, bias, rng);
    check_linear(ctx, 37, 7, 13, bias, rng);
    check_linear(ctx, 300, 9, 41, bias, rng);
  }
  check_linear(ctx, 2600, 3, 3, true, rng);
}

GPU_TEST_CASE("gpu layers: causal convolution, every width, dilation, activation, with and without residual") {
  gpu_test::install_device_allocator();
  Context ctx;
  std::mt19937 rng(12);
  const ops::Activation acts[] = {ops::Activation::none, ops::Activation::tanh, ops::Activation::relu};
  const std::int64_t dilations[] = {1, 2, 4};
  // Case i takes (width, dilation) pair i % 9 and (activation, residual)
  // pair i % 6: 18 cases hold every (width, dilation) twice and every
  // (activation, residual) three times.
  for (int i = 0; i < 18; ++i) {
    const std::int64_t K = 1 + (i % 9) / 3, dilation = dilations[i % 3];
    const ops::Activation act = acts[(i % 6) / 2];
    const bool residual = i % 2 == 1;
    // T = 5 is shorter than the receptive field (K-1)*dilation + 1 for the wider cases.
    const std::int64_t pad = (K - 1) * dilation;
    check_conv(ctx, ConvCase{2, 5, 3, 4, K, dilation, pad, residual ? 5 : 0, act, true}, rng);
  }
  // A residual shorter than the output, no bias, one sequence.
  check_conv(ctx, ConvCase{1, 6, 2, 3, 2, 2, 2, 3, ops::Activation::tanh, false}, rng);
  // conv1d's form: no padding, so the output is shorter than the input.
  check_conv(ctx, ConvCase{3, 9, 4, 5, 3, 2, 0, 0, ops::Activation::none, true}, rng);
  // Padding short of causal: some taps read before the start, output shorter.
  check_conv(ctx, ConvCase{2, 7, 3, 2, 3, 1, 1, 2, ops::Activation::relu, true}, rng);
}

GPU_TEST_CASE("gpu layers: the hand-written LSTM against the CPU, forward and backward") {
  gpu_test::install_device_allocator();
  Context ctx;
  std::mt19937 rng(13);
  check_lstm(ctx, 1, 1, 3, 5, rng);     // T = 1: no recurrence
  check_lstm(ctx, 3, 4, 6, 13, rng);    // H not a multiple of 32
  check_lstm(ctx, 2, 5, 4, 16, rng);    // the 16-wide register kernel, exactly full
  check_lstm(ctx, 10, 6, 5, 33, rng);  // the 64-wide register kernel, several blocks, a partial tile
  check_lstm(ctx, 4, 3, 7, 32, rng);
  check_lstm(ctx, 3, 3, 4, 70, rng);    // beyond the register kernels: W_hh from global memory
}

GPU_TEST_CASE("gpu layers: the same inputs give the same bits") {
  gpu_test::install_device_allocator();
  Context ctx;
  std::mt19937 rng(14);
  const LstmData d(5, 4, 3, 9, rng);
  const LstmResult a = lstm_on_gpu(ctx, d), b = lstm_on_gpu(ctx, d);
  auto same = [](const Floats& p, const Floats& q) {
    return p.size() == q.size() && std::memcmp(p.data(), q.data(), p.size() * sizeof(float)) == 0;
  };
  CHECK(same(a.out, b.out));
  CHECK(same(a.d_x, b.d_x));
  CHECK(same(a.d_Wih, b.d_Wih));
  CHECK(same(a.d_Whh, b.d_Whh));
  CHECK(same(a.d_bih, b.d_bih));
  CHECK(same(a.d_bhh, b.d_bhh));
}

GPU_TEST_CASE("gpu layers: LSTM path selection and limits are clear errors") {
  gpu_test::install_device_allocator();
  Context ctx;
  Arena scratch(limelight::Device::cuda);
  {
    ScopedEnv env("LIMELIGHT_CUDA_LSTM", "fast");
    CHECK_THROWS_WITH_AS(lstm_path(), doctest::Contains("LIMELIGHT_CUDA_LSTM=fast: expected \"kernel\""), Error);
  }
  {
    ScopedEnv env("LIMELIGHT_CUDA_LSTM", "kernel");
    CHECK(lstm_path() == LstmPath::kernel);
  }
#if LIMELIGHT_CUDA_EMULATED
  {
    ScopedEnv env("LIMELIGHT_CUDA_LSTM", "cudnn");
    CHECK_THROWS_WITH_AS(lstm_path(), doctest::Contains("emulator build"), Error);
  }
#endif
  // Checked before anything is read or allocated.
  const std::int64_t H = kernels::lstm_max_hidden + 1;
  CHECK_THROWS_WITH_AS(lstm_forward(ctx, nullptr, nullptr, nullptr, nullptr, nullptr, 2, 3, 4, H, nullptr, scratch,
                                    nullptr),
                       doctest::Contains("hidden size H=1025 exceeds the 1024"), Error);
  CHECK_THROWS_WITH_AS(lstm_forward(ctx, nullptr, nullptr, nullptr, nullptr, nullptr, 2, 3, 4, 8, nullptr, scratch,
                                    nullptr),
                       doctest::Contains("both biases are required"), Error);
  Arena host(limelight::Device::cpu);
  CHECK_THROWS_WITH_AS(linear_backward(ctx, nullptr, nullptr, nullptr, 2, 3, 4, nullptr, nullptr, nullptr, host),
                       doctest::Contains("scratch must be a cuda arena"), Error);
}
