// Parsing item-id sequences typed by users (see sequence_input.hpp).
#include "cli/sequence_input.hpp"

#include <algorithm>
#include <charconv>

#include "cli/args.hpp"
#include "data/id_hash.hpp"
#include "limelight/error.hpp"

namespace limelight::cli {

namespace {

// The value of a plain decimal number of at most 9 digits without a leading
// zero ("0" itself is one), else -1: the one spelling a number label can
// have, so a token that is not so spelled matches no such label.
std::int64_t plain_number(std::string_view s) {
  if (s.empty() || s.size() > 9 || (s[0] == '0' && s.size() > 1)) return -1;
  std::int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

}  // namespace

LabelIndex LabelIndex::dense(std::int32_t num_items) {
  LL_CHECK(num_items >= 1, "LabelIndex: num_items is ", num_items, ", must be positive");
  LabelIndex index;
  index.num_items_ = num_items;
  return index;
}

LabelIndex LabelIndex::from_labels(std::vector<std::string> labels) {
  LL_CHECK(!labels.empty(), "LabelIndex: no labels");
  LabelIndex index;
  index.num_items_ = static_cast<std::int32_t>(labels.size());
  std::size_t slots = 16;
  while (slots < 2 * labels.size()) slots *= 2;
  index.slots_.resize(slots);
  index.mask_ = slots - 1;
  for (std::size_t i = 1; i < labels.size(); ++i) {
    const auto h = static_cast<std::uint32_t>(data::hash_id(labels[i]));
    std::size_t at = h & index.mask_;
    for (; index.slots_[at].id >= 0; at = (at + 1) & index.mask_)
      LL_CHECK(index.slots_[at].hash != h || labels[static_cast<std::size_t>(index.slots_[at].id)] != labels[i],
               "the model's item ids hold ", printable(labels[i]), " twice");
    index.slots_[at] = {h, static_cast<std::int32_t>(i)};
  }
  index.labels_ = std::move(labels);
  // The direct table, when the numbers are dense enough to keep it small
  // (at most 4 entries a label, as the hash has 2-4 slots a label).
  std::int64_t largest = 0;
  for (std::size_t i = 1; i < index.labels_.size(); ++i) {
    const std::int64_t v = plain_number(index.labels_[i]);
    if (v < 0) return index;
    largest = std::max(largest, v);
  }
  if (largest >= 4 * static_cast<std::int64_t>(index.labels_.size())) return index;
  index.by_value_.assign(static_cast<std::size_t>(largest) + 1, -1);
  for (std::size_t i = 1; i < index.labels_.size(); ++i)
    index.by_value_[static_cast<std::size_t>(plain_number(index.labels_[i]))] = static_cast<std::int32_t>(i);
  return index;
}

std::int32_t LabelIndex::find(std::string_view token) const {
  if (!by_value_.empty()) {
    const std::int64_t v = plain_number(token);
    return v >= 0 && v < static_cast<std::int64_t>(by_value_.size()) ? by_value_[static_cast<std::size_t>(v)] : -1;
  }
  if (has_labels()) {
    const auto h = static_cast<std::uint32_t>(data::hash_id(token));
    for (std::size_t at = h & mask_;; at = (at + 1) & mask_) {
      const Slot& s = slots_[at];
      if (s.id < 0) return -1;
      if (s.hash == h && labels_[static_cast<std::size_t>(s.id)] == token) return s.id;
    }
  }
  // Digits only: no sign, no spaces, no hex, so "+3" and "3x" are not ids.
  for (char c : token)
    if (c < '0' || c > '9') return -1;
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), v);
  if (token.empty() || ec != std::errc() || ptr != token.data() + token.size()) return -1;
  return v < num_items_ ? static_cast<std::int32_t>(v) : -1;
}

std::string LabelIndex::label(std::int32_t id) const {
  LL_CHECK(id >= 0 && id < num_items_, "item id ", id, " is outside [0, ", num_items_, ")");
  return has_labels() ? labels_[static_cast<std::size_t>(id)] : std::to_string(id);
}

void LabelIndex::append_label(std::string& out, std::int32_t id) const {
  LL_CHECK(id >= 0 && id < num_items_, "item id ", id, " is outside [0, ", num_items_, ")");
  if (has_labels()) {
    out += labels_[static_cast<std::size_t>(id)];
    return;
  }
  char digits[16];
  const auto end = std::to_chars(digits, digits + sizeof digits, id).ptr;
  out.append(digits, end);
}

namespace {
bool is_separator(char c) {
  return c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

// The tokens of `line` appended to `ids` as dense ids; where() names the
// line in an error.
template <class Where>
void append_tokens(std::string_view line, const LabelIndex& index, const Where& where,
                   std::vector<std::int32_t>& ids) {
  const std::size_t first = ids.size();
  std::size_t i = 0;
  while (i < line.size()) {
    if (is_separator(line[i])) {
      ++i;
      continue;
    }
    std::size_t end = i;
    while (end < line.size() && !is_separator(line[end])) ++end;
    const std::string_view token = line.substr(i, end - i);
    const std::int32_t id = index.find(token);
    if (id < 0) {
      ids.resize(first);
      if (index.has_labels())
        detail::fail(where(), ": item id ", printable(token), " is not in the model");
      detail::fail(where(), ": item id ", printable(token), " is not an id of the model (expected an integer in [0, ",
                   index.num_items(), "))");
    }
    if (ids.size() - first >= max_sequence_items) {
      ids.resize(first);
      detail::fail(where(), ": more than ", max_sequence_items, " item ids");
    }
    ids.push_back(id);
    i = end;
  }
  LL_CHECK(ids.size() > first, where(), ": empty sequence (no item ids)");
}

}  // namespace

std::vector<std::int32_t> parse_sequence_line(std::string_view line, const LabelIndex& index,
                                              std::string_view where) {
  std::vector<std::int32_t> ids;
  append_tokens(line, index, [where] { return where; }, ids);
  return ids;
}

void append_sequence_line(std::string_view line, const LabelIndex& index, std::string_view where,
                          std::int64_t number, std::vector<std::int32_t>& ids) {
  append_tokens(line, index, [&] { return std::string(where) + " " + std::to_string(number); }, ids);
}

}  // namespace limelight::cli
