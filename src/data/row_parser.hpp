// The fast way through a delimited file's plain rows: one scan of a line
// over byte classes (16 bytes at a time with SSE2), ids looked up and numbers
// read in place. Header-only so that the chunk loop it sits in
// (delimited_load.cpp) keeps it inlined. Any line it is not sure of goes back
// to DelimitedReader and RowLayout::problem.
#pragma once

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "data/column_spec.hpp"
#include "data/id_hash.hpp"
#include "data/id_table.hpp"

namespace limelight::data {

// The rows a parse has taken: ids dense from the tables' first ids (users 0,
// items 1), timestamps and ratings only where the layout has those columns.
struct ParsedRows {
  IdTable users{0}, items{1};
  std::vector<std::int32_t> user_ids, item_ids;
  std::vector<std::int64_t> timestamps;
  std::vector<float> ratings;
};

// The float std::from_chars reads from `digits` or `digits.digits` when the
// digits, read as one integer m, stay below 2^24: m / 10^decimals with both
// exact in float, so that one correctly rounded division gives the nearest
// float to the decimal, which is what from_chars returns. False for any other
// text (the caller then asks from_chars).
inline bool plain_rating(std::string_view f, float& value) {
  static constexpr float kPow10[] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f, 1e6f, 1e7f, 1e8f};
  std::uint32_t m = 0;
  int digits = 0, decimals = 0;
  std::size_t i = 0;
  for (; i < f.size(); ++i) {
    const unsigned d = static_cast<unsigned>(static_cast<unsigned char>(f[i])) - unsigned{'0'};
    if (d > 9) break;
    if (++digits > 8) return false;
    m = m * 10 + d;
  }
  if (digits == 0) return false;
  if (i < f.size()) {
    if (f[i] != '.') return false;
    for (++i; i < f.size(); ++i) {
      const unsigned d = static_cast<unsigned>(static_cast<unsigned char>(f[i])) - unsigned{'0'};
      if (d > 9 || ++digits > 8) return false;
      m = m * 10 + d;
      ++decimals;
    }
    if (decimals == 0) return false;
  }
  if (m >= (std::uint32_t{1} << 24)) return false;
  value = static_cast<float>(m) / kPow10[decimals];
  return true;
}

// What std::from_chars reads from `digits` or `-digits` of 1 to 18 digits
// (no overflow possible); false for any other text.
inline bool plain_integer(std::string_view f, std::int64_t& value) {
  const bool negative = !f.empty() && f[0] == '-';
  const std::size_t first = negative ? 1 : 0;
  if (f.size() == first || f.size() - first > 18) return false;
  std::int64_t v = 0;
  for (std::size_t i = first; i < f.size(); ++i) {
    const unsigned d = static_cast<unsigned>(static_cast<unsigned char>(f[i])) - unsigned{'0'};
    if (d > 9) return false;
    v = v * 10 + static_cast<std::int64_t>(d);
  }
  value = negative ? -v : v;
  return true;
}

// The fast way through a row, for a one-byte delimiter: one scan of the line
// over a table of byte classes, ids and numbers read in place. Any line it is
// not sure of (a quote, a space or a lone CR anywhere, the wrong column count,
// an id or number it cannot read) it leaves to DelimitedReader and
// RowLayout::problem, which give the result, the skip or the error they gave
// before; the fast way only takes rows those would take, with the same values.
class FastRows {
 public:
  enum ByteClass : std::uint8_t { kPlain, kDelimiter, kLineEnd, kOdd };
  FastRows(char delimiter, const RowLayout& layout) : layout_(layout), starts_(layout.expected + 1) {
    classes_.fill(kPlain);
    classes_[static_cast<unsigned char>('\n')] = kLineEnd;
    classes_[static_cast<unsigned char>('\r')] = kOdd;
    classes_[static_cast<unsigned char>('"')] = kOdd;
    classes_[static_cast<unsigned char>(' ')] = kOdd;
    classes_[static_cast<unsigned char>(delimiter)] = kDelimiter;  // never one of the above (parse_delimited checks)
#ifdef __SSE2__
    delimiter_ = _mm_set1_epi8(delimiter);
#endif
  }
  enum Outcome { kRow, kBlank, kUnsure };
  // The line at `line` (before `stop`, the text's end): kRow after appending
  // its record to c, kBlank for an empty line; `next` is then where the next
  // line starts. kUnsure leaves c as it was.
  Outcome read(const char* line, const char* stop, ParsedRows& c, const char*& next) {
    const std::size_t expected = layout_.expected;
    std::size_t k = 0;
    starts_[0] = line;
    const char* p = line;
    const char* line_end = nullptr;
    // One byte that is not plain, at q: false when the line is not for the
    // fast way; line_end is set at the line's end.
    auto special = [&](const char* q) {
      const std::uint8_t t = classes_[static_cast<unsigned char>(*q)];
      if (t == kDelimiter) {
        if (++k == expected) return false;
        starts_[k] = q + 1;
        return true;
      }
      if (t == kLineEnd) {
        line_end = q, next = q + 1;
        return true;
      }
      if (*q == '\r' && (q + 1 == stop || q[1] == '\n')) {  // CRLF, or a CR ending the text
        line_end = q, next = q + 1 == stop ? stop : q + 2;
        return true;
      }
      return false;
    };
#ifdef __SSE2__
    // 16 bytes at a time while they lie inside the text: a mask of the bytes
    // that are not plain, taken lowest first.
    while (!line_end && stop - p >= 16) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      const __m128i hits = _mm_or_si128(
          _mm_or_si128(_mm_cmpeq_epi8(v, delimiter_), _mm_cmpeq_epi8(v, _mm_set1_epi8('\n'))),
          _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\r')), _mm_cmpeq_epi8(v, _mm_set1_epi8('"'))),
                       _mm_cmpeq_epi8(v, _mm_set1_epi8(' '))));
      for (unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(hits)); mask && !line_end; mask &= mask - 1)
        if (!special(p + __builtin_ctz(mask))) return kUnsure;
      p += 16;
    }
#endif
    for (; !line_end; ++p) {
      if (p == stop) {
        line_end = next = p;
        break;
      }
      if (classes_[static_cast<unsigned char>(*p)] != kPlain && !special(p)) return kUnsure;
    }
    if (k == 0 && line_end == line) return kBlank;
    if (k + 1 != expected) return kUnsure;
    starts_[expected] = line_end + 1;
    const std::string_view user = field(layout_.user->index), item = field(layout_.item->index);
    if (user.empty() || item.empty()) return kUnsure;
    const std::int64_t user_value = IdTable::direct_value(user), item_value = IdTable::direct_value(item);
    if (layout_.opt->numeric_ids && ((user_value < 0 && !is_decimal(user)) || (item_value < 0 && !is_decimal(item))))
      return kUnsure;
    std::uint64_t user_hash = 0, item_hash = 0;
    if (user_value >= 0) {
      c.users.prefetch_direct(static_cast<std::uint32_t>(user_value));
    } else {
      user_hash = hash_id(user);
      c.users.prefetch(user_hash);
    }
    if (item_value >= 0) {
      c.items.prefetch_direct(static_cast<std::uint32_t>(item_value));
    } else {
      item_hash = hash_id(item);
      c.items.prefetch(item_hash);
    }
    std::int64_t ts = 0;
    if (layout_.time->present()) {
      const std::string_view f = field(layout_.time->index);
      if (!plain_integer(f, ts)) {
        const auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), ts);
        if (ec != std::errc() || end != f.data() + f.size() || f.empty()) return kUnsure;
      }
    }
    float value = 0.0f;
    if (layout_.rating->present()) {
      const std::string_view f = field(layout_.rating->index);
      if (!plain_rating(f, value)) {
        const auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), value);
        if (ec != std::errc() || end != f.data() + f.size() || f.empty() || !std::isfinite(value)) return kUnsure;
      }
    }
    c.user_ids.push_back(user_value >= 0 ? c.users.get_direct(static_cast<std::uint32_t>(user_value), user)
                                         : c.users.get(user, user_hash));
    c.item_ids.push_back(item_value >= 0 ? c.items.get_direct(static_cast<std::uint32_t>(item_value), item)
                                         : c.items.get(item, item_hash));
    if (layout_.time->present()) c.timestamps.push_back(ts);
    if (layout_.rating->present()) c.ratings.push_back(value);
    return kRow;
  }

 private:
  // Field i of the line read last (starts_[i + 1] is one past its delimiter).
  std::string_view field(std::size_t i) const {
    return std::string_view(starts_[i], static_cast<std::size_t>(starts_[i + 1] - 1 - starts_[i]));
  }
  const RowLayout& layout_;
  std::array<std::uint8_t, 256> classes_{};
  std::vector<const char*> starts_;
#ifdef __SSE2__
  __m128i delimiter_;
#endif
};

}  // namespace limelight::data
