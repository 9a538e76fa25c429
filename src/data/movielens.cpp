// The MovieLens ratings files (include/limelight/data.hpp): which file of a
// directory is the ratings, and the delimited-load options of each release.
#include <filesystem>
#include <string>

#include "data/delimited_load.hpp"
#include "limelight/data.hpp"
#include "limelight/error.hpp"

namespace limelight {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

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
  if (ends_with(file, ".dat")) return data::load_delimited_file(file, "::", positional);
  LL_CHECK(ends_with(file, ".csv"), "load_movielens: ", file,
           " is not a MovieLens ratings file (u.data, ratings.dat or ratings.csv)");
  DelimitedOptions opt;
  opt.rating_column = "rating";
  opt.numeric_ids = true;
  return load_delimited(file, opt);
}

}  // namespace limelight
