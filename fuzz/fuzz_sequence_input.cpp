// Fuzz target: the command line's sequence input, parse_sequence_line, with
// plain dense ids or with a model's item labels (picked by the first byte).
// Every id it returns must be an id of the model.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "cli/sequence_input.hpp"
#include "limelight/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace limelight;
  if (size == 0) return 0;
  static const cli::LabelIndex dense = cli::LabelIndex::dense(1000);
  static const cli::LabelIndex labelled =
      cli::LabelIndex::from_labels({"", "17", "tt0114709", "a b", "-3", "\xc3\xa9t\xc3\xa9", "007", "7"});
  const cli::LabelIndex& index = (data[0] & 1) ? labelled : dense;
  const std::string_view line(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    const std::vector<std::int32_t> ids = cli::parse_sequence_line(line, index, "line 1");
    if (ids.empty()) std::abort();
    for (std::int32_t id : ids)
      if (id < 0 || id >= index.num_items()) std::abort();
  } catch (const Error&) {
  }
  return 0;
}
