// Gradient checks in double precision. For every case of the list, the
// tape's float32 forward is compared with the case's double reference, and
// the tape's analytic gradients of a fixed random weighting of the output
// with central differences of the double reference (step 1e-6). The finite
// differences are then accurate to ~1e-9 (truncation ~eps^2 = 1e-12, rounding
// ~1e-16 / eps = 1e-10 of the loss), so what remains is float32's own error
// in the analytic gradient; the tolerances below are what float32 explains,
// so an error of 1e-3 in a gradient fails (the float32 check in
// test_gradcheck.cpp lets 1% pass).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "case_runner.hpp"

using namespace limelight;
using op_cases::all_cases;
using op_cases::Case;
using op_cases::run_on_tape;
using op_cases::TapeRun;
using op_cases::Values;

namespace {

// Forward: float32 evaluation of the same formula over sums of at most ~100
// terms (and polynomial exp/tanh of a few ulp) stays within ~100 * 2^-24 =
// 6e-6 of the magnitudes involved, which the output's largest value bounds.
constexpr double forward_atol = 1e-5;  // times the output's largest |value|
constexpr double forward_rtol = 1e-5;
// Gradients: the analytic gradient is float32 arithmetic over the float32
// forward's values (sigmoids, softmax weights, LSTM states, each ~1e-6
// relative off) and sums of up to ~100 products, so a few 1e-6 of the
// gradient's scale, and 1e-4 relative where products of such factors
// compound (the LSTM through time, the mixture head's softmax).
constexpr double gradient_atol = 1e-5;  // times the input's largest |numeric gradient|
constexpr double gradient_rtol = 1e-4;
constexpr double fd_step = 1e-6;

struct Summary {
  std::size_t cases = 0, forward_values = 0, gradient_elements = 0, exact_zero = 0, kinks_skipped = 0;
  double worst_forward = 0.0, worst_gradient = 0.0;  // as a fraction of the allowed error
};

std::vector<Values> as_double(const Case& c) {
  std::vector<Values> x;
  for (const Tensor& t : c.inputs) {
    const std::vector<float> v = t.to_vector();
    x.emplace_back(v.begin(), v.end());
  }
  return x;
}

double weighted(const Values& y, const std::vector<float>& w) {
  double s = 0.0;
  for (std::size_t i = 0; i < y.size(); ++i) s += y[i] * w[i];
  return s;
}

void check_case(const Case& c, Summary& summary) {
  INFO("case: ", c.name);
  const TapeRun run = run_on_tape(c, Device::cpu);
  std::vector<Values> x = as_double(c);

  const Values expected = c.reference(x);
  REQUIRE_MESSAGE(expected.size() == run.output.size(), c.name, ": the reference has ", expected.size(),
                  " outputs, the tape ", run.output.size());
  double scale = 0.0;
  for (double v : expected) scale = std::max(scale, std::fabs(v));
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const double allowed = forward_atol * scale + forward_rtol * std::fabs(expected[i]);
    const double diff = std::fabs(run.output[i] - expected[i]);
    if (allowed > 0.0) summary.worst_forward = std::max(summary.worst_forward, diff / allowed);
    if (diff > allowed) FAIL(c.name, ": output [", i, "] ", run.output[i], ", the double reference ", expected[i]);
    ++summary.forward_values;
  }

  const std::vector<float> w = op_cases::output_weights(c.name, static_cast<std::int64_t>(expected.size()));
  for (std::size_t k = 0; k < x.size(); ++k) {
    const std::int64_t n = static_cast<std::int64_t>(x[k].size());
    std::vector<bool> exact_zero(x[k].size(), false), skip(x[k].size(), false);
    for (const auto& z : c.zero_gradient)
      if (z.input == k)
        for (std::int64_t i = z.begin; i < z.begin + z.count; ++i) exact_zero[static_cast<std::size_t>(i)] = true;
    std::vector<double> numeric(x[k].size(), 0.0);
    double grad_scale = 0.0;
    for (std::int64_t i = 0; i < n; ++i) {
      const auto u = static_cast<std::size_t>(i);
      skip[u] = exact_zero[u] || (c.at_kink && c.at_kink(k, i));
      if (skip[u]) continue;
      const double keep = x[k][u];
      x[k][u] = keep + fd_step;
      const double up = weighted(c.reference(x), w);
      x[k][u] = keep - fd_step;
      const double down = weighted(c.reference(x), w);
      x[k][u] = keep;
      numeric[u] = (up - down) / (2.0 * fd_step);
      grad_scale = std::max(grad_scale, std::fabs(numeric[u]));
    }
    for (std::int64_t i = 0; i < n; ++i) {
      const auto u = static_cast<std::size_t>(i);
      const double analytic = run.gradients[k][u];
      if (exact_zero[u]) {
        if (analytic != 0.0) FAIL(c.name, ": d input ", k, " [", i, "] is padding yet got gradient ", analytic);
        ++summary.exact_zero;
        continue;
      }
      if (skip[u]) {
        ++summary.kinks_skipped;
        continue;
      }
      const double allowed = gradient_atol * grad_scale + gradient_rtol * std::fabs(numeric[u]);
      const double diff = std::fabs(analytic - numeric[u]);
      if (allowed > 0.0) summary.worst_gradient = std::max(summary.worst_gradient, diff / allowed);
      if (diff > allowed || (allowed == 0.0 && analytic != 0.0))
        FAIL(c.name, ": d input ", k, " [", i, "] analytic ", analytic, ", finite difference of the double reference ",
             numeric[u], " (difference ", diff, ", allowed ", allowed, ")");
      ++summary.gradient_elements;
    }
  }
  ++summary.cases;
}

void report(const std::string& what, const Summary& s) {
  MESSAGE(what, ": ", s.cases, " cases, ", s.forward_values, " forward values, ", s.gradient_elements,
          " gradient elements by finite differences, ", s.exact_zero, " padding elements exactly zero, ",
          s.kinks_skipped, " at kinks skipped; worst forward error ", s.worst_forward, " and worst gradient error ",
          s.worst_gradient, " of the allowed");
}

bool is_loss(const Case& c) { return c.family == "sequence_loss" || c.family == "pooled_sequence_loss"; }

const Case& case_named(const std::string& name) {
  for (const Case& c : all_cases())
    if (c.name == name) return c;
  FAIL("no case named ", name);
  throw;  // unreachable: FAIL throws
}

}  // namespace

TEST_CASE("gradcheck in double: every op's forward and gradients against its double reference") {
  Summary s;
  for (const Case& c : all_cases())
    if (!is_loss(c)) check_case(c, s);
  CHECK(s.cases >= 100);
  report("ops", s);
}

TEST_CASE("gradcheck in double: sequence_loss, every loss kind with dot and mixture heads, away from kinks") {
  Summary s;
  bool kinds[4] = {}, heads[2] = {};
  for (const Case& c : all_cases()) {
    if (!is_loss(c)) continue;
    INFO("case: ", c.name);
    const op_cases::LossScores scores = c.loss_scores(as_double(c));
    REQUIRE(!scores.positive.empty());
    const bool hinge = c.loss_kind == ops::LossKind::hinge || c.loss_kind == ops::LossKind::adaptive_hinge;
    int active = 0;
    for (std::size_t r = 0; r < scores.positive.size(); ++r) {
      std::vector<double> negs = scores.negatives[r];
      std::sort(negs.rbegin(), negs.rend());
      // A finite difference of step 1e-6 moves a score by ~1e-6: the test
      // points keep 1e-3 from the hinge's kink and from a change of the
      // adaptive maximum (an exact tie is the same item twice, harmless).
      if (hinge) {
        const double margin = negs[0] - scores.positive[r] + 1.0;
        REQUIRE_MESSAGE(std::fabs(margin) > 1e-3, "position ", r, " sits on the hinge's kink: ", margin);
        active += margin > 0.0;
      }
      if (negs.size() > 1)
        REQUIRE_MESSAGE((negs[0] == negs[1] || negs[0] - negs[1] > 1e-3), "position ", r,
                        ": two negatives nearly tie for the maximum");
    }
    if (hinge) REQUIRE_MESSAGE(active > 0, "the hinge is inactive everywhere: the case checks no gradient");
    kinds[static_cast<int>(c.loss_kind)] = true;
    heads[c.name.find("mixture") != std::string::npos] = true;
    check_case(c, s);
  }
  for (bool k : kinds) CHECK(k);
  CHECK(heads[0]);
  CHECK(heads[1]);
  report("sequence_loss", s);
}

// The one place a finite difference cannot look: a zero (padding) entry of
// running_pool's input, whose count is a step function of it. Its gradient is
// that of the formula with the counts held, as the reference's autograd gives:
// d x[s] = sum_{u > s} d state[u] / (n_u + 1).
TEST_CASE("gradcheck in double: running_pool's padding entries get the gradient with counts held") {
  const Case& c = case_named("running_pool (3, 4, 2) with padding rows");
  const TapeRun run = run_on_tape(c, Device::cpu);
  const Tensor& x = c.inputs[0];
  const std::int64_t B = x.dim(0), T = x.dim(1), D = x.dim(2);
  const std::vector<float> w = op_cases::output_weights(c.name, B * (T + 1) * D);
  const float* v = x.f32();
  int zeros = 0;
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t d = 0; d < D; ++d) {
      std::vector<double> count(static_cast<std::size_t>(T + 1), 0.0);  // non-zero entries among x[0..u-1]
      for (std::int64_t u = 1; u <= T; ++u)
        count[static_cast<std::size_t>(u)] = count[static_cast<std::size_t>(u - 1)] + (v[(b * T + u - 1) * D + d] != 0.0f);
      for (std::int64_t s = 0; s < T; ++s) {
        if (v[(b * T + s) * D + d] != 0.0f) continue;
        double expected = 0.0;
        for (std::int64_t u = s + 1; u <= T; ++u)
          expected += w[static_cast<std::size_t>((b * (T + 1) + u) * D + d)] / (count[static_cast<std::size_t>(u)] + 1.0);
        const double got = run.gradients[0][static_cast<std::size_t>((b * T + s) * D + d)];
        // a sum of at most T = 4 quotients in float32: a few ulp
        CHECK_MESSAGE(std::fabs(got - expected) <= 1e-6 * (1.0 + std::fabs(expected)), "padding entry (", b, ", ", s,
                      ", ", d, "): ", got, " vs ", expected);
        ++zeros;
      }
    }
  CHECK(zeros == 13);  // row 1's first two steps, all of row 2, one component of row 0
}

// At a tie a finite difference is one-sided; the rule is PyTorch's max over a
// stacked dimension: the lowest index alone receives the gradient.
TEST_CASE("gradcheck in double: maximum's ties send the gradient to the lowest index alone") {
  const Case& c = case_named("maximum with ties (2, 3)");
  const TapeRun run = run_on_tape(c, Device::cpu);
  const std::vector<float> w = op_cases::output_weights(c.name, 6);
  struct Tie {
    int element, winner;
  };
  for (Tie t : {Tie{0, 0}, Tie{2, 0}, Tie{4, 1}}) {
    for (int k = 0; k < 3; ++k) {
      CAPTURE(t.element);
      CAPTURE(k);
      CHECK(run.gradients[static_cast<std::size_t>(k)][static_cast<std::size_t>(t.element)] ==
            (k == t.winner ? w[static_cast<std::size_t>(t.element)] : 0.0f));
    }
  }
}
