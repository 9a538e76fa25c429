// Clear errors (docs/reliability.md): each kind of bad input the library
// promises to reject is rejected with a limelight::Error whose message names
// what is wrong (the id, the epoch, the file, the device), never a crash.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "limelight/error.hpp"
#include "limelight/model.hpp"
#include "limelight/model_file.hpp"
#include "limelight/safetensors.hpp"
#include "limelight_config.h"

using namespace limelight;
using doctest::Contains;

namespace {

ModelConfig tiny(const std::string& representation = "pooling") {
  ModelConfig c;
  c.representation = parse_representation(representation);
  c.embedding_dim = 4;
  c.n_iter = 3;
  c.batch_size = 16;
  return c;
}

ImplicitSequenceModel initialized(std::int32_t num_items, const std::string& representation = "pooling") {
  ImplicitSequenceModel m(tiny(representation));
  m.initialize(num_items);
  return m;
}

// A saved model's bytes with some metadata replaced.
std::string with_metadata(const std::string& bytes, const std::map<std::string, std::string>& changes) {
  const io::SafetensorsFile file = io::SafetensorsFile::parse(bytes, "model");
  std::map<std::string, std::string> md = file.metadata();
  for (const auto& [k, v] : changes) md[k] = v;
  std::vector<std::vector<float>> values;
  std::vector<io::WriteEntry> entries;
  for (const std::string& name : file.names()) values.push_back(file.f32(name));
  std::size_t i = 0;
  for (const std::string& name : file.names())
    entries.push_back({name, DType::f32, file.info(name).shape, values[i++].data()});
  return io::serialize_safetensors(entries, md);
}

bool cuda_device_available() {
#if LIMELIGHT_HAVE_CUDA
  try {
    ModelConfig c;
    c.device = "cuda";
    ImplicitSequenceModel probe(c);
    return true;
  } catch (const Error&) {
    return false;
  }
#else
  return false;
#endif
}

}  // namespace

TEST_CASE("errors: item id 0 in interactions is rejected as the padding id, naming the index") {
  Interactions data;
  data.user_ids = {0, 0, 1};
  data.item_ids = {1, 0, 2};
  data.num_users = 2;
  data.num_items = 3;
  CHECK_THROWS_WITH_AS(data.validate(), Contains("item id 0 is reserved for padding (at index 1)"), Error);
  CHECK_THROWS_WITH_AS(data.to_sequence(4), Contains("item id 0"), Error);
}

TEST_CASE("errors: an id beyond the model's catalogue names the id and the catalogue") {
  const ImplicitSequenceModel model = initialized(10);
  const std::vector<std::int32_t> beyond{1, 2, 10};
  CHECK_THROWS_WITH_AS(model.predict(beyond), Contains("item id 10 at position 2 is outside the model's catalogue [0, 10)"),
                       Error);
  CHECK_THROWS_WITH_AS(model.recommend(beyond, 3, true), Contains("item id 10"), Error);
  const std::vector<std::int32_t> negative{-1};
  CHECK_THROWS_WITH_AS(model.predict(negative), Contains("item id -1"), Error);
  const std::vector<std::int32_t> ok{1, 2}, candidates{3, 11};
  CHECK_THROWS_WITH_AS(model.predict(ok, candidates), Contains("predict: item_ids: item id 11"), Error);

  // Training data with more items than an already built model.
  ImplicitSequenceModel small = initialized(5);
  const SequenceInteractions data = generate_sequential(10, 20, 200, 0.1, 2, 1).to_sequence(5);
  CHECK_THROWS_WITH_AS(small.fit(data), Contains("is outside the model's catalogue [0, 5)"), Error);
  CHECK(small.epochs_trained() == 0);
}

TEST_CASE("errors: a representation is one of four names, and only those") {
  for (const char* name : {"pooling", "cnn", "lstm", "mixture"}) {
    CAPTURE(name);
    CHECK(std::string(representation_name(parse_representation(name))) == name);
  }
  CHECK_THROWS_WITH_AS(parse_representation("transformer"),
                       "ImplicitSequenceModel: unknown representation 'transformer' (expected pooling, cnn, lstm or "
                       "mixture)",
                       Error);
  CHECK_THROWS_WITH_AS(parse_representation("LSTM"), Contains("unknown representation 'LSTM'"), Error);
  CHECK_THROWS_WITH_AS(parse_representation(""), Contains("unknown representation ''"), Error);
  ModelConfig cast_in;
  cast_in.representation = static_cast<Representation>(7);
  CHECK_THROWS_WITH_AS(cast_in.validate(), Contains("unknown representation 7"), Error);
}

TEST_CASE("errors: an empty data set") {
  Interactions empty;
  CHECK_THROWS_WITH_AS(empty.validate(), Contains("interactions: empty"), Error);
  ImplicitSequenceModel model(tiny());
  SequenceInteractions none;
  none.max_sequence_length = 5;
  none.num_items = 10;
  CHECK_THROWS_WITH_AS(model.fit(none), Contains("the training data has no sequences"), Error);
  CHECK_FALSE(model.initialized());
  const ImplicitSequenceModel ready = initialized(10);
  CHECK_THROWS_WITH_AS(ready.predict(std::vector<std::int32_t>{}), Contains("predict: the sequence is empty"), Error);
}

TEST_CASE("errors: sequence length has no model limit; an empty or zero-width batch is an error") {
  // No representation caps the sequence length (pooling, cnn, lstm and
  // mixture all run over any length), so a long sequence must be served.
  for (const char* rep : {"pooling", "cnn", "lstm", "mixture"}) {
    CAPTURE(rep);
    const ImplicitSequenceModel model = initialized(50, rep);
    std::vector<std::int32_t> longer(5000);
    for (std::size_t i = 0; i < longer.size(); ++i) longer[i] = static_cast<std::int32_t>(i % 50);
    const std::vector<float> scores = model.predict(longer);
    REQUIRE(scores.size() == 50);
    for (float s : scores) CHECK(std::isfinite(s));
  }
  const ImplicitSequenceModel model = initialized(10);
  float out[10];
  const std::int32_t seq[1] = {1};
  CHECK_THROWS_WITH_AS(model.score_batch(seq, 1, 0, out), Contains("length >= 1"), Error);
}

TEST_CASE("errors: a NaN in training stops fit with an error naming the epoch") {
  const SequenceInteractions data = generate_sequential(20, 30, 400, 0.1, 2, 2).to_sequence(5);
  ImplicitSequenceModel model(tiny());
  model.initialize(data.num_items);
  Tensor& biases = model.parameter("item_biases.weight").value;
  for (std::int64_t i = 0; i < biases.numel(); ++i) biases.f32()[i] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(model.fit(data), Contains("in epoch 0"), Error);

  // After healthy epochs, the epoch named is the one that went bad.
  ImplicitSequenceModel later(tiny());
  later.fit(data);
  REQUIRE(later.epochs_trained() == 3);
  for (Parameter* p : later.parameters())
    if (p->name == "item_biases.weight")
      for (std::int64_t i = 0; i < p->value.numel(); ++i) p->value.f32()[i] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(later.fit(data), Contains("in epoch 3"), Error);
}

TEST_CASE("errors: a model file of another version or representation") {
  const std::string bytes = serialize_model(initialized(6));
  CHECK_THROWS_WITH_AS(load_model_from_bytes(with_metadata(bytes, {{"format", "limelight-model/2"}}), "m2.safetensors"),
                       Contains("m2.safetensors: model format 'limelight-model/2' is not supported"), Error);
  CHECK_THROWS_WITH_AS(load_model_from_bytes(with_metadata(bytes, {{"representation", "transformer"}}), "t.safetensors"),
                       Contains("unknown representation 'transformer'"), Error);
  // A pooling model's parameters under an lstm configuration.
  CHECK_THROWS_WITH_AS(load_model_from_bytes(with_metadata(bytes, {{"representation", "lstm"}}), "l.safetensors"),
                       Contains("l.safetensors: parameter 'lstm.weight_ih_l0' of a lstm model is missing"), Error);
  // Shapes that disagree with the configuration.
  CHECK_THROWS_WITH_AS(load_model_from_bytes(with_metadata(bytes, {{"embedding_dim", "5"}}), "d.safetensors"),
                       Contains("has shape"), Error);
  CHECK_THROWS_WITH_AS(load_model_from_bytes("not a model", "junk.bin"), Contains("junk.bin"), Error);
  CHECK_THROWS_WITH_AS(load_model("/nonexistent/limelight/model.safetensors"),
                       Contains("/nonexistent/limelight/model.safetensors"), Error);
}

TEST_CASE("errors: a device requested that is not there") {
  ModelConfig c = tiny();
  c.device = "tpu";
  CHECK_THROWS_WITH_AS(ImplicitSequenceModel{c}, Contains("unknown device 'tpu' (expected cpu or cuda)"), Error);
  if (cuda_device_available()) return;  // the CUDA case below holds only without a device
  c.device = "cuda";
#if LIMELIGHT_HAVE_CUDA
  // Without a device, or (until the backend is wired in) with one: a clear refusal either way.
  CHECK_THROWS_WITH_AS(ImplicitSequenceModel{c}, Contains("device 'cuda'"), Error);
#else
  CHECK_THROWS_WITH_AS(ImplicitSequenceModel{c}, Contains("device 'cuda' is not available in this build"), Error);
#endif
}

// Needs a GPU backend and a device: reported as skipped everywhere else.
TEST_CASE("errors: running out of device memory is an Error naming the device and the size" *
          doctest::skip(!cuda_device_available())) {
  ModelConfig c = tiny();
  c.device = "cuda";
  c.embedding_dim = 1 << 16;
  ImplicitSequenceModel model(c);
  // 2^31 - 1 items x 65536 floats is far beyond any device's memory.
  CHECK_THROWS_WITH_AS(model.initialize(std::numeric_limits<std::int32_t>::max()), Contains("out of device memory"),
                       Error);
}
