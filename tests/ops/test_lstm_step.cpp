// The LSTM's AVX2 step kernel against the OpenBLAS path it replaces, forward
// and backward, at hidden sizes the kernel takes (multiples of 8 up to 64)
// and with one and two batch chunks.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.hpp"

using namespace limelight;

namespace {

struct Result {
  std::vector<float> out, d_x, d_wih, d_whh, d_bih, d_bhh;
};

Result run(std::int64_t B, std::int64_t T, std::int64_t D, std::int64_t H, int threads, bool portable) {
  const std::int64_t G = 4 * H;
  std::mt19937 gen(static_cast<unsigned>(B * 1000 + T * 100 + D * 10 + H));
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  auto draw = [&](std::int64_t n, float scale) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (float& x : v) x = scale * u(gen);
    return v;
  };
  const std::vector<float> x = draw(B * T * D, 1.0f), wih = draw(G * D, 0.5f), whh = draw(G * H, 0.5f),
                           bih = draw(G, 0.5f), bhh = draw(G, 0.5f), d_out = draw(B * T * H, 1.0f);
  cpu::CpuBackend& be = cpu::backend();
  be.set_threads(threads);
  cpu::force_portable_lstm_step(portable);
  Result r;
  r.out.assign(static_cast<std::size_t>(B * T * H), 0.0f);
  r.d_x.assign(x.size(), 0.0f);
  r.d_wih.assign(wih.size(), 0.0f);
  r.d_whh.assign(whh.size(), 0.0f);
  r.d_bih.assign(bih.size(), 0.0f);
  r.d_bhh.assign(bhh.size(), 0.0f);
  Arena arena;
  BackendPayload payload;
  be.lstm_forward(x.data(), wih.data(), whh.data(), bih.data(), bhh.data(), B, T, D, H, r.out.data(), arena,
                  &payload);
  be.lstm_backward(d_out.data(), wih.data(), whh.data(), B, T, D, H, r.d_x.data(), r.d_wih.data(), r.d_whh.data(),
                   r.d_bih.data(), r.d_bhh.data(), arena, payload);
  cpu::force_portable_lstm_step(false);
  be.set_threads(0);
  return r;
}

// Largest |a - b| / (|b| + max |b|) over the tensor.
double worst(const std::vector<float>& got, const std::vector<float>& want) {
  REQUIRE(got.size() == want.size());
  double scale = 0.0, w = 0.0;
  for (float v : want) scale = std::max(scale, static_cast<double>(std::fabs(v)));
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double bound = std::fabs(want[i]) + scale;
    if (bound > 0.0) w = std::max(w, std::fabs(static_cast<double>(got[i]) - want[i]) / bound);
  }
  return w;
}

}  // namespace

TEST_CASE("lstm: the AVX2 step kernel gives the OpenBLAS path's results") {
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  cpu::force_portable_lstm_step(true);
  CHECK(std::string(cpu::lstm_step_kernel(32)) == "portable");
  cpu::force_portable_lstm_step(false);
  CHECK(std::string(cpu::lstm_step_kernel(32)) == (avx2 ? "avx2" : "portable"));
  CHECK(std::string(cpu::lstm_step_kernel(12)) == "portable");
  CHECK(std::string(cpu::lstm_step_kernel(128)) == "portable");
  struct Shape4 {
    std::int64_t B, T, D, H;
  };
  // Row counts that leave every remainder of the kernel's 3-row blocks and
  // 12-row groups; H = 24 and 40 take the backward's partial column blocks.
  const Shape4 shapes[] = {{7, 5, 3, 8}, {13, 6, 4, 32}, {5, 4, 2, 24}, {26, 3, 5, 64}, {4, 3, 2, 16}, {11, 4, 3, 40}};
  for (const Shape4& s : shapes)
    for (int threads : {1, 2}) {
      CAPTURE(s.B);
      CAPTURE(s.H);
      CAPTURE(threads);
      const Result want = run(s.B, s.T, s.D, s.H, threads, true);
      const Result got = run(s.B, s.T, s.D, s.H, threads, false);
      // The kernel sums each product's terms in the order OpenBLAS does, with
      // FMAs; OpenBLAS's kernel groups some sums differently, so results
      // differ in the last bits (2e-7 of the tensor's magnitude seen, about 3
      // ulp). 2e-6 allows ten times that at these short windows and stays
      // far below any real error (a wrong term is of order 1e-2 here).
      const double tol = 2e-6;
      const std::pair<const char*, double> diffs[] = {
          {"out", worst(got.out, want.out)},       {"d_x", worst(got.d_x, want.d_x)},
          {"d_wih", worst(got.d_wih, want.d_wih)}, {"d_whh", worst(got.d_whh, want.d_whh)},
          {"d_bih", worst(got.d_bih, want.d_bih)}, {"d_bhh", worst(got.d_bhh, want.d_bhh)}};
      for (const auto& [name, d] : diffs) {
        CAPTURE(name);
        CHECK(d <= tol);
      }
    }
}
