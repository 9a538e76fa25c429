// A fast hash of a short id string (a user or item id as a file or a user
// writes it), for the flat open-addressing tables of the loader and the CLI's
// id look-up: 8 bytes at a time through a multiply-xorshift mix.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace limelight::data {

inline std::uint64_t mix_id_bits(std::uint64_t x) {
  x ^= x >> 32;
  x *= 0xd6e8feb86659fd93ULL;
  x ^= x >> 32;
  return x;
}

inline std::uint64_t hash_id(std::string_view s) {
  std::uint64_t h = 0x9e3779b97f4a7c15ULL ^ s.size();
  const char* p = s.data();
  std::size_t n = s.size();
  for (; n >= 8; p += 8, n -= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    h = mix_id_bits(h ^ w);
  }
  if (n) {
    std::uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = mix_id_bits(h ^ w);
  }
  return h;
}

}  // namespace limelight::data
