// limelight's random number generator: xoshiro256** seeded by splitmix64,
// with the few distributions the library needs written out by hand so that a
// seed gives the same numbers on every platform and standard library (the
// std:: distributions do not). Everything that draws randomness in limelight
// (initialisation, shuffles, negatives, splits, synthetic data) goes through
// this class.
#pragma once

#include <array>
#include <cstdint>
#include <iterator>
#include <utility>

namespace limelight {

class Rng {  // xoshiro256**, state seeded from the seed by splitmix64
 public:
  explicit Rng(std::uint64_t seed);

  std::uint64_t next_u64() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // The high bits: xoshiro's low bits are its weakest.
  std::uint32_t next_u32() { return static_cast<std::uint32_t>(next_u64() >> 32); }
  // [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  // [0, 1) with 24 random bits.
  float uniform_float() { return static_cast<float>(next_u32() >> 8) * 0x1.0p-24f; }
  // [0, n), exactly uniform (Lemire's multiply-and-reject). Error if n <= 0.
  std::int64_t uniform_int(std::int64_t n);
  // out[i] = uniform_int(n) for i in [0, count): the same draws, one call.
  // Error if n <= 0 or n > 2^31.
  void fill_uniform_int(std::int32_t* out, std::int64_t count, std::int64_t n);
  // Standard normal, Marsaglia's polar method; the second value is discarded
  // so that a copy of the generator continues exactly like the original.
  double normal();
  // Gamma(shape, 1), Marsaglia-Tsang; shape < 1 through Gamma(shape+1)·U^(1/shape).
  // Error if shape <= 0 or not finite.
  double gamma(double shape);

  // Fisher-Yates, from the back, with uniform_int.
  template <class It>
  void shuffle(It first, It last) {
    using Diff = typename std::iterator_traits<It>::difference_type;
    const Diff n = last - first;
    for (Diff i = n - 1; i > 0; --i) {
      const Diff j = static_cast<Diff>(uniform_int(static_cast<std::int64_t>(i) + 1));
      using std::swap;
      swap(first[i], first[j]);
    }
  }

  // An independent generator derived from this one's state and a stream id,
  // without advancing this one: fork(k) is the same for the same state and k.
  Rng fork(std::uint64_t stream) const;

  // The generator's whole state, and a generator continuing from one: saved
  // with a model, it lets a later process resume training draw for draw.
  std::array<std::uint64_t, 4> state() const { return {s_[0], s_[1], s_[2], s_[3]}; }
  static Rng from_state(const std::array<std::uint64_t, 4>& s) { return Rng(FromState{}, s[0], s[1], s[2], s[3]); }

 private:
  struct FromState {};
  Rng(FromState, std::uint64_t s0, std::uint64_t s1, std::uint64_t s2, std::uint64_t s3);
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  std::uint64_t s_[4];
};

}  // namespace limelight
