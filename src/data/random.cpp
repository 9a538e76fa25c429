// The out-of-line parts of Rng (include/limelight/random.hpp): seeding,
// bounded integers, normal and gamma variates, and stream forking. The
// integer stream is bit-identical everywhere; normal and gamma use only sqrt
// (exact) and log/pow, so they can differ across libms in the last ulp at most.
#include "limelight/random.hpp"

#include <cmath>

#include "limelight/error.hpp"

namespace limelight {

namespace {

std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// High and low 64 bits of a 64x64-bit product, portable where __int128 is missing.
void mul_64x64(std::uint64_t a, std::uint64_t b, std::uint64_t& hi, std::uint64_t& lo) {
#if defined(__SIZEOF_INT128__)
  const unsigned __int128 m = static_cast<unsigned __int128>(a) * b;
  hi = static_cast<std::uint64_t>(m >> 64);
  lo = static_cast<std::uint64_t>(m);
#else
  const std::uint64_t a_lo = a & 0xffffffffULL, a_hi = a >> 32;
  const std::uint64_t b_lo = b & 0xffffffffULL, b_hi = b >> 32;
  const std::uint64_t p0 = a_lo * b_lo, p1 = a_lo * b_hi, p2 = a_hi * b_lo, p3 = a_hi * b_hi;
  const std::uint64_t mid = (p0 >> 32) + (p1 & 0xffffffffULL) + (p2 & 0xffffffffULL);
  hi = p3 + (p1 >> 32) + (p2 >> 32) + (mid >> 32);
  lo = (mid << 32) | (p0 & 0xffffffffULL);
#endif
}

}  // namespace

Rng::Rng(std::uint64_t seed) {
  for (auto& s : s_) s = splitmix64(seed);
}

Rng::Rng(FromState, std::uint64_t s0, std::uint64_t s1, std::uint64_t s2, std::uint64_t s3)
    : s_{s0, s1, s2, s3} {
  // The all-zero state is xoshiro's one fixed point.
  if ((s0 | s1 | s2 | s3) == 0) s_[0] = 0x9e3779b97f4a7c15ULL;
}

std::int64_t Rng::uniform_int(std::int64_t n) {
  LL_CHECK(n > 0, "Rng::uniform_int: n must be positive, got ", n);
  const auto range = static_cast<std::uint64_t>(n);
  std::uint64_t hi, lo;
  mul_64x64(next_u64(), range, hi, lo);
  if (lo < range) {
    const std::uint64_t threshold = (0 - range) % range;
    while (lo < threshold) mul_64x64(next_u64(), range, hi, lo);
  }
  return static_cast<std::int64_t>(hi);
}

void Rng::fill_uniform_int(std::int32_t* out, std::int64_t count, std::int64_t n) {
  LL_CHECK(n > 0 && n <= (std::int64_t{1} << 31), "Rng::fill_uniform_int: n must be in [1, 2^31], got ", n);
  // uniform_int's draws with the state in a local, so that it stays in
  // registers: fit draws a batch's negatives (B x L of them) this way.
  Rng local = *this;
  const auto range = static_cast<std::uint64_t>(n);
  const std::uint64_t threshold = (0 - range) % range;
  for (std::int64_t i = 0; i < count; ++i) {
    std::uint64_t hi, lo;
    mul_64x64(local.next_u64(), range, hi, lo);
    while (lo < threshold) mul_64x64(local.next_u64(), range, hi, lo);
    out[i] = static_cast<std::int32_t>(hi);
  }
  *this = local;
}

double Rng::normal() {
  for (;;) {
    const double u = 2.0 * uniform() - 1.0;
    const double v = 2.0 * uniform() - 1.0;
    const double s = u * u + v * v;
    if (s > 0.0 && s < 1.0) return u * std::sqrt(-2.0 * std::log(s) / s);
  }
}

double Rng::gamma(double shape) {
  LL_CHECK(std::isfinite(shape) && shape > 0.0, "Rng::gamma: shape must be positive and finite, got ",
           shape);
  if (shape < 1.0) {
    // 1 - uniform() is in (0, 1], so the power never takes the log of 0.
    const double boost = std::pow(1.0 - uniform(), 1.0 / shape);
    return gamma(shape + 1.0) * boost;
  }
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x, v;
    do {
      x = normal();
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    const double u = uniform();
    const double x2 = x * x;
    if (u < 1.0 - 0.0331 * x2 * x2) return d * v;
    if (u > 0.0 && std::log(u) < 0.5 * x2 + d * (1.0 - v + std::log(v))) return d * v;
  }
}

Rng Rng::fork(std::uint64_t stream) const {
  // Each word of the child mixes one parent word with a per-word hash of the
  // stream id, so children of different streams (and the parent) do not overlap.
  std::uint64_t key = stream ^ 0x6a09e667f3bcc909ULL;
  std::uint64_t words[4];
  for (int i = 0; i < 4; ++i) {
    std::uint64_t mixed = s_[i] ^ splitmix64(key);
    words[i] = splitmix64(mixed);
  }
  return Rng(FromState{}, words[0], words[1], words[2], words[3]);
}

}  // namespace limelight
