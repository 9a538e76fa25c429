// Recording and finding a model's training data (see training_data.hpp).
#include "cli/training_data.hpp"

#include <filesystem>
#include <fstream>
#include <memory>

#include <xxhash.h>

#include "io/json.hpp"
#include "limelight/error.hpp"

namespace limelight::cli {

namespace fs = std::filesystem;

namespace {

// Feeds `consume` the file's bytes a megabyte at a time; returns the size.
template <class Consume>
std::uintmax_t read_file_bytes(const std::string& path, Consume&& consume) {
  std::ifstream in(path, std::ios::binary);
  LL_CHECK(in.good(), path, ": cannot open file");
  std::vector<char> buf(1 << 20);
  std::uintmax_t size = 0;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = static_cast<std::size_t>(in.gcount());
    consume(buf.data(), n);
    size += n;
  }
  LL_CHECK(!in.bad(), path, ": read error");
  return size;
}

std::string hex16(std::uint64_t h) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

}  // namespace

std::string recorded_hash_key(const json::Value& record) {
  for (const char* key : {xxh3_64_key, fnv1a64_key})
    if (record.find(key) != nullptr) return key;
  ::limelight::detail::fail("the training-data record has no file hash (", xxh3_64_key, " or ", fnv1a64_key, ")");
}

std::string file_hash(const std::string& path, const std::string& algorithm, std::uintmax_t& size) {
  if (algorithm == fnv1a64_key) {
    std::uint64_t h = 0xcbf29ce484222325ull;
    size = read_file_bytes(path, [&](const char* p, std::size_t n) {
      for (std::size_t i = 0; i < n; ++i) h = (h ^ static_cast<unsigned char>(p[i])) * 0x100000001b3ull;
    });
    return hex16(h);
  }
  LL_CHECK(algorithm == xxh3_64_key, "unknown file hash '", algorithm, "'");
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state(XXH3_createState(), &XXH3_freeState);
  LL_CHECK(state && XXH3_64bits_reset(state.get()) == XXH_OK, "cannot set up the XXH3 hash state");
  size = read_file_bytes(path, [&](const char* p, std::size_t n) { XXH3_64bits_update(state.get(), p, n); });
  return hex16(XXH3_64bits_digest(state.get()));
}

std::string training_data_json(const TrainingData& data) {
  const DataSpec& s = data.spec;
  json::Value o = json::Value::object();
  o.set("loader", json::Value(s.loader));
  if (s.loader == "synthetic") {
    o.set("users", json::Value(s.users))
        .set("items", json::Value(s.items))
        .set("interactions", json::Value(s.interactions))
        .set("concentration", json::Value(s.concentration))
        .set("order", json::Value(s.order))
        .set("seed", json::Value(s.seed));
  } else {
    std::uintmax_t size = 0;
    const std::string hash = file_hash(s.path, xxh3_64_key, size);
    std::error_code ec;
    const fs::path absolute = fs::absolute(s.path, ec);
    o.set("file", json::Value(fs::path(s.path).filename().string()))
        .set("path", json::Value(ec ? s.path : absolute.lexically_normal().string()))
        .set("size", json::Value(static_cast<std::uint64_t>(size)))
        .set(xxh3_64_key, json::Value(hash));
    if (s.loader == "delimited") {
      const DelimitedOptions& d = s.delimited;
      o.set("user", json::Value(d.user_column))
          .set("item", json::Value(d.item_column))
          .set("timestamp", json::Value(d.timestamp_column))
          .set("delimiter", json::Value(std::string(1, d.delimiter)))
          .set("header", json::Value(d.header));
    }
  }
  o.set("max_sequence_length", json::Value(data.windows.max_length))
      .set("min_sequence_length", json::Value(data.windows.min_length))
      .set("step_size", json::Value(data.windows.step))
      .set("test_fraction", json::Value(data.test_fraction))
      .set("split_seed", json::Value(data.split_seed));
  return json::dump(o);
}

TrainingData parse_training_data(const std::string& json_text, const std::string& model_path) {
  TrainingData t;
  try {
    const json::Value o = json::parse(json_text);
    DataSpec& s = t.spec;
    s.loader = o.at("loader").as_string();
    if (s.loader == "synthetic") {
      s.users = static_cast<std::int32_t>(o.at("users").as_int());
      s.items = static_cast<std::int32_t>(o.at("items").as_int());
      s.interactions = o.at("interactions").as_int();
      s.concentration = o.at("concentration").as_double();
      s.order = static_cast<int>(o.at("order").as_int());
      s.seed = static_cast<std::uint64_t>(o.at("seed").as_int());
    } else {
      LL_CHECK(s.loader == "movielens" || s.loader == "delimited", "unknown loader '", s.loader, "'");
      s.path = o.at("path").as_string();
      if (s.loader == "delimited") {
        s.delimited.user_column = o.at("user").as_string();
        s.delimited.item_column = o.at("item").as_string();
        s.delimited.timestamp_column = o.at("timestamp").as_string();
        const std::string& d = o.at("delimiter").as_string();
        LL_CHECK(d.size() == 1, "delimiter '", d, "' is not one character");
        s.delimited.delimiter = d[0];
        s.delimited.header = o.at("header").as_bool();
      }
    }
    t.windows.max_length = static_cast<int>(o.at("max_sequence_length").as_int());
    t.windows.min_length = static_cast<int>(o.at("min_sequence_length").as_int());
    t.windows.step = static_cast<int>(o.at("step_size").as_int());
    t.test_fraction = o.at("test_fraction").as_double();
    t.split_seed = static_cast<std::uint64_t>(o.at("split_seed").as_int());
  } catch (const Error& e) {
    detail::fail(model_path, ": metadata '", training_data_key, "' is malformed: ", e.what());
  }
  return t;
}

namespace {

const char* data_options_hint =
    "--movielens PATH, --csv PATH (with --user, --item, --timestamp), or --synthetic with its --synthetic-* options";

// Error unless the recorded file is still there with the recorded size and hash.
void check_unchanged(const std::string& record_text, const TrainingData& t, const std::string& model_path,
                     const std::string& command) {
  if (t.spec.loader == "synthetic") return;  // regenerated from its options
  const json::Value o = json::parse(record_text);
  const std::string& path = t.spec.path;
  std::error_code ec;
  LL_CHECK(fs::is_regular_file(path, ec), command, ": ", model_path, " was trained on ", path,
           ", which is not there any more; give the data: ", data_options_hint);
  const std::string algorithm = recorded_hash_key(o);
  const std::string& recorded_hash = o.at(algorithm).as_string();
  std::uintmax_t size = 0;
  const std::string hash = file_hash(path, algorithm, size);
  const auto recorded_size = static_cast<std::uintmax_t>(o.at("size").as_int());
  LL_CHECK(size == recorded_size && hash == recorded_hash, command, ": ", model_path,
           " was trained on ", path, ", which has changed since (", size, " bytes, hash ", hash, "; recorded ",
           recorded_size, " bytes, hash ", recorded_hash, "); give the data: ", data_options_hint);
}

}  // namespace

ModelData data_for_model(const Args& args, const LoadedModel& loaded, const std::string& model_path,
                         const std::string& command, double default_test_fraction,
                         const std::string& user_option) {
  ModelData out;
  const auto it = loaded.metadata.find(training_data_key);
  const bool has_record = it != loaded.metadata.end();
  TrainingData recorded;
  if (has_record) recorded = parse_training_data(it->second, model_path);
  const std::uint64_t model_seed = has_record ? recorded.split_seed : loaded.model.config().seed;
  out.seed = static_cast<std::uint64_t>(args.integer("seed", static_cast<std::int64_t>(model_seed)));
  out.windows = sequence_windows(args, has_record ? recorded.windows : SequenceWindows{});
  out.test_fraction = args.number("test-fraction", has_record ? recorded.test_fraction : default_test_fraction);
  if (has_data_options(args)) {
    out.data = load_dataset(data_spec(args, out.seed, user_option));
    return out;
  }
  LL_CHECK(has_record, command, ": ", model_path,
           " records no training data (it was not written by limelight fit); give the data: ", data_options_hint);
  check_unchanged(it->second, recorded, model_path, command);
  out.data = load_dataset(recorded.spec);
  out.recorded = true;
  return out;
}

}  // namespace limelight::cli
