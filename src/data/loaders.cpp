// Loaders for delimited interaction files and the MovieLens datasets
// (include/limelight/data.hpp). A file is read whole and parsed in place with
// std::from_chars; raw ids become dense ids in order of first appearance
// (users from 0, items from 1, 0 being padding) and are kept as labels.
// Every malformed row is reported as file:line with what was wrong.
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string_view>
#include <unordered_map>

#include "data/delimited_reader.hpp"
#include "limelight/data.hpp"
#include "limelight/error.hpp"

namespace limelight {

namespace {

thread_local std::size_t skipped_rows = 0;

std::string read_whole_file(const std::string& path) {
  std::error_code ec;
  LL_CHECK(!std::filesystem::is_directory(path, ec), path, ": is a directory, expected a file");
  std::ifstream in(path, std::ios::binary);
  LL_CHECK(in.good(), path, ": cannot open file");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  LL_CHECK(size >= 0, path, ": cannot read file size");
  std::string text(static_cast<std::size_t>(size), '\0');
  in.seekg(0, std::ios::beg);
  in.read(text.data(), size);
  LL_CHECK(in.gcount() == size, path, ": read ", in.gcount(), " of ", size, " bytes");
  return text;
}

bool is_position(const std::string& spec) {
  if (spec.empty() || spec.size() > 9) return false;
  for (char c : spec)
    if (c < '0' || c > '9') return false;
  return true;
}

std::string show_field(std::string_view field) {
  constexpr std::size_t kMax = 40;
  std::string s;
  s += '\'';
  s.append(field.substr(0, kMax));
  if (field.size() > kMax) s.append("...");
  s += '\'';
  return s;
}

// "userId, movieId, rating" for a header error.
std::string column_list(const std::vector<std::string_view>& fields) {
  std::string out;
  for (std::size_t i = 0; i < fields.size(); ++i) out += (i ? ", " : "") + show_field(fields[i]);
  return out;
}

bool is_decimal(std::string_view s) {
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

class DenseIds {
 public:
  DenseIds(std::int32_t first, std::vector<std::string>& labels) : next_(first), labels_(labels) {}
  std::int32_t get(std::string_view raw) {
    auto [it, inserted] = ids_.try_emplace(raw, next_);
    if (inserted) {
      LL_CHECK(next_ < std::numeric_limits<std::int32_t>::max(), "too many distinct ids");
      ++next_;
      labels_.emplace_back(raw);
    }
    return it->second;
  }
  std::int32_t count() const { return next_; }

 private:
  std::int32_t next_;
  std::vector<std::string>& labels_;
  std::unordered_map<std::string_view, std::int32_t> ids_;
};

Interactions parse_delimited(const std::string& path, std::string_view delim, const DelimitedOptions& opt) {
  skipped_rows = 0;
  LL_CHECK(!delim.empty(), path, ": empty delimiter");
  LL_CHECK(delim != " " && delim != "\r" && delim != "\n" && delim != "\"", path, ": delimiter ", show_field(delim),
           " is not supported (fields are trimmed of spaces; quotes quote fields)");
  const std::string text = read_whole_file(path);
  Column user{"user", opt.user_column}, item{"item", opt.item_column},
      time{"timestamp", opt.timestamp_column}, rating{"rating", opt.rating_column};
  LL_CHECK(user.present(), path, ": no user column given");
  LL_CHECK(item.present(), path, ": no item column given");
  Column* columns[] = {&user, &item, &time, &rating};

  data::DelimitedReader reader(text, delim, path);
  std::vector<std::string_view> fields;
  std::size_t expected = 0;  // columns per row, from the header or the first row
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
    have_row = reader.next(fields);
    LL_CHECK(have_row, path, ":", reader.current_line(), ": no data rows after the header");
  } else {
    for (Column* c : columns) {
      if (!c->present()) continue;
      LL_CHECK(is_position(c->spec), path, ":", reader.line(), ": ", c->role, " column ", show_field(c->spec),
               " is a name but the file has no header; give a 0-based position");
      c->index = std::stoul(c->spec);
    }
  }

  Interactions out;
  out.item_labels.emplace_back();
  DenseIds users(0, out.user_labels), items(1, out.item_labels);
  const std::size_t approx_rows = text.size() / 16 + 1;
  out.user_ids.reserve(approx_rows);
  out.item_ids.reserve(approx_rows);
  if (time.present()) out.timestamps.reserve(approx_rows);
  if (rating.present()) out.ratings.reserve(approx_rows);

  std::string problem;
  for (; have_row; have_row = reader.next(fields)) {
    const std::size_t line_no = reader.line();
    if (expected == 0) {
      expected = fields.size();
      for (Column* c : columns)
        LL_CHECK(!c->present() || c->index < expected, path, ":", line_no, ": ", c->role, " column ",
                 c->spec, " is past the row's ", expected, " columns");
    }
    problem.clear();
    std::int64_t ts = 0;
    float value = 0.0f;
    if (fields.size() != expected) {
      problem = "expected " + std::to_string(expected) + " columns, found " + std::to_string(fields.size());
    } else if (fields[user.index].empty()) {
      problem = "empty user id";
    } else if (fields[item.index].empty()) {
      problem = "empty item id";
    } else if (opt.numeric_ids && !is_decimal(fields[user.index])) {
      problem = "user id " + show_field(fields[user.index]) + " is not a non-negative integer (this format's ids are numeric)";
    } else if (opt.numeric_ids && !is_decimal(fields[item.index])) {
      problem = "item id " + show_field(fields[item.index]) + " is not a non-negative integer (this format's ids are numeric)";
    } else {
      if (time.present()) {
        const std::string_view f = fields[time.index];
        const auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), ts);
        if (ec != std::errc() || end != f.data() + f.size() || f.empty())
          problem = "timestamp " + show_field(f) + " is not an integer";
      }
      if (problem.empty() && rating.present()) {
        const std::string_view f = fields[rating.index];
        const auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), value);
        if (ec != std::errc() || end != f.data() + f.size() || f.empty() || !std::isfinite(value))
          problem = "rating " + show_field(f) + " is not a finite number";
      }
    }
    if (!problem.empty()) {
      LL_CHECK(opt.skip_malformed, path, ":", line_no, ": ", problem);
      ++skipped_rows;
      continue;
    }
    out.user_ids.push_back(users.get(fields[user.index]));
    out.item_ids.push_back(items.get(fields[item.index]));
    if (time.present()) out.timestamps.push_back(ts);
    if (rating.present()) out.ratings.push_back(value);
  }
  LL_CHECK(!out.user_ids.empty(), path, ":", reader.current_line(), ": no valid rows (", skipped_rows,
           " malformed rows skipped)");
  out.num_users = users.count();
  out.num_items = items.count();
  out.validate();
  return out;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::size_t last_skipped_rows() { return skipped_rows; }

Interactions load_delimited(const std::string& path, const DelimitedOptions& options) {
  return parse_delimited(path, std::string_view(&options.delimiter, 1), options);
}

std::string movielens_ratings_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  LL_CHECK(fs::exists(path, ec), "load_movielens: ", path, " does not exist");
  if (!fs::is_directory(path, ec)) return path;
  for (const char* name : {"u.data", "ratings.dat", "ratings.csv"}) {
    const fs::path candidate = fs::path(path) / name;
    if (fs::is_regular_file(candidate, ec)) return candidate.string();
  }
  detail::fail("load_movielens: ", path, " holds none of u.data (100K), ratings.dat (1M/10M), ratings.csv (latest)");
}

Interactions load_movielens(const std::string& path) {
  const std::string file = movielens_ratings_file(path);
  // MovieLens 100K, 1M and 10M: user item rating timestamp, no header.
  const DelimitedOptions positional{'\t', false, "0", "1", "3", "2", false, true};
  if (ends_with(file, ".data")) return load_delimited(file, positional);
  if (ends_with(file, ".dat")) return parse_delimited(file, "::", positional);
  LL_CHECK(ends_with(file, ".csv"), "load_movielens: ", file,
           " is not a MovieLens ratings file (u.data, ratings.dat or ratings.csv)");
  DelimitedOptions opt;
  opt.rating_column = "rating";
  opt.numeric_ids = true;
  return load_delimited(file, opt);
}

}  // namespace limelight
