// The scalar formulas both backends share (src/backend/scalar_math.hpp) on
// the device against the host: exp, sigmoid, tanh and the three losses at a
// position, over random values, the clamps' edges, zeros, subnormals,
// infinities and NaN. On the emulator (kernels compiled as C++ without FMA
// contraction, as the host here) they are the same bits; nvcc contracts
// products into FMAs, so on a GPU they agree to a few ulp.
#include <bit>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "backend/scalar_math.hpp"
#include "gpu_test.hpp"
#include "kernels/scalar_math.cuh"
#include "limelight_config.h"

using namespace limelight;
using limelight::cuda::Context;
namespace kernels = limelight::cuda::kernels;

GPU_TEST_CASE("gpu math: the shared exp, sigmoid, tanh and losses compute on the device what they compute on the host") {
  std::vector<float> x = {0.0f,       -0.0f,      1e-30f,      -1e-30f,    1e-40f,     -1e-40f,   1.0f,   -1.0f,
                          7.9053111f, -7.9053111f, 8.0f,       -8.0f,      88.3762626f, -87.3365447f, 88.5f, -87.5f,
                          100.0f,     -100.0f,    std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()};
  std::mt19937 rng(29);
  std::uniform_real_distribution<float> wide(-100.0f, 100.0f), narrow(-4.0f, 4.0f);
  for (int i = 0; i < 4000; ++i) x.push_back(i % 2 ? wide(rng) : narrow(rng));
  std::vector<float> y(x.size());
  for (std::size_t i = 0; i < y.size(); ++i) y[i] = narrow(rng);
  const auto n = static_cast<std::int64_t>(x.size());

  Context ctx;
  const cuda::DeviceBuffer dx = ctx.upload(x), dy = ctx.upload(y);
  const cuda::DeviceBuffer dout = ctx.upload(std::vector<float>(x.size() * kernels::probe_values, 0.0f));
  kernels::evaluate_scalar_math(dx.as<float>(), dy.as<float>(), n, dout.as<float>(), ctx.stream());
  const std::vector<float> got = ctx.download<float>(dout, x.size() * kernels::probe_values);

  std::vector<float> want(got.size());
  const ops::LossKind kinds[3] = {ops::LossKind::pointwise, ops::LossKind::bpr, ops::LossKind::hinge};
  for (std::size_t i = 0; i < x.size(); ++i) {
    float* w = want.data() + i * kernels::probe_values;
    w[kernels::probe_exp] = scalar::fast_exp(x[i]);
    w[kernels::probe_sigmoid] = scalar::fast_sigmoid(x[i]);
    w[kernels::probe_tanh] = scalar::fast_tanh(x[i]);
    for (int k = 0; k < 3; ++k) {
      float* l = w + kernels::probe_pointwise + 3 * k;
      scalar::loss_element(kinds[k], x[i], y[i], l[0], l[1], l[2]);
    }
  }
  std::size_t differing = 0, far = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(got[i]) && std::isnan(want[i])) continue;
    if (std::bit_cast<std::uint32_t>(got[i]) == std::bit_cast<std::uint32_t>(want[i])) continue;
    ++differing;
    const float scale = std::max(std::abs(want[i]), std::numeric_limits<float>::min());
    if (!(std::abs(got[i] - want[i]) <= 8 * std::numeric_limits<float>::epsilon() * scale)) {
      if (far++ < 5)
        MESSAGE("input ", i / kernels::probe_values, " (x ", x[i / kernels::probe_values], ") value ",
                i % kernels::probe_values, ": device ", got[i], ", host ", want[i]);
    }
  }
#if LIMELIGHT_CUDA_EMULATED
  CHECK(differing == 0);
#endif
  CHECK(far == 0);
}
