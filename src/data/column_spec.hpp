// The columns a delimited file's rows are read by: each wanted column named
// in the header or given as a 0-based position, resolved from the file's
// first record (the header, or the first row when there is none), and the
// checks every data row must then pass.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "limelight/data.hpp"

namespace limelight::data {

// `field` in quotes for an error message, cut after 40 bytes.
std::string show_field(std::string_view field);

// Whether `s` is a non-negative decimal integer (digits only, any length).
inline bool is_decimal(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// A column wanted by the loader: by header name, or a 0-based position.
struct Column {
  const char* role;
  std::string spec;
  std::size_t index = 0;
  bool present() const { return !spec.empty(); }
};

// What a data row must hold: the columns' positions, the column count, the
// options' checks.
struct RowLayout {
  std::size_t expected = 0;
  const Column *user, *item, *time, *rating;
  const DelimitedOptions* opt;

  // Empty when the row is good (ts and value then hold its timestamp and
  // rating), else what is wrong with it.
  std::string problem(const std::vector<std::string_view>& fields, std::int64_t& ts, float& value) const;
};

// A file's wanted columns, resolved, and where its data rows begin.
struct ColumnSpec {
  Column user, item, time, rating;
  std::size_t expected = 0;  // columns per row, from the header or the first row
  std::size_t rows_begin = 0, rows_line = 0;  // the first data row's byte and line
  // The layout rows are checked against; it points into this object.
  RowLayout layout(const DelimitedOptions& opt) const { return RowLayout{expected, &user, &item, &time, &rating, &opt}; }
};

// The columns of `opt` found in the first record of `text` (read with
// `delimiter`): an Error naming path:line for a column missing from the
// header or past the row's columns, a name without a header, an empty file
// or a header without data rows.
ColumnSpec read_column_spec(std::string_view text, std::string_view delimiter, const std::string& path,
                            const DelimitedOptions& opt);

}  // namespace limelight::data
