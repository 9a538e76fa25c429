// Regression tests for what fuzz/fuzz_model_file found: model files whose
// parameters hold NaN, and small files whose metadata claims a huge model.
// Both must be rejected with an Error naming the file and the parameter.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "limelight/error.hpp"
#include "limelight/model_file.hpp"
#include "limelight/safetensors.hpp"

using namespace limelight;
using doctest::Contains;

namespace {

std::string model_bytes(const std::string& representation) {
  ModelConfig c;
  c.representation = parse_representation(representation);
  c.embedding_dim = 2;
  c.num_mixtures = 2;
  ImplicitSequenceModel m(c);
  m.initialize(4);
  return serialize_model(m);
}

// The file re-serialized with metadata changes and one float overwritten.
std::string rewrite(const std::string& bytes, const std::map<std::string, std::string>& changes,
                    const std::string& poison_name = "", float poison = 0.0f) {
  const io::SafetensorsFile file = io::SafetensorsFile::parse(bytes, "model");
  std::map<std::string, std::string> md = file.metadata();
  for (const auto& [k, v] : changes) md[k] = v;
  const std::vector<std::string> names = file.names();
  std::vector<std::vector<float>> values;
  for (const std::string& name : names) {
    values.push_back(file.f32(name));
    if (name == poison_name) values.back()[0] = poison;
  }
  std::vector<io::WriteEntry> entries;
  for (std::size_t i = 0; i < names.size(); ++i)
    entries.push_back({names[i], DType::f32, file.info(names[i]).shape, values[i].data()});
  return io::serialize_safetensors(entries, md);
}

}  // namespace

TEST_CASE("model file: a NaN or infinite parameter is an Error naming the parameter") {
  for (const char* rep : {"pooling", "cnn", "lstm", "mixture"}) {
    CAPTURE(rep);
    const std::string bytes = model_bytes(rep);
    REQUIRE_NOTHROW(load_model_from_bytes(bytes, "ok.safetensors"));
    CHECK_THROWS_WITH_AS(
        load_model_from_bytes(rewrite(bytes, {}, "item_embeddings.weight", std::numeric_limits<float>::quiet_NaN()),
                              "nan.safetensors"),
        Contains("nan.safetensors: parameter 'item_embeddings.weight' holds nan at index 0"), Error);
    CHECK_THROWS_WITH_AS(
        load_model_from_bytes(rewrite(bytes, {}, "item_biases.weight", std::numeric_limits<float>::infinity()),
                              "inf.safetensors"),
        Contains("parameter 'item_biases.weight' holds inf at index 0"), Error);
  }
}

TEST_CASE("model file: metadata claiming a model larger than the file is rejected before allocating") {
  // 2^31 - 1 items of 65536 floats would be 512 TiB: the shapes in the file
  // disagree, which must be found without building the model.
  CHECK_THROWS_WITH_AS(load_model_from_bytes(rewrite(model_bytes("pooling"), {{"num_items", "2147483647"},
                                                                               {"embedding_dim", "65536"}}),
                                             "huge.safetensors"),
                       Contains("huge.safetensors: parameter 'item_embeddings.weight' has shape"), Error);
  CHECK_THROWS_WITH_AS(load_model_from_bytes(rewrite(model_bytes("lstm"), {{"embedding_dim", "65536"}}), "wide.safetensors"),
                       Contains("wide.safetensors: parameter 'item_embeddings.weight' has shape"), Error);
  CHECK_THROWS_WITH_AS(load_model_from_bytes(rewrite(model_bytes("cnn"), {{"num_layers", "1024"},
                                                                           {"kernel_width", "[4096]"}}),
                                             "deep.safetensors"),
                       Contains("deep.safetensors: parameter 'cnn_0.weight' has shape"), Error);
}
