// Parsing item-id sequences typed by users (see sequence_input.hpp).
#include "cli/sequence_input.hpp"

#include <charconv>

#include "cli/args.hpp"
#include "limelight/error.hpp"

namespace limelight::cli {

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
  index.ids_.reserve(labels.size());
  for (std::size_t i = 1; i < labels.size(); ++i) {
    const bool fresh = index.ids_.emplace(labels[i], static_cast<std::int32_t>(i)).second;
    LL_CHECK(fresh, "the model's item ids hold ", printable(labels[i]), " twice");
  }
  index.labels_ = std::move(labels);
  return index;
}

std::int32_t LabelIndex::find(std::string_view token) const {
  if (has_labels()) {
    auto it = ids_.find(std::string(token));
    return it == ids_.end() ? -1 : it->second;
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

namespace {
bool is_separator(char c) {
  return c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}
}  // namespace

std::vector<std::int32_t> parse_sequence_line(std::string_view line, const LabelIndex& index,
                                              std::string_view where) {
  std::vector<std::int32_t> ids;
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
      if (index.has_labels())
        detail::fail(where, ": item id ", printable(token), " is not in the model");
      detail::fail(where, ": item id ", printable(token), " is not an id of the model (expected an integer in [0, ",
                   index.num_items(), "))");
    }
    LL_CHECK(ids.size() < max_sequence_items, where, ": more than ", max_sequence_items, " item ids");
    ids.push_back(id);
    i = end;
  }
  LL_CHECK(!ids.empty(), where, ": empty sequence (no item ids)");
  return ids;
}

}  // namespace limelight::cli
