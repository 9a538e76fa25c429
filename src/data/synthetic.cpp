// The synthetic sequential dataset (docs/models.md, "Synthetic data"), after
// Spotlight's generate_sequential: a Markov chain of order `order` over
// num_items-1 states whose transition rows are Dirichlet draws, pushed towards
// doubly stochastic by alternate column/row normalisation. Low concentration
// gives nearly deterministic transitions, high concentration nearly uniform ones.
#include <algorithm>
#include <cmath>
#include <limits>

#include "limelight/data.hpp"
#include "limelight/error.hpp"
#include "limelight/random.hpp"

namespace limelight {

namespace {

constexpr std::int32_t kMaxStates = 16384;

// log of a Gamma(shape) draw. Small shapes underflow in linear space (U^(1/a)
// with a = 0.001), so the boost is applied as a logarithm; the draws are the
// same as Rng::gamma's.
double log_gamma_draw(Rng& rng, double shape) {
  if (shape >= 1.0) return std::log(rng.gamma(shape));
  const double log_boost = std::log(1.0 - rng.uniform()) / shape;
  return std::log(rng.gamma(shape + 1.0)) + log_boost;
}

bool is_doubly_stochastic(const std::vector<double>& m, std::size_t n, double atol) {
  std::vector<double> col(n, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    double row = 0.0;
    for (std::size_t j = 0; j < n; ++j) {
      row += m[i * n + j];
      col[j] += m[i * n + j];
    }
    if (!(std::abs(1.0 - row) < atol)) return false;
  }
  for (double c : col)
    if (!(std::abs(1.0 - c) < atol)) return false;
  return true;
}

// Rows from Dirichlet(concentration), then at most 100 rounds of column then
// row normalisation, stopping once every sum is within 1e-3 of 1.
std::vector<double> transition_matrix(std::size_t n, double concentration, Rng& rng) {
  std::vector<double> m(n * n);
  std::vector<double> logs(n);
  for (std::size_t i = 0; i < n; ++i) {
    for (auto& g : logs) g = log_gamma_draw(rng, concentration);
    const double top = *std::max_element(logs.begin(), logs.end());
    double sum = 0.0;
    for (std::size_t j = 0; j < n; ++j) sum += m[i * n + j] = std::exp(logs[j] - top);
    for (std::size_t j = 0; j < n; ++j) m[i * n + j] /= sum;
  }
  std::vector<double> col(n);
  for (int round = 0; round < 100 && !is_doubly_stochastic(m, n, 1e-3); ++round) {
    std::fill(col.begin(), col.end(), 0.0);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j) col[j] += m[i * n + j];
    // A column no row reaches (underflowed to 0) stays 0 rather than NaN.
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j)
        if (col[j] > 0.0) m[i * n + j] /= col[j];
    for (std::size_t i = 0; i < n; ++i) {
      double row = 0.0;
      for (std::size_t j = 0; j < n; ++j) row += m[i * n + j];
      if (row > 0.0)
        for (std::size_t j = 0; j < n; ++j) m[i * n + j] /= row;
    }
  }
  return m;
}

}  // namespace

Interactions generate_sequential(std::int32_t num_users, std::int32_t num_items,
                                 std::int64_t num_interactions, double concentration, int order,
                                 std::uint64_t seed) {
  LL_CHECK(num_users >= 1, "generate_sequential: num_users must be >= 1, got ", num_users);
  LL_CHECK(num_items >= 2 && num_items - 1 <= kMaxStates,
           "generate_sequential: num_items must be in [2, ", kMaxStates + 1,
           "] (item 0 is padding; the transition matrix is (num_items-1)^2 doubles), got ", num_items);
  LL_CHECK(num_interactions >= 1 && num_interactions <= std::numeric_limits<std::int32_t>::max(),
           "generate_sequential: num_interactions must be in [1, 2^31), got ", num_interactions);
  LL_CHECK(std::isfinite(concentration) && concentration > 0.0,
           "generate_sequential: concentration must be positive and finite, got ", concentration);
  LL_CHECK(order >= 1, "generate_sequential: order must be >= 1, got ", order);

  const auto n = static_cast<std::size_t>(num_items - 1);
  const auto count = static_cast<std::size_t>(num_interactions);
  Rng rng(seed);
  std::vector<double> cdf = transition_matrix(n, concentration, rng);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 1; j < n; ++j) cdf[i * n + j] += cdf[i * n + j - 1];

  Interactions out;
  out.num_users = num_users;
  out.num_items = num_items;
  out.user_ids.resize(count);
  for (auto& u : out.user_ids) u = static_cast<std::int32_t>(rng.uniform_int(num_users));
  std::sort(out.user_ids.begin(), out.user_ids.end());

  // Same draw order as the reference: all step uniforms, then the start states.
  std::vector<double> draws(count);
  for (auto& d : draws) d = rng.uniform();
  std::vector<std::size_t> state(static_cast<std::size_t>(order));
  for (auto& s : state) s = static_cast<std::size_t>(rng.uniform_int(static_cast<std::int64_t>(n)));

  // The mean of the last `order` rows' CDFs is non-decreasing in j, so the
  // inverse CDF (first j with cdf >= u) is a binary search over it.
  auto mean_cdf = [&](std::size_t j) {
    double sum = 0.0;
    for (std::size_t s : state) sum += cdf[s * n + j];
    return sum / static_cast<double>(order);
  };
  out.item_ids.resize(count);
  for (std::size_t t = 0; t < count; ++t) {
    std::size_t lo = 0, hi = n;
    while (lo < hi) {
      const std::size_t mid = lo + (hi - lo) / 2;
      if (mean_cdf(mid) < draws[t]) lo = mid + 1;
      else hi = mid;
    }
    const std::size_t next = std::min(lo, n - 1);
    std::rotate(state.begin(), state.begin() + 1, state.end());
    state.back() = next;
    out.item_ids[t] = static_cast<std::int32_t>(next + 1);
  }
  out.timestamps.resize(count);
  for (std::size_t t = 0; t < count; ++t) out.timestamps[t] = static_cast<std::int64_t>(t);
  out.ratings.assign(count, 1.0f);
  return out;
}

}  // namespace limelight
