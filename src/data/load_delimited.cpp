// load_delimited and last_skipped_rows (include/limelight/data.hpp). The
// parse takes the counter it fills (delimited_load.hpp); this file holds the
// one per-thread counter the public API reports, so that loads on different
// threads may run at once.
#include <cstddef>
#include <string>
#include <string_view>

#include "data/delimited_load.hpp"
#include "limelight/data.hpp"

namespace limelight {

namespace {

thread_local std::size_t skipped_rows = 0;

}  // namespace

namespace data {

Interactions load_delimited_file(const std::string& path, std::string_view delimiter, const DelimitedOptions& options) {
  return parse_delimited(path, delimiter, options, skipped_rows);
}

}  // namespace data

std::size_t last_skipped_rows() { return skipped_rows; }

Interactions load_delimited(const std::string& path, const DelimitedOptions& options) {
  return data::load_delimited_file(path, std::string_view(&options.delimiter, 1), options);
}

}  // namespace limelight
