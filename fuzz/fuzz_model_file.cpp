// Fuzz target: load_model_from_bytes on any bytes. An accepted model must
// serialize, load again, and answer predict/recommend on a short sequence.
#include <cstdint>
#include <string>
#include <vector>

#include "limelight/error.hpp"
#include "limelight/model_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace limelight;
  try {
    LoadedModel loaded = load_model_from_bytes(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
    const std::int32_t n = loaded.model.num_items();
    const std::vector<std::int32_t> sequence{0, n > 1 ? 1 : 0};
    (void)loaded.model.predict(sequence);
    (void)loaded.model.recommend(sequence, 3, true);
    (void)load_model_from_bytes(serialize_model(loaded.model, loaded.item_labels), "fuzz-again");
  } catch (const Error&) {
  }
  return 0;
}
