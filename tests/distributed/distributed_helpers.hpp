// Helpers of test_distributed's cases: the job's communicator, reproducible
// per-rank inputs (so that every rank can compute every other rank's, and
// the sums, locally), and the check that a value is the same bits on every
// rank. Every rank runs every case and so every collective, in the same
// order: the cases CHECK rather than REQUIRE between collectives, since a
// rank that left a case early would leave the others waiting.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "limelight/distributed.hpp"

namespace dist_test {

inline limelight::distributed::Communicator& world() { return limelight::distributed::world(); }

// Rank `rank`'s n values for case `seed`: mixed signs and magnitudes, so
// that the order of a sum shows in its last bits.
template <class T>
std::vector<T> values_of(std::uint64_t seed, int rank, std::int64_t n) {
  std::mt19937_64 gen(seed * 7919 + static_cast<std::uint64_t>(rank));
  std::vector<T> out(static_cast<std::size_t>(n));
  for (T& v : out) {
    if constexpr (std::is_floating_point_v<T>) {
      const double mantissa = std::uniform_real_distribution<double>(-1.0, 1.0)(gen);
      const int exponent = std::uniform_int_distribution<int>(-8, 8)(gen);
      v = static_cast<T>(std::ldexp(mantissa, exponent));
    } else {
      v = static_cast<T>(std::uniform_int_distribution<std::int64_t>(-(std::int64_t{1} << 40), std::int64_t{1} << 40)(gen));
    }
  }
  return out;
}

inline std::string bytes_of(const void* data, std::size_t size) {
  return std::string(static_cast<const char*>(data), size);
}

template <class T>
std::string bytes_of(const std::vector<T>& v) {
  return bytes_of(v.data(), v.size() * sizeof(T));
}

// FNV-1a 64 of some bytes, as 16 hex digits.
inline std::string fnv_hex(const std::string& bytes) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const char c : bytes) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(h));
  return text;
}

// How many ranks hold other bytes than rank 0 (a collective).
inline int ranks_differing_from_rank0(const std::string& mine) {
  const std::vector<std::string> all = world().all_gather_strings(mine);
  int differing = 0;
  for (const std::string& s : all) differing += s != all[0];
  return differing;
}

}  // namespace dist_test
