// `limelight info`: what a model file holds, its configuration, item ids and
// parameter shapes, after the same checks load_model makes.
#include <iostream>
#include <sstream>

#include "cli/args.hpp"
#include "cli/commands.hpp"
#include "io/json.hpp"
#include "limelight/error.hpp"
#include "limelight/model_file.hpp"
#include "limelight/safetensors.hpp"

namespace limelight::cli {

namespace {

json::Value int_array(const std::vector<int>& values) {
  json::Value a = json::Value::array();
  for (int v : values) a.push_back(json::Value(v));
  return a;
}

json::Value config_json(const ModelConfig& c, std::int32_t num_items) {
  json::Value o = json::Value::object();
  o.set("representation", json::Value(c.representation))
      .set("num_items", json::Value(num_items))
      .set("embedding_dim", json::Value(c.embedding_dim))
      .set("loss", json::Value(c.loss))
      .set("n_iter", json::Value(c.n_iter))
      .set("batch_size", json::Value(c.batch_size))
      .set("l2", json::Value(c.l2))
      .set("learning_rate", json::Value(c.learning_rate))
      .set("optimizer", json::Value(c.optimizer))
      .set("sparse", json::Value(c.sparse))
      .set("seed", json::Value(c.seed))
      .set("num_negative_samples", json::Value(c.num_negative_samples));
  if (c.representation == "cnn") {
    o.set("num_layers", json::Value(c.cnn.num_layers))
        .set("kernel_width", int_array(c.cnn.kernel_width))
        .set("dilation", int_array(c.cnn.dilation))
        .set("nonlinearity", json::Value(c.cnn.nonlinearity))
        .set("residual_connections", json::Value(c.cnn.residual));
  }
  if (c.representation == "mixture") o.set("num_mixtures", json::Value(c.num_mixtures));
  if (c.bloom.enabled())
    o.set("bloom_compression_ratio", json::Value(c.bloom.compression_ratio))
        .set("bloom_num_hash_functions", json::Value(c.bloom.num_hash_functions));
  return o;
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

int run_info(int argc, char** argv, int first) {
  Args args("info", {{"model", "FILE", "the model file (or give it as the argument)"},
                     {"json", "", "print one JSON object"}});
  if (wants_help(argc, argv, first)) {
    std::cout << "usage: limelight info [--json] FILE\n\n"
                 "Shows a model file's configuration, item ids and parameter shapes.\n\noptions:\n"
              << args.options_help();
    return 0;
  }
  args.parse(argc, argv, first);
  const auto& pos = args.positionals();
  LL_CHECK(pos.size() + (args.has("model") ? 1 : 0) == 1, "info needs exactly one model file");
  const std::string path = pos.empty() ? args.text("model") : pos[0];
  const LoadedModel loaded = load_model(path);
  const io::SafetensorsFile file = io::SafetensorsFile::open(path);
  auto format_it = file.metadata().find("format");
  const std::string format = format_it == file.metadata().end() ? "" : format_it->second;
  const ImplicitSequenceModel& model = loaded.model;
  std::int64_t total = 0;
  for (const Parameter* p : model.parameters()) total += p->value.shape().numel();

  if (args.flag("json")) {
    json::Value o = json::Value::object();
    o.set("file", json::Value(path)).set("format", format.empty() ? json::Value() : json::Value(format));
    o.set("config", config_json(model.config(), model.num_items()));
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
  out << "file: " << path << "\nformat: " << (format.empty() ? "(none)" : format) << "\n";
  const json::Value config = config_json(model.config(), model.num_items());
  for (const json::Member& m : config.as_object())
    out << m.first << ": " << (m.second.is_string() ? m.second.as_string() : json::dump(m.second)) << "\n";
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
