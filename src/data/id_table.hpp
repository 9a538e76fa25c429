// Raw ids (user or item ids as a file writes them) to dense ids, numbered in
// order of first appearance; the loader keeps one table per chunk it parses
// and maps the later chunks' tables into the first's.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string_view>
#include <vector>

#include "data/id_hash.hpp"
#include "limelight/error.hpp"

namespace limelight::data {

// Raw ids to dense ids from `first` in order of first appearance. A
// canonical decimal id (digits, no leading zero but in "0") below
// kDirectLimit, what most files hold, is looked up by its value in a flat
// array, small enough for the cache at the usual id ranges; any other id in
// an open-addressing table probed linearly. A slot holds an id of up to 16
// bytes itself, so that a look-up touches one cache line and not the file's
// text at the id's first appearance; longer ids are compared through the
// label views (into the file, or a reader's unquoted copies). A string always
// takes the same one of the two ways, so each id is numbered once.
class IdTable {
 public:
  explicit IdTable(std::int32_t first) : first_(first) { rehash(1024); }
  std::int32_t get(std::string_view raw) {
    const std::int64_t v = direct_value(raw);
    return v >= 0 ? get_direct(static_cast<std::uint32_t>(v), raw) : get(raw, hash_id(raw));
  }
  // The value of an id looked up by value, else -1.
  static std::int64_t direct_value(std::string_view raw) {
    if (raw.empty() || raw.size() > kDirectDigits || (raw[0] == '0' && raw.size() > 1)) return -1;
    std::uint32_t v = 0;
    for (const char ch : raw) {
      const unsigned d = static_cast<unsigned>(static_cast<unsigned char>(ch)) - unsigned{'0'};
      if (d > 9) return -1;
      v = v * 10 + d;
    }
    return v < kDirectLimit ? std::int64_t{v} : -1;
  }
  // get() of an id whose direct_value() is v.
  std::int32_t get_direct(std::uint32_t v, std::string_view raw) {
    if (v >= direct_.size()) grow_direct(v);
    std::int32_t& d = direct_[v];
    if (d < 0) d = add_label(raw);
    return first_ + d;
  }
  void prefetch_direct(std::uint32_t v) const {
    if (v < direct_.size()) __builtin_prefetch(&direct_[v]);
  }
  // Starts loading the slot a look-up of hash h begins at, so that work done
  // before get(raw, h) hides the cache miss.
  void prefetch(std::uint64_t h) const { __builtin_prefetch(&slots_[h & mask_]); }
  // get() of an id whose direct_value() is -1 and whose hash_id() is h.
  std::int32_t get(std::string_view raw, std::uint64_t h) {
    std::uint64_t key[2] = {0, 0};
    std::memcpy(key, raw.data(), std::min<std::size_t>(raw.size(), kInline));
    const std::uint32_t len = static_cast<std::uint32_t>(std::min<std::size_t>(raw.size(), 0xffffffffu));
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.id < 0) {
        s.hash = h;
        s.id = add_label(raw);
        s.len = len;
        s.key[0] = key[0], s.key[1] = key[1];
        const std::int32_t id = first_ + s.id;
        if (++hashed_ * 2 > slots_.size()) rehash(slots_.size() * 2);
        return id;
      }
      if (s.hash == h && s.len == len && s.key[0] == key[0] && s.key[1] == key[1] &&
          (raw.size() <= kInline || labels_[static_cast<std::size_t>(s.id)] == raw))
        return first_ + s.id;
    }
  }
  const std::vector<std::string_view>& labels() const { return labels_; }
  std::int32_t count() const { return first_ + static_cast<std::int32_t>(labels_.size()); }

 private:
  static constexpr std::size_t kInline = 16;
  static constexpr std::size_t kDirectDigits = 7;
  static constexpr std::uint32_t kDirectLimit = std::uint32_t{1} << 22;  // a 16 MB array at most
  struct Slot {
    std::uint64_t hash = 0;
    std::int32_t id = -1;  // index into labels_; -1 for an empty slot
    std::uint32_t len = 0;
    std::uint64_t key[2] = {0, 0};  // the id's first 16 bytes, zero-padded
  };
  std::int32_t add_label(std::string_view raw) {
    LL_CHECK(labels_.size() < static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max() - first_),
             "too many distinct ids");
    labels_.push_back(raw);
    return static_cast<std::int32_t>(labels_.size() - 1);
  }
  void grow_direct(std::uint32_t v) {
    std::size_t n = std::max<std::size_t>(direct_.size(), 1024);
    while (n <= v) n *= 2;
    direct_.resize(std::min<std::size_t>(n, kDirectLimit), -1);
  }
  void rehash(std::size_t n) {
    std::vector<Slot> old(n);
    old.swap(slots_);
    mask_ = n - 1;
    for (const Slot& s : old) {
      if (s.id < 0) continue;
      std::size_t i = s.hash & mask_;
      while (slots_[i].id >= 0) i = (i + 1) & mask_;
      slots_[i] = s;
    }
  }
  std::int32_t first_;
  std::vector<std::int32_t> direct_;  // by value: index into labels_, -1 for an id not seen
  std::vector<Slot> slots_;
  std::size_t mask_ = 0, hashed_ = 0;
  std::vector<std::string_view> labels_;
};

}  // namespace limelight::data
