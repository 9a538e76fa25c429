// Resolving a delimited file's columns and checking its rows against them
// (see column_spec.hpp).
#include "data/column_spec.hpp"

#include <charconv>
#include <cmath>

#include "data/delimited_reader.hpp"
#include "limelight/error.hpp"

namespace limelight::data {

namespace {

bool is_position(const std::string& spec) {
  if (spec.empty() || spec.size() > 9) return false;
  for (char c : spec)
    if (c < '0' || c > '9') return false;
  return true;
}

// "userId, movieId, rating" for a header error.
std::string column_list(const std::vector<std::string_view>& fields) {
  std::string out;
  for (std::size_t i = 0; i < fields.size(); ++i) out += (i ? ", " : "") + show_field(fields[i]);
  return out;
}

}  // namespace

std::string show_field(std::string_view field) {
  constexpr std::size_t kMax = 40;
  std::string s;
  s += '\'';
  s.append(field.substr(0, kMax));
  if (field.size() > kMax) s.append("...");
  s += '\'';
  return s;
}

std::string RowLayout::problem(const std::vector<std::string_view>& fields, std::int64_t& ts, float& value) const {
  if (fields.size() != expected)
    return "expected " + std::to_string(expected) + " columns, found " + std::to_string(fields.size());
  if (fields[user->index].empty()) return "empty user id";
  if (fields[item->index].empty()) return "empty item id";
  if (opt->numeric_ids && !is_decimal(fields[user->index]))
    return "user id " + show_field(fields[user->index]) +
           " is not a non-negative integer (this format's ids are numeric)";
  if (opt->numeric_ids && !is_decimal(fields[item->index]))
    return "item id " + show_field(fields[item->index]) +
           " is not a non-negative integer (this format's ids are numeric)";
  if (time->present()) {
    const std::string_view f = fields[time->index];
    const auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), ts);
    if (ec != std::errc() || end != f.data() + f.size() || f.empty())
      return "timestamp " + show_field(f) + " is not an integer";
  }
  if (rating->present()) {
    const std::string_view f = fields[rating->index];
    const auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), value);
    if (ec != std::errc() || end != f.data() + f.size() || f.empty() || !std::isfinite(value))
      return "rating " + show_field(f) + " is not a finite number";
  }
  return {};
}

ColumnSpec read_column_spec(std::string_view text, std::string_view delim, const std::string& path,
                            const DelimitedOptions& opt) {
  ColumnSpec spec{{"user", opt.user_column}, {"item", opt.item_column},
                  {"timestamp", opt.timestamp_column}, {"rating", opt.rating_column}};
  LL_CHECK(spec.user.present(), path, ": no user column given");
  LL_CHECK(spec.item.present(), path, ": no item column given");
  Column* columns[] = {&spec.user, &spec.item, &spec.time, &spec.rating};

  // The header and the first data row fix the columns.
  DelimitedReader reader(text, delim, path);
  std::vector<std::string_view> fields;
  std::size_t& expected = spec.expected;
  spec.rows_begin = reader.position(), spec.rows_line = reader.current_line();
  bool have_row = reader.next(fields);
  LL_CHECK(have_row, path, ":", reader.current_line(), ": empty file, no interactions");
  if (opt.header) {
    expected = fields.size();
    for (Column* c : columns) {
      if (!c->present()) continue;
      bool found = false;
      for (std::size_t i = 0; i < fields.size() && !found; ++i)
        if (fields[i] == c->spec) c->index = i, found = true;
      if (!found && is_position(c->spec)) c->index = std::stoul(c->spec), found = true;
      LL_CHECK(found, path, ":", reader.line(), ": header has no ", c->role, " column ", show_field(c->spec),
               " (the header's columns: ", column_list(fields), ")");
      LL_CHECK(c->index < expected, path, ":", reader.line(), ": ", c->role, " column ", c->spec,
               " is past the header's ", expected, " columns");
    }
    spec.rows_begin = reader.position(), spec.rows_line = reader.current_line();
    have_row = reader.next(fields);
    LL_CHECK(have_row, path, ":", reader.current_line(), ": no data rows after the header");
  } else {
    for (Column* c : columns) {
      if (!c->present()) continue;
      LL_CHECK(is_position(c->spec), path, ":", reader.line(), ": ", c->role, " column ", show_field(c->spec),
               " is a name but the file has no header; give a 0-based position");
      c->index = std::stoul(c->spec);
    }
    expected = fields.size();
    for (Column* c : columns)
      LL_CHECK(!c->present() || c->index < expected, path, ":", reader.line(), ": ", c->role, " column ", c->spec,
               " is past the row's ", expected, " columns");
  }
  return spec;
}

}  // namespace limelight::data
