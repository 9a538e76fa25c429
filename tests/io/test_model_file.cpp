// Model files: save -> load -> predict round-trips bit-exactly; truncated,
// bit-flipped and mismatched files are refused with errors that say why.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "limelight/model_file.hpp"
#include "limelight/safetensors.hpp"
#include "tests/support/small_models.hpp"

using namespace limelight;

namespace {

ImplicitSequenceModel trained(const std::string& representation) {
  ModelConfig c = test_support::quick_bpr_config(representation, 16);
  c.cnn.kernel_width = {3, 2};
  c.cnn.dilation = {1, 2};
  c.cnn.num_layers = 2;
  c.num_mixtures = 3;
  ImplicitSequenceModel m(c);
  Interactions data = generate_sequential(30, 40, 1500, 0.05, 2, 3);
  m.fit(data.to_sequence(8));
  return m;
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("limelight_test_" + name)).string();
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

}  // namespace

TEST_CASE("model file: save, load and predict round-trip bit-exactly for every representation") {
  for (const char* rep : {"pooling", "cnn", "lstm", "mixture"}) {
    CAPTURE(rep);
    ImplicitSequenceModel m = trained(rep);
    std::vector<std::string> labels;
    for (int i = 0; i < m.num_items(); ++i) labels.push_back(i == 0 ? "" : "item-" + std::to_string(i * 7));
    const std::string path = temp_path(std::string(rep) + ".safetensors");
    save_model(path, m, labels);
    LoadedModel back = load_model(path);
    CHECK(back.item_labels == labels);
    CHECK(std::string(representation_name(back.model.config().representation)) == rep);
    auto a = m.parameters();
    auto b = back.model.parameters();
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      CHECK(a[i]->name == b[i]->name);
      CHECK(same_bits(a[i]->value, b[i]->value));
    }
    const std::vector<std::int32_t> seq = {3, 9, 27, 14, 5};
    const std::vector<float> p1 = m.predict(seq), p2 = back.model.predict(seq);
    CHECK(std::memcmp(p1.data(), p2.data(), p1.size() * sizeof(float)) == 0);
    // Writing the loaded model again gives the same bytes.
    CHECK(serialize_model(back.model, back.item_labels) == serialize_model(m, labels));
    std::filesystem::remove(path);
  }
}

TEST_CASE("model file: truncated files are refused at every cut") {
  ImplicitSequenceModel m = trained("lstm");
  const std::string bytes = serialize_model(m);
  int refused = 0, cuts = 0;
  for (std::size_t cut = 0; cut < bytes.size(); cut += 1 + bytes.size() / 97) {
    ++cuts;
    try {
      load_model_from_bytes(bytes.substr(0, cut), "cut.safetensors");
    } catch (const Error& e) {
      ++refused;
      CHECK(std::string(e.what()).find("cut.safetensors") != std::string::npos);
    }
  }
  CHECK(refused == cuts);
}

TEST_CASE("model file: a flipped bit anywhere is refused") {
  ImplicitSequenceModel m = trained("cnn");
  const std::string bytes = serialize_model(m);
  std::uint64_t header = 0;
  std::memcpy(&header, bytes.data(), 8);
  int refused = 0, flips = 0;
  bool data_message = false;
  // Every bit of the header length, a spread of header bits, and a spread of data bits.
  std::vector<std::size_t> bits;
  for (std::size_t b = 0; b < 64; ++b) bits.push_back(b);
  for (std::size_t b = 64; b < (8 + header) * 8; b += 61) bits.push_back(b);
  for (std::size_t b = (8 + header) * 8; b < bytes.size() * 8; b += 173) bits.push_back(b);
  for (std::size_t bit : bits) {
    std::string flipped = bytes;
    flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
    ++flips;
    try {
      load_model_from_bytes(flipped, "flip.safetensors");
      MESSAGE("accepted a flip of bit ", bit, " (byte ", bit / 8, ", header ends at ", 8 + header, ")");
    } catch (const Error& e) {
      ++refused;
      if (bit >= (8 + header) * 8 && std::string(e.what()).find("the file is corrupt") != std::string::npos)
        data_message = true;
    }
  }
  CHECK(refused == flips);
  CHECK(data_message);
}

TEST_CASE("model file: mismatched files are refused naming the problem") {
  ImplicitSequenceModel m = trained("lstm");
  std::vector<io::WriteEntry> entries;
  std::map<std::string, std::string> md;
  const std::string bytes = serialize_model(m);
  io::SafetensorsFile file = io::SafetensorsFile::parse(bytes, "good");
  md = file.metadata();
  md.erase("limelight_crc32");
  md.erase("format");  // as a file written from PyTorch: no format tag, no checksum
  std::map<std::string, std::vector<float>> values;
  for (const Parameter* p : m.parameters()) values[p->name] = p->value.to_vector();
  auto build = [&](const std::map<std::string, std::string>& metadata, const std::string& skip,
                   const std::string& reshape) {
    std::vector<io::WriteEntry> e;
    std::vector<std::int64_t> odd = {3, 3};
    for (const Parameter* p : m.parameters()) {
      if (p->name == skip) continue;
      if (p->name == reshape)
        e.push_back({p->name, DType::f32, odd, values[p->name].data()});
      else
        e.push_back({p->name, DType::f32, p->value.shape().to_vector(), values[p->name].data()});
    }
    return io::serialize_safetensors(e, metadata);
  };
  CHECK_NOTHROW(load_model_from_bytes(build(md, "", ""), "plain"));
  CHECK_THROWS_WITH_AS(load_model_from_bytes(build(md, "lstm.weight_hh_l0", ""), "m"),
                       doctest::Contains("parameter 'lstm.weight_hh_l0' of a lstm model is missing"), Error);
  CHECK_THROWS_WITH_AS(load_model_from_bytes(build(md, "", "lstm.bias_ih_l0"), "m"),
                       doctest::Contains("'lstm.bias_ih_l0' has shape (3, 3), expected (32)"), Error);
  auto other = md;
  other["representation"] = "mixture";
  other["num_mixtures"] = "2";
  CHECK_THROWS_WITH_AS(load_model_from_bytes(build(other, "", ""), "m"), doctest::Contains("projection.weight"),
                       Error);
  other = md;
  other["embedding_dim"] = "16";
  CHECK_THROWS_WITH_AS(load_model_from_bytes(build(other, "", ""), "m"),
                       doctest::Contains("'item_embeddings.weight' has shape (40, 8), expected (40, 16)"), Error);
  other = md;
  other["format"] = "limelight-model/2";
  CHECK_THROWS_WITH_AS(load_model_from_bytes(build(other, "", ""), "m"),
                       doctest::Contains("model format 'limelight-model/2' is not supported"), Error);
  other = md;
  other["representation"] = "transformer";
  CHECK_THROWS_WITH_AS(load_model_from_bytes(build(other, "", ""), "m"), doctest::Contains("unknown representation"),
                       Error);
  other = md;
  other["limelight_crc32"] = "12345";
  CHECK_THROWS_WITH_AS(load_model_from_bytes(build(other, "", ""), "m"), doctest::Contains("the file is corrupt"),
                       Error);
}

TEST_CASE("model file: writing is atomic") {
  ImplicitSequenceModel m = trained("pooling");
  const std::string path = temp_path("atomic.safetensors");
  save_model(path, m);
  const std::string before = serialize_model(m);
  // A failed save (unwritable location) leaves nothing behind and the old file intact.
  CHECK_THROWS_AS(save_model(temp_path("no/such/dir/model.safetensors"), m), Error);
  CHECK_FALSE(std::filesystem::exists(temp_path("no")));
  std::ifstream in(path, std::ios::binary);
  std::string on_disk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(on_disk == before);
  std::filesystem::remove(path);
}
