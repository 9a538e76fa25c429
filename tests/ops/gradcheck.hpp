// Finite-difference gradient checking for ops: every input is a parameter;
// the loss is a fixed random weighting of the output (a plain sum would hide
// transposes); each analytic gradient element is compared with a central
// difference of that loss.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "limelight/ops.hpp"
#include "limelight/random.hpp"

namespace gradcheck {

using Builder = std::function<limelight::Var(limelight::Tape&, const std::vector<limelight::Var>&)>;

inline limelight::Tensor random_tensor(const limelight::Shape& shape, limelight::Rng& rng, float scale = 1.0f) {
  limelight::Tensor t = limelight::Tensor::empty(shape);
  for (std::int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = scale * static_cast<float>(rng.normal());
  return t;
}

// Inputs whose leading elements are a padding row: their analytic gradient
// must be exactly zero, whatever the finite difference says.
struct PaddingRow {
  std::size_t input;
  std::int64_t elements;
};

// Returns the largest mismatch found; fails on any element out of tolerance.
inline double check(const std::string& name, std::vector<limelight::Tensor> inputs, const Builder& build,
                    std::vector<PaddingRow> padding = {}, std::uint64_t seed = 1, float eps = 1e-2f,
                    double atol = 2e-3, double rtol = 1e-2) {
  using namespace limelight;
  std::vector<Parameter> params;
  params.reserve(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) params.emplace_back("x" + std::to_string(i), inputs[i]);

  Tensor weights;
  auto loss_of = [&](bool backward) {
    Tape tape;
    std::vector<Var> vars;
    for (auto& p : params) vars.push_back(tape.parameter(p));
    Var out = build(tape, vars);
    const Tensor& y = tape.value(out);
    for (std::int64_t i = 0; i < y.numel(); ++i) REQUIRE_MESSAGE(std::isfinite(y.f32()[i]), name, ": output not finite");
    if (!weights.defined()) {
      Rng rng(seed * 7919 + 13);
      weights = random_tensor(y.shape(), rng);
    }
    double loss = 0.0;
    for (std::int64_t i = 0; i < y.numel(); ++i) loss += static_cast<double>(y.f32()[i]) * weights.f32()[i];
    if (backward) {
      Var w = tape.constant(weights);
      Var l = ops::sum(tape, ops::mul(tape, out, w));
      tape.backward(l);
    }
    return loss;
  };

  for (auto& p : params) p.zero_grad();
  loss_of(true);
  double worst = 0.0;
  for (std::size_t k = 0; k < params.size(); ++k) {
    Tensor analytic = params[k].grad.clone();
    float* x = params[k].value.f32();
    std::int64_t padded = 0;
    for (const PaddingRow& p : padding)
      if (p.input == k) padded = p.elements;
    for (std::int64_t i = 0; i < padded; ++i)
      if (analytic.f32()[i] != 0.0f) FAIL(name << ": padding row of input " << k << " got gradient " << analytic.f32()[i]);
    for (std::int64_t i = padded; i < params[k].value.numel(); ++i) {
      const float keep = x[i];
      x[i] = keep + eps;
      const double up = loss_of(false);
      x[i] = keep - eps;
      const double down = loss_of(false);
      x[i] = keep;
      const double numeric = (up - down) / (2.0 * eps);
      const double a = analytic.f32()[i];
      const double diff = std::fabs(a - numeric);
      worst = std::max(worst, diff);
      if (diff > atol + rtol * std::max(std::fabs(a), std::fabs(numeric))) {
        FAIL(name << ": d/d input " << k << " [" << i << "] analytic " << a << " numeric " << numeric);
      }
    }
  }
  return worst;
}

}  // namespace gradcheck
