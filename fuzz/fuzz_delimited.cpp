// Fuzz target: load_delimited. The first byte picks the options (delimiter,
// header, columns by name or position, timestamps, ratings, skip_malformed);
// the rest is the file. The loader takes a path, so the input goes through a
// temporary file. An accepted data set must validate and convert to sequences.
#include <cstdint>
#include <string>

#include "fuzz_util.hpp"
#include "limelight/data.hpp"
#include "limelight/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace limelight;
  if (size == 0) return 0;
  const std::uint8_t flags = data[0];
  static const std::string path = fuzz::temp_path("interactions.csv");
  fuzz::write_file(path, data + 1, size - 1);

  DelimitedOptions opt;
  static const char delimiters[] = {',', '\t', ';', '|'};
  opt.delimiter = delimiters[flags & 3];
  opt.header = (flags & 4) == 0;
  if (!opt.header || (flags & 8)) {
    opt.user_column = "0";
    opt.item_column = "1";
    opt.timestamp_column = "2";
  }
  if (flags & 16) opt.timestamp_column.clear();
  if (flags & 32) opt.rating_column = opt.header && !(flags & 8) ? "rating" : "3";
  opt.skip_malformed = (flags & 64) != 0;
  try {
    const Interactions interactions = load_delimited(path, opt);
    interactions.validate();
    (void)interactions.to_sequence(5, 0, (flags & 128) ? 2 : 0);
  } catch (const Error&) {
  }
  return 0;
}
