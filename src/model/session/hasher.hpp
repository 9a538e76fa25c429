// A 64-bit hash of a byte stream (8-byte words through a multiply-rotate
// mix, then a final avalanche): the model fingerprint a SessionModel stamps
// on its sessions (construction.cpp) and the checksum of the session bytes
// (format.cpp).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace limelight::detail {

class Hasher {
 public:
  void bytes(const void* data, std::size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      std::uint64_t w;
      std::memcpy(&w, p + i, 8);
      word(w);
    }
    std::uint64_t tail = 0;
    if (n > i) std::memcpy(&tail, p + i, n - i);
    word(tail ^ (static_cast<std::uint64_t>(n - i) << 56));
  }
  void u64(std::uint64_t v) { word(v); }
  std::uint64_t digest() const {
    std::uint64_t h = h_ ^ (h_ >> 33);
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
  }

 private:
  void word(std::uint64_t w) {
    h_ ^= std::rotl(w * 0x87c37b91114253d5ULL, 31) * 0x4cf5ad432745937fULL;
    h_ = std::rotl(h_, 27) * 5 + 0x52dce729;
  }
  std::uint64_t h_ = 0x243f6a8885a308d3ULL;
};

}  // namespace limelight::detail
