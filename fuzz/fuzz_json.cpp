// Fuzz target: json::parse on any bytes. A parsed value must dump and parse
// back to an equal value; anything else must be limelight::Error.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "io/json.hpp"
#include "limelight/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace limelight;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  json::Value value;
  try {
    value = json::parse(text);
  } catch (const Error&) {
    return 0;
  }
  // The writer's output is valid JSON; NaN cannot come from the parser.
  for (int indent : {-1, 2}) {
    const json::Value again = json::parse(json::dump(value, indent));
    if (!(again == value)) std::abort();
  }
  return 0;
}
