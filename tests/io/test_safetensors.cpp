// Tests of the safetensors reader and writer: every Spotlight fixture reads,
// write/read is bit-exact and deterministic, writes are atomic, and damaged or
// inconsistent files (truncated, bit-flipped, wrong sizes, overlaps, gaps)
// raise an Error that names the source and the problem.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "limelight/error.hpp"
#include "limelight/safetensors.hpp"
#include "tests/support/shared_dir.hpp"
#include "tests/support/temp_dir.hpp"

using limelight::DType;
using limelight::Error;
using limelight::io::SafetensorsFile;
using limelight::io::WriteEntry;
using test_support::TempDir;
namespace fs = std::filesystem;

namespace {

fs::path fixtures_dir() {
  return fs::path(test_support::shared_dir()) / "fixtures" / "spotlight";
}


std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A file from a raw header and data section; the header is used as given.
std::string make_file(const std::string& header, const std::string& data) {
  std::string out;
  std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out += static_cast<char>((n >> (8 * i)) & 0xFF);
  return out + header + data;
}

// The message of the Error that parsing `bytes` throws, or "" if it parses.
std::string safetensors_error(const std::string& bytes, const std::string& source = "mem.safetensors") {
  try {
    SafetensorsFile::parse(bytes, source);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

struct Sample {
  std::vector<float> weights{1.5f, -0.0f, 3.25e-7f, 1e30f, -2.0f, 0.1f};
  std::vector<float> bias{0.25f};
  std::vector<std::int64_t> ids{0, 7, -3, 1LL << 40};
  std::vector<std::int32_t> small{5, -6, 2147483647};
  std::vector<WriteEntry> entries() const {
    return {
        {"w", DType::f32, {2, 3}, weights.data()},
        {"b", DType::f32, {1}, bias.data()},
        {"ids", DType::i64, {2, 2}, ids.data()},
        {"small", DType::i32, {3}, small.data()},
        {"empty", DType::f32, {0, 4}, nullptr},
    };
  }
  std::map<std::string, std::string> metadata() const {
    return {{"representation", "pooling"}, {"kernel_width", "[3,5]"}, {"quote\"d", "caf\xc3\xa9\n"}};
  }
};

const char* const fixture_names[] = {
    "case_pooling.safetensors",
    "case_lstm.safetensors",
    "case_mixture.safetensors",
    "case_cnn_k3_l1_tanh_res.safetensors",
    "case_cnn_k3x5_d1x2_l2_relu_res.safetensors",
    "case_cnn_k2_d1_l2_tanh_nores.safetensors",
    "dataset_synthetic.safetensors",
    "metrics.safetensors",
};

}  // namespace

TEST_CASE("safetensors: every fixture file reads and is laid out as documented") {
  for (const char* name : fixture_names) {
    CAPTURE(name);
    const fs::path path = fixtures_dir() / name;
    SafetensorsFile file = SafetensorsFile::open(path.string());
    CHECK(file.source() == path.string());
    REQUIRE_FALSE(file.names().empty());
    std::string bytes = read_all(path);
    std::uint64_t header_len = 0;
    std::memcpy(&header_len, bytes.data(), 8);
    CHECK((8 + header_len) % 8 == 0);
    std::size_t int_end = 0, float_begin = SIZE_MAX;
    for (const std::string& t : file.names()) {
      CAPTURE(t);
      const auto& info = file.info(t);
      std::int64_t numel = 1;
      for (auto d : info.shape) numel *= d;
      if (info.dtype == DType::f32) {
        CHECK(static_cast<std::int64_t>(file.f32(t).size()) == numel);
        float_begin = std::min(float_begin, info.begin);
      } else {
        CHECK(info.dtype == DType::i64);
        CHECK(static_cast<std::int64_t>(file.i64(t).size()) == numel);
        int_end = std::max(int_end, info.end);
      }
    }
    CHECK(int_end <= float_begin);  // I64 tensors come first
  }
}

TEST_CASE("safetensors: case_pooling contents") {
  SafetensorsFile file = SafetensorsFile::open((fixtures_dir() / "case_pooling.safetensors").string());
  CHECK(file.metadata().at("representation") == "pooling");
  CHECK(file.metadata().at("num_items") == "50");
  CHECK_FALSE(file.contains("__metadata__"));
  const auto& emb = file.info("item_embeddings.weight");
  CHECK(emb.dtype == DType::f32);
  CHECK(emb.shape == std::vector<std::int64_t>{50, 8});
  std::vector<float> weights = file.f32("item_embeddings.weight");
  REQUIRE(weights.size() == 400);
  for (int k = 0; k < 8; ++k) CHECK(weights[static_cast<std::size_t>(k)] == 0.0f);  // padding row
  CHECK(weights[8] != 0.0f);

  const auto& seq = file.info("input.sequences");
  CHECK(seq.dtype == DType::i64);
  CHECK(seq.shape == std::vector<std::int64_t>{4, 6});
  std::vector<std::int64_t> ids = file.i64("input.sequences");
  REQUIRE(ids.size() == 24);
  for (int l = 0; l < 5; ++l) CHECK(ids[12 + static_cast<std::size_t>(l)] == 0);  // row 2: one item
  CHECK(ids[17] > 0);
  CHECK(ids[17] < 50);

  limelight::Tensor t = file.tensor("input.sequences");
  CHECK(t.dtype() == DType::i32);
  CHECK(t.shape() == limelight::Shape{4, 6});
  for (std::size_t i = 0; i < ids.size(); ++i) CHECK(t.i32()[i] == ids[i]);
  limelight::Tensor w = file.tensor("item_embeddings.weight");
  CHECK(w.dtype() == DType::f32);
  CHECK(w.shape() == limelight::Shape{50, 8});
  CHECK(w.to_vector() == weights);

  CHECK_THROWS_WITH_AS(file.info("nope"), doctest::Contains("case_pooling.safetensors"), Error);
  CHECK_THROWS_WITH_AS(file.info("nope"), doctest::Contains("nope"), Error);
  CHECK_THROWS_WITH_AS(file.f32("input.sequences"), doctest::Contains("not F32"), Error);
  CHECK_THROWS_WITH_AS(file.i64("item_embeddings.weight"), doctest::Contains("not I64"), Error);
}

TEST_CASE("safetensors: write/read round trip is bit-exact") {
  TempDir dir;
  Sample s;
  const std::string path = (dir.path / "model.safetensors").string();
  limelight::io::write_safetensors(path, s.entries(), s.metadata());
  CHECK(dir.entries() == std::vector<std::string>{"model.safetensors"});
  SafetensorsFile file = SafetensorsFile::open(path);
  CHECK(file.metadata() == s.metadata());
  CHECK(file.names() == std::vector<std::string>{"b", "empty", "ids", "small", "w"});

  std::vector<float> w = file.f32("w");
  REQUIRE(w.size() == s.weights.size());
  CHECK(std::memcmp(w.data(), s.weights.data(), w.size() * sizeof(float)) == 0);
  CHECK(std::signbit(w[1]));
  CHECK(file.info("w").shape == std::vector<std::int64_t>{2, 3});
  CHECK(file.f32("b") == s.bias);
  CHECK(file.i64("ids") == s.ids);
  CHECK(file.info("ids").dtype == DType::i64);
  CHECK(file.info("small").dtype == DType::i32);
  CHECK(file.i64("small") == std::vector<std::int64_t>{5, -6, 2147483647});
  CHECK(file.f32("empty").empty());
  CHECK(file.info("empty").shape == std::vector<std::int64_t>{0, 4});

  // Layout: integer tensors first, each group sorted by name, data 8-byte aligned.
  CHECK(file.info("ids").begin == 0);
  CHECK(file.info("small").begin == file.info("ids").end);
  CHECK(file.info("b").begin == file.info("small").end);
  CHECK(file.info("empty").begin == file.info("b").end);
  CHECK(file.info("w").begin == file.info("empty").end);
  std::string bytes = read_all(path);
  std::uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  CHECK((8 + header_len) % 8 == 0);
  CHECK(bytes == limelight::io::serialize_safetensors(s.entries(), s.metadata()));

  // tensor(): i64 values that do not fit in int32 are refused.
  CHECK_THROWS_WITH_AS(file.tensor("ids"), doctest::Contains("does not fit in int32"), Error);
  CHECK(file.tensor("small").i32()[2] == 2147483647);
}

TEST_CASE("safetensors: serialize is deterministic") {
  Sample s;
  std::vector<WriteEntry> entries = s.entries();
  std::string a = limelight::io::serialize_safetensors(entries, s.metadata());
  std::string b = limelight::io::serialize_safetensors(entries, s.metadata());
  std::vector<WriteEntry> reversed(entries.rbegin(), entries.rend());
  std::string c = limelight::io::serialize_safetensors(reversed, s.metadata());
  CHECK(a == b);
  CHECK(a == c);
  // Re-serializing what was read gives the same bytes.
  SafetensorsFile file = SafetensorsFile::parse(a, "a");
  std::vector<std::vector<float>> floats;
  std::vector<std::vector<std::int64_t>> ints;
  std::vector<std::vector<std::int32_t>> narrow;
  floats.reserve(8);
  ints.reserve(8);
  narrow.reserve(8);
  std::vector<WriteEntry> again;
  for (const std::string& name : file.names()) {
    const auto& info = file.info(name);
    const void* data = nullptr;
    if (info.dtype == DType::f32) {
      data = floats.emplace_back(file.f32(name)).data();
    } else if (info.dtype == DType::i64) {
      data = ints.emplace_back(file.i64(name)).data();
    } else {
      auto wide = file.i64(name);
      data = narrow.emplace_back(wide.begin(), wide.end()).data();
    }
    again.push_back({name, info.dtype, info.shape, data});
  }
  CHECK(limelight::io::serialize_safetensors(again, file.metadata()) == a);
  // No metadata: no __metadata__ key at all.
  std::string bare = limelight::io::serialize_safetensors(entries, {});
  CHECK(bare.find("__metadata__") == std::string::npos);
  CHECK(SafetensorsFile::parse(bare, "bare").metadata().empty());
  std::string nothing = limelight::io::serialize_safetensors({}, {});
  CHECK(SafetensorsFile::parse(nothing, "nothing").names().empty());
}

TEST_CASE("safetensors: a fixture survives a rewrite bit-exactly") {
  SafetensorsFile src = SafetensorsFile::open((fixtures_dir() / "case_lstm.safetensors").string());
  std::vector<std::vector<float>> floats;
  std::vector<std::vector<std::int64_t>> ints;
  floats.reserve(src.names().size());
  ints.reserve(src.names().size());
  std::vector<WriteEntry> entries;
  for (const std::string& name : src.names()) {
    const auto& info = src.info(name);
    const void* data = info.dtype == DType::f32 ? static_cast<const void*>(floats.emplace_back(src.f32(name)).data())
                                                : static_cast<const void*>(ints.emplace_back(src.i64(name)).data());
    entries.push_back({name, info.dtype, info.shape, data});
  }
  SafetensorsFile copy = SafetensorsFile::parse(limelight::io::serialize_safetensors(entries, src.metadata()), "copy");
  CHECK(copy.metadata() == src.metadata());
  REQUIRE(copy.names() == src.names());
  for (const std::string& name : src.names()) {
    CAPTURE(name);
    CHECK(copy.info(name).shape == src.info(name).shape);
    CHECK(copy.info(name).dtype == src.info(name).dtype);
    if (src.info(name).dtype == DType::f32) {
      auto a = src.f32(name), b = copy.f32(name);
      REQUIRE(a.size() == b.size());
      CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
    } else {
      CHECK(src.i64(name) == copy.i64(name));
    }
  }
}

TEST_CASE("safetensors: truncated files are rejected") {
  Sample s;
  const std::string bytes = limelight::io::serialize_safetensors(s.entries(), s.metadata());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    CAPTURE(n);
    std::string message = safetensors_error(bytes.substr(0, n), "cut.safetensors");
    CHECK(message.find("cut.safetensors") != std::string::npos);
  }
  CHECK(safetensors_error(bytes.substr(0, 5)).find("shorter than the 8-byte header length") != std::string::npos);
  CHECK(safetensors_error(bytes.substr(0, 40)).find("larger than") != std::string::npos);
  // Cut inside the data: the last tensor now runs past the end.
  CHECK(safetensors_error(bytes.substr(0, bytes.size() - 4)).find("past the end of the data section") != std::string::npos);
  TempDir dir;
  const fs::path path = dir.path / "short.safetensors";
  std::ofstream(path, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  CHECK_THROWS_WITH_AS(SafetensorsFile::open(path.string()), doctest::Contains("short.safetensors"), Error);
}

TEST_CASE("safetensors: bit flips in the header never crash") {
  Sample s;
  const std::string bytes = limelight::io::serialize_safetensors(s.entries(), s.metadata());
  std::uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  std::size_t rejected = 0, accepted = 0;
  for (std::size_t i = 0; i < 8 + header_len; ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string damaged = bytes;
      damaged[i] = static_cast<char>(damaged[i] ^ (1 << bit));
      try {
        SafetensorsFile f = SafetensorsFile::parse(damaged, "flip");
        // A flip that keeps the file valid (a renamed tensor, say) must still read consistently.
        for (const std::string& name : f.names()) {
          if (f.info(name).dtype == DType::f32) f.f32(name);
          else f.i64(name);
        }
        ++accepted;
      } catch (const Error& e) {
        CHECK(std::string(e.what()).find("flip") == 0);
        ++rejected;
      }
    }
  }
  CHECK(rejected > 0);
  CHECK(rejected > accepted);
}

TEST_CASE("safetensors: random damage never crashes or reads out of bounds") {
  Sample s;
  const std::string bytes = limelight::io::serialize_safetensors(s.entries(), s.metadata());
  std::mt19937 rng(12345);
  std::size_t rejected = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string damaged = bytes;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits; ++k) {
      std::size_t at = rng() % damaged.size();
      switch (rng() % 3) {
        case 0: damaged[at] = static_cast<char>(rng()); break;
        case 1: damaged.erase(at, 1 + rng() % 8); break;
        default: {
          static const std::string alphabet = "{}[]\\\",:0123456789e-";
          damaged.insert(damaged.begin() + static_cast<std::ptrdiff_t>(at), alphabet[rng() % alphabet.size()]);
          break;
        }
      }
      if (damaged.empty()) damaged.push_back('x');
    }
    try {
      SafetensorsFile f = SafetensorsFile::parse(damaged, "fuzz");
      for (const std::string& name : f.names()) {
        if (f.info(name).dtype == DType::f32) f.f32(name);
        else f.i64(name);
      }
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find("fuzz") == 0);
      ++rejected;
    }
  }
  CHECK(rejected > 2000);
}

TEST_CASE("safetensors: inconsistent headers are rejected with a clear message") {
  const std::string data16(16, '\0');
  struct Case {
    std::string header;
    std::string data;
    const char* message;
  };
  const Case cases[] = {
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,12]}})", std::string(12, '\0'), "needs 8"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
       std::string(12, '\0'), "overlaps"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})",
       data16, "not covered"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", data16, "[8, 16) are not covered"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", data16, "[0, 8) are not covered"},
      {R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", std::string(4, '\0'), "unknown dtype"},
      {R"({"a":{"dtype":7,"shape":[2],"data_offsets":[0,8]}})", std::string(8, '\0'), "dtype is not a string"},
      {R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", std::string(8, '\0'), "non-negative integers"},
      {R"({"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", std::string(8, '\0'), "non-negative integers"},
      {R"({"a":{"dtype":"F32","shape":"2","data_offsets":[0,8]}})", std::string(8, '\0'), "not a list"},
      {R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}})",
       std::string(8, '\0'), "too many elements"},
      {R"({"a":{"dtype":"I64","shape":[2305843009213693952],"data_offsets":[0,8]}})", std::string(8, '\0'),
       "too many elements"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", std::string(8, '\0'), "two non-negative integers"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", std::string(8, '\0'), "two non-negative"},
      {R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", std::string(8, '\0'), "begin > end"},
      {R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", std::string(8, '\0'), "past the end"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551615]}})", std::string(8, '\0'),
       "two non-negative integers"},
      {R"({"a":{"dtype":"F32","shape":[2]}})", std::string(8, '\0'), "missing \"data_offsets\""},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", std::string(8, '\0'), "unexpected field"},
      {R"({"a":[1]})", "", "not an object"},
      {R"({"__metadata__":{"k":5}})", "", "not a string"},
      {R"({"__metadata__":"k"})", "", "__metadata__ is not an object"},
      {R"([1,2])", "", "header is not a JSON object (found array)"},
      {R"({"a":)", "", "not valid JSON"},
      {R"({"a":{}} x)", "", "not valid JSON"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.header);
    std::string message = safetensors_error(make_file(c.header, c.data), "bad.safetensors");
    CHECK(message.find("bad.safetensors") == 0);
    CHECK(message.find(c.message) != std::string::npos);
  }
  // The header length itself.
  std::string absurd = make_file("{}", "");
  absurd[5] = 1;  // 2^40 + 2
  CHECK(safetensors_error(absurd).find("absurd") != std::string::npos);
  std::string longer = make_file("{}", "");
  longer[0] = 3;
  CHECK(safetensors_error(longer).find("larger than") != std::string::npos);
  // Valid edge cases: trailing spaces, zero-size tensors, no tensors at all.
  CHECK(safetensors_error(make_file("{}  ", "")).empty());
  CHECK(safetensors_error(make_file(R"({"z":{"dtype":"I32","shape":[0,3],"data_offsets":[0,0]}})", "")).empty());
  CHECK(safetensors_error(make_file(R"({"s":{"dtype":"I32","shape":[],"data_offsets":[0,4]}})", std::string(4, '\0')))
            .empty());
}

TEST_CASE("safetensors: tensor() refuses ranks a Tensor cannot hold") {
  std::string bytes =
      make_file(R"({"r5":{"dtype":"F32","shape":[1,1,1,1,1],"data_offsets":[0,4]}})", std::string(4, '\0'));
  SafetensorsFile file = SafetensorsFile::parse(bytes, "rank.safetensors");
  CHECK(file.f32("r5").size() == 1);
  CHECK_THROWS_WITH_AS(file.tensor("r5"), doctest::Contains("rank 5"), Error);
}

TEST_CASE("safetensors: serialize rejects bad entries") {
  float x = 1.0f;
  using limelight::io::serialize_safetensors;
  CHECK_THROWS_WITH_AS(serialize_safetensors({{"a", DType::f32, {1}, &x}, {"a", DType::f32, {1}, &x}}, {}),
                       doctest::Contains("duplicate tensor name"), Error);
  CHECK_THROWS_WITH_AS(serialize_safetensors({{"__metadata__", DType::f32, {1}, &x}}, {}),
                       doctest::Contains("__metadata__"), Error);
  CHECK_THROWS_WITH_AS(serialize_safetensors({{"a", DType::f32, {-1}, &x}}, {}), doctest::Contains("negative"),
                       Error);
  CHECK_THROWS_WITH_AS(serialize_safetensors({{"a", DType::f32, {2}, nullptr}}, {}), doctest::Contains("no data"),
                       Error);
}

TEST_CASE("safetensors: open errors name the path") {
  TempDir dir;
  const std::string missing = (dir.path / "missing.safetensors").string();
  CHECK_THROWS_WITH_AS(SafetensorsFile::open(missing), doctest::Contains("missing.safetensors"), Error);
  CHECK_THROWS_WITH_AS(SafetensorsFile::open(dir.path.string()), doctest::Contains("not a regular file"), Error);
}

TEST_CASE("safetensors: writes are atomic") {
  TempDir dir;
  Sample s;
  SUBCASE("a path in a missing directory throws and leaves nothing behind") {
    const fs::path target = dir.path / "no_such_dir" / "model.safetensors";
    CHECK_THROWS_WITH_AS(limelight::io::write_safetensors(target.string(), s.entries(), s.metadata()),
                         doctest::Contains("model.safetensors"), Error);
    CHECK_FALSE(fs::exists(target.parent_path()));
    CHECK(dir.entries().empty());
  }
  SUBCASE("overwriting replaces the file whole") {
    const std::string path = (dir.path / "model.safetensors").string();
    std::vector<float> big(10000, 2.0f);
    limelight::io::write_safetensors(path, {{"big", DType::f32, {100, 100}, big.data()}}, {{"k", "old"}});
    limelight::io::write_safetensors(path, s.entries(), s.metadata());
    CHECK(read_all(path) == limelight::io::serialize_safetensors(s.entries(), s.metadata()));
    SafetensorsFile file = SafetensorsFile::open(path);
    CHECK_FALSE(file.contains("big"));
    CHECK(file.metadata().at("representation") == "pooling");
    CHECK(dir.entries() == std::vector<std::string>{"model.safetensors"});
  }
  SUBCASE("a failing serialize leaves the old file untouched") {
    const std::string path = (dir.path / "model.safetensors").string();
    limelight::io::write_safetensors(path, s.entries(), s.metadata());
    const std::string before = read_all(path);
    float x = 0.0f;
    CHECK_THROWS_AS(limelight::io::write_safetensors(path, {{"a", DType::f32, {2}, nullptr}, {"b", DType::f32, {1}, &x}},
                                                     {}),
                    Error);
    CHECK(read_all(path) == before);
    CHECK(dir.entries() == std::vector<std::string>{"model.safetensors"});
  }
  SUBCASE("renaming onto a directory fails and removes the temporary") {
    const fs::path target = dir.path / "occupied";
    fs::create_directories(target / "inside");
    CHECK_THROWS_WITH_AS(limelight::io::write_safetensors(target.string(), s.entries(), s.metadata()),
                         doctest::Contains("rename failed"), Error);
    CHECK(dir.entries() == std::vector<std::string>{"occupied"});
  }
}
