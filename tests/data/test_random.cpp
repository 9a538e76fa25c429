// Tests of Rng (include/limelight/random.hpp): the exact xoshiro256**/splitmix64
// stream against values from an independent implementation, and the
// distributions' moments and uniformity on fixed seeds.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "limelight/error.hpp"
#include "limelight/random.hpp"

using limelight::Rng;

TEST_CASE("rng: xoshiro256** stream seeded by splitmix64") {
  // From a separate Python implementation of splitmix64 + xoshiro256**.
  Rng a(0);
  CHECK(a.next_u64() == 0x99ec5f36cb75f2b4ULL);
  CHECK(a.next_u64() == 0xbf6e1f784956452aULL);
  CHECK(a.next_u64() == 0x1a5f849d4933e6e0ULL);
  CHECK(a.next_u64() == 0x6aa594f1262d2d2cULL);
  Rng b(42);
  CHECK(b.next_u64() == 0x15780b2e0c2ec716ULL);
  CHECK(b.next_u64() == 0x6104d9866d113a7eULL);
  Rng c(42);
  CHECK(c.next_u32() == 0x15780b2eu);
}

TEST_CASE("rng: uniform_int is Lemire's method") {
  Rng a(7);
  const std::int64_t expected[] = {7, 2, 8, 9, 9, 8, 0, 1};
  for (std::int64_t e : expected) CHECK(a.uniform_int(10) == e);
  Rng b(7);
  CHECK(b.uniform_int(0xffffffffLL) == 3008953078LL);
  CHECK_THROWS_AS(b.uniform_int(0), limelight::Error);
  CHECK_THROWS_WITH_AS(b.uniform_int(-3), doctest::Contains("-3"), limelight::Error);
}

TEST_CASE("rng: fill_uniform_int gives uniform_int's draws and leaves the generator where they would") {
  for (std::int64_t n : {std::int64_t{1}, std::int64_t{7}, std::int64_t{1683}, std::int64_t{10'000'000},
                         std::int64_t{3} << 29}) {
    CAPTURE(n);
    Rng one(99), all(99);
    std::vector<std::int32_t> filled(1000);
    all.fill_uniform_int(filled.data(), 1000, n);
    for (std::int32_t v : filled) CHECK(v == one.uniform_int(n));
    CHECK(all.next_u64() == one.next_u64());
  }
  Rng rng(1);
  std::int32_t x = 0;
  CHECK_THROWS_AS(rng.fill_uniform_int(&x, 1, 0), limelight::Error);
  CHECK_THROWS_AS(rng.fill_uniform_int(&x, 1, (std::int64_t{1} << 31) + 1), limelight::Error);
}

TEST_CASE("rng: uniform ranges and uniformity") {
  Rng rng(1);
  constexpr int kBins = 10, kDraws = 200000;
  std::vector<int> counts(kBins), float_counts(kBins), int_counts(kBins);
  for (int i = 0; i < kDraws; ++i) {
    const double u = rng.uniform();
    const float f = rng.uniform_float();
    REQUIRE(u >= 0.0);
    REQUIRE(u < 1.0);
    REQUIRE(f >= 0.0f);
    REQUIRE(f < 1.0f);
    ++counts[static_cast<int>(u * kBins)];
    ++float_counts[static_cast<int>(f * kBins)];
    ++int_counts[rng.uniform_int(kBins)];
  }
  // Chi-square with 9 degrees of freedom; 33.7 is its 99.99% quantile.
  auto chi2 = [&](const std::vector<int>& c) {
    const double e = static_cast<double>(kDraws) / kBins;
    double s = 0;
    for (int x : c) s += (x - e) * (x - e) / e;
    return s;
  };
  CHECK(chi2(counts) < 33.7);
  CHECK(chi2(float_counts) < 33.7);
  CHECK(chi2(int_counts) < 33.7);
}

TEST_CASE("rng: normal and gamma moments") {
  constexpr int kDraws = 200000;
  Rng rng(3);
  double sum = 0, sum2 = 0;
  for (int i = 0; i < kDraws; ++i) {
    const double x = rng.normal();
    REQUIRE(std::isfinite(x));
    sum += x;
    sum2 += x * x;
  }
  double mean = sum / kDraws, var = sum2 / kDraws - mean * mean;
  // Five standard errors: sd(mean) = 1/sqrt(N), sd(var) = sqrt(2/N).
  CHECK(std::abs(mean) < 5.0 / std::sqrt(kDraws));
  CHECK(std::abs(var - 1.0) < 5.0 * std::sqrt(2.0 / kDraws));

  for (double shape : {0.01, 0.1, 0.5, 1.0, 2.5, 10.0}) {
    CAPTURE(shape);
    sum = sum2 = 0;
    for (int i = 0; i < kDraws; ++i) {
      const double x = rng.gamma(shape);
      REQUIRE(x >= 0.0);
      REQUIRE(std::isfinite(x));
      sum += x;
      sum2 += x * x;
    }
    mean = sum / kDraws;
    var = sum2 / kDraws - mean * mean;
    // Gamma(a): mean a, variance a, excess kurtosis 6/a.
    CHECK(std::abs(mean - shape) < 5.0 * std::sqrt(shape / kDraws));
    CHECK(std::abs(var - shape) < 5.0 * shape * std::sqrt((2.0 + 6.0 / shape) / kDraws));
  }
  CHECK_THROWS_AS(rng.gamma(0.0), limelight::Error);
  CHECK_THROWS_AS(rng.gamma(-1.0), limelight::Error);
  CHECK_THROWS_AS(rng.gamma(std::nan("")), limelight::Error);
}

TEST_CASE("rng: shuffle is a uniform permutation") {
  Rng rng(11);
  std::vector<int> v(100);
  std::iota(v.begin(), v.end(), 0);
  rng.shuffle(v.begin(), v.end());
  std::vector<int> sorted = v;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < 100; ++i) CHECK(sorted[i] == i);
  CHECK(v != sorted);

  // All 6 orders of 3 elements, equally often (chi-square, 5 dof, 99.99%: 25.7).
  constexpr int kDraws = 60000;
  std::vector<int> counts(6);
  for (int i = 0; i < kDraws; ++i) {
    int p[3] = {0, 1, 2};
    rng.shuffle(p, p + 3);
    ++counts[p[0] * 2 + (p[1] > p[2] ? 1 : 0)];
  }
  double chi2 = 0;
  for (int c : counts) chi2 += (c - kDraws / 6.0) * (c - kDraws / 6.0) / (kDraws / 6.0);
  CHECK(chi2 < 25.7);

  std::vector<int> empty;
  rng.shuffle(empty.begin(), empty.end());
  CHECK(empty.empty());
}

TEST_CASE("rng: copies and forks are reproducible") {
  Rng a(5);
  a.next_u64();
  Rng copy = a;
  const double n1 = a.normal(), n2 = copy.normal();
  CHECK(n1 == n2);
  CHECK(a.gamma(0.3) == copy.gamma(0.3));

  const Rng before = a;
  Rng f1 = a.fork(1), f1_again = a.fork(1), f2 = a.fork(2);
  Rng after = a;
  CHECK(before.fork(9).next_u64() == after.fork(9).next_u64());  // fork did not advance a
  CHECK(Rng(before).next_u64() == a.next_u64());
  const std::uint64_t x1 = f1.next_u64();
  CHECK(x1 == f1_again.next_u64());
  CHECK(x1 != f2.next_u64());
  CHECK(x1 != Rng(before).next_u64());
}
