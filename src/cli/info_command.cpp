// `limelight info`: what a model file holds, its configuration, item ids and
// parameter shapes, after the same checks load_model makes.
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>

#include "cli/args.hpp"
#include "cli/commands.hpp"
#include "cli/training_data.hpp"
#include "io/json.hpp"
#include "limelight/error.hpp"
#include "limelight/model_file.hpp"

namespace limelight::cli {

namespace {

// Configuration entries in display order; only those the file holds are shown.
const char* const config_keys[] = {"representation", "num_items", "embedding_dim", "padding_idx", "loss", "n_iter",
                                   "batch_size", "l2", "learning_rate", "lr", "optimizer", "sparse", "seed",
                                   "num_negative_samples", "num_layers", "kernel_width", "dilation", "nonlinearity",
                                   "residual_connections", "num_mixtures"};
// Entries shown in their own sections, or internal to the format.
const char* const special_keys[] = {"format", "device", "threads", "param_order", "param_shapes", "item_ids",
                                    "limelight_crc32", "training_data", "optimizer_steps", "rng_state",
                                    "epochs_trained"};

bool is_one_of(const std::string& key, const char* const* keys, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (key == keys[i]) return true;
  return false;
}

// A stored value as JSON: the value it encodes when it parses, else the string.
json::Value stored_value(const std::string& text) {
  try {
    return json::parse(text);
  } catch (const Error&) {
    return json::Value(text);
  }
}

std::string value_text(const json::Value& v) { return v.is_string() ? v.as_string() : json::dump(v); }

// One line about the recorded training data.
std::string training_data_text(const json::Value& r) {
  std::ostringstream out;
  const std::string& loader = r.at("loader").as_string();
  if (loader == "synthetic") {
    out << "synthetic (" << value_text(r.at("users")) << " users, " << value_text(r.at("items")) << " items, "
        << value_text(r.at("interactions")) << " interactions, seed " << value_text(r.at("seed")) << ")";
  } else {
    const std::string hash = recorded_hash_key(r);
    out << loader << " " << r.at("path").as_string() << " (" << value_text(r.at("size")) << " bytes, " << hash << " "
        << r.at(hash).as_string() << ")";
  }
  out << "; windows " << value_text(r.at("max_sequence_length")) << ", test fraction "
      << value_text(r.at("test_fraction")) << ", split seed " << value_text(r.at("split_seed"));
  return out.str();
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

int run_info(int argc, char** argv, int first) {
  Args args({"info",
             "usage: limelight info [--json] FILE\n\n"
             "Shows what a model file holds: its configuration entries (only those stored), how it\n"
             "was trained (device, threads, training data, optimizer state, when recorded), its\n"
             "item ids and parameter shapes.\n",
             {{"model", "FILE", opt::text(), "the model file (or give it as the argument)"},
              {"json", "", opt::flag(), "print one JSON object"}},
             /*takes_positionals=*/true});
  if (!args.parse(argc, argv, first)) return 0;  // --help
  const auto& pos = args.positionals();
  LL_CHECK(pos.size() + (args.has("model") ? 1 : 0) == 1, "info needs exactly one model file");
  const std::string path = pos.empty() ? args.text("model") : pos[0];
  const LoadedModel loaded = load_model(path);
  const std::map<std::string, std::string>& md = loaded.metadata;
  auto entry = [&](const char* key) -> const std::string* {
    auto it = md.find(key);
    return it == md.end() ? nullptr : &it->second;
  };
  const ImplicitSequenceModel& model = loaded.model;
  std::int64_t total = 0;
  for (const Parameter* p : model.parameters()) total += p->value.shape().numel();

  json::Value config = json::Value::object();
  for (const char* key : config_keys)
    if (const std::string* v = entry(key)) config.set(key, stored_value(*v));
  json::Value other = json::Value::object();  // entries this library does not interpret
  for (const auto& [key, value] : md)
    if (!is_one_of(key, config_keys, std::size(config_keys)) && !is_one_of(key, special_keys, std::size(special_keys)))
      other.set(key, json::Value(value));
  json::Value training = json::Value::object();
  if (const std::string* v = entry("device")) training.set("device", json::Value(*v));
  if (const std::string* v = entry("threads")) training.set("threads", stored_value(*v));
  json::Value data_record;
  if (const std::string* v = entry("training_data")) data_record = stored_value(*v);
  json::Value optimizer;
  if (loaded.training_state) {
    optimizer = json::Value::object();
    optimizer.set("steps", json::Value(loaded.training_state->optimizer_steps))
        .set("epochs", json::Value(loaded.training_state->epochs));
  }

  if (args.flag("json")) {
    json::Value o = json::Value::object();
    const std::string* format = entry("format");
    o.set("file", json::Value(path)).set("format", format ? json::Value(*format) : json::Value());
    o.set("config", config);
    o.set("trained_with", training).set("training_data", data_record).set("optimizer_state", optimizer);
    o.set("other_metadata", other);
    o.set("item_ids", loaded.item_labels.empty() ? json::Value()
                                                 : json::Value(loaded.item_labels.size() - 1));
    json::Value params = json::Value::array();
    for (const Parameter* p : model.parameters()) {
      json::Value shape = json::Value::array();
      for (std::int64_t d : p->value.shape().to_vector()) shape.push_back(json::Value(d));
      json::Value e = json::Value::object();
      e.set("name", json::Value(p->name)).set("shape", std::move(shape));
      params.push_back(std::move(e));
    }
    o.set("parameters", std::move(params)).set("num_parameters", json::Value(total));
    std::cout << json::dump(o) << "\n";
    return 0;
  }
  std::ostringstream out;
  const std::string* format = entry("format");
  out << "file: " << path << "\nformat: " << (format ? *format : "(none: not written by limelight)") << "\n";
  for (const json::Member& m : config.as_object()) out << m.first << ": " << value_text(m.second) << "\n";
  if (const std::string* d = entry("device")) {
    const std::string* t = entry("threads");
    out << "trained with: device " << *d << ", threads "
        << (t == nullptr ? "not recorded" : *t == "0" ? "default (OpenMP's choice)" : *t) << "\n";
  }
  if (!data_record.is_null()) {
    try {
      out << "training data: " << training_data_text(data_record) << "\n";
    } catch (const Error& e) {
      out << "training data: (malformed record: " << e.what() << ")\n";
    }
  }
  if (loaded.training_state)
    out << "optimizer state: saved (" << loaded.training_state->optimizer_steps << " Adam steps, "
        << loaded.training_state->epochs << " epochs)\n";
  for (const json::Member& m : other.as_object()) out << m.first << ": " << m.second.as_string() << "\n";
  if (loaded.item_labels.empty()) {
    out << "item ids: none (dense ids 0.." << model.num_items() - 1 << ")\n";
  } else {
    out << "item ids: " << loaded.item_labels.size() - 1 << " (first: " << json::quote(loaded.item_labels[1]) << ")\n";
  }
  out << "parameters (" << total << " values):\n";
  for (const Parameter* p : model.parameters())
    out << "  " << p->name << " " << shape_text(p->value.shape().to_vector()) << "\n";
  std::cout << out.str();
  return 0;
}

}  // namespace limelight::cli
