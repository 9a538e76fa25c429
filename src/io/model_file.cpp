// Reading and writing ImplicitSequenceModel as safetensors with the
// reference's parameter names and metadata keys.
#include "limelight/model_file.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <utility>

#include <zlib.h>

#include "io/json.hpp"
#include "limelight/bloom.hpp"
#include "io/model_file_parts.hpp"
#include "limelight/safetensors.hpp"

namespace limelight {

namespace {

std::string int_list(const std::vector<int>& values) {
  json::Value list = json::Value::array();
  for (int v : values) list.push_back(json::Value(v));
  return json::dump(list);
}

std::map<std::string, std::string> model_metadata(const ImplicitSequenceModel& model,
                                                  const std::vector<std::string>& labels) {
  const ModelConfig& c = model.config();
  std::map<std::string, std::string> md;
  md["format"] = model_format;
  md["representation"] = representation_name(c.representation);
  md["num_items"] = std::to_string(model.num_items());
  md["embedding_dim"] = std::to_string(c.embedding_dim);
  md["padding_idx"] = "0";
  md["loss"] = c.loss;
  // The epochs the parameters were trained for (over every fit call and
  // resumed run); the configured count for a model not trained here.
  md["n_iter"] = std::to_string(model.epochs_trained() > 0 ? model.epochs_trained() : c.n_iter);
  md["batch_size"] = std::to_string(c.batch_size);
  md["l2"] = json::dump(json::Value(c.l2));
  md["learning_rate"] = json::dump(json::Value(c.learning_rate));
  md["sparse"] = c.sparse ? "true" : "false";
  md["seed"] = std::to_string(c.seed);
  md["num_negative_samples"] = std::to_string(c.num_negative_samples);
  md["optimizer"] = c.optimizer;
  if (c.representation == Representation::cnn) {
    std::vector<int> kw, dil;
    for (int i = 0; i < c.cnn.num_layers; ++i) {
      kw.push_back(c.cnn.kernel_width.size() == 1 ? c.cnn.kernel_width[0] : c.cnn.kernel_width[static_cast<std::size_t>(i)]);
      dil.push_back(c.cnn.dilation.size() == 1 ? c.cnn.dilation[0] : c.cnn.dilation[static_cast<std::size_t>(i)]);
    }
    md["kernel_width"] = int_list(kw);
    md["dilation"] = int_list(dil);
    md["num_layers"] = std::to_string(c.cnn.num_layers);
    md["nonlinearity"] = c.cnn.nonlinearity;
    md["residual_connections"] = c.cnn.residual ? "true" : "false";
  }
  if (c.representation == Representation::mixture) md["num_mixtures"] = std::to_string(c.num_mixtures);
  if (c.bloom.enabled()) {
    md["bloom_compression_ratio"] = json::dump(json::Value(c.bloom.compression_ratio));
    md["bloom_num_hash_functions"] = std::to_string(c.bloom.num_hash_functions);
    md["bloom_compressed_num_embeddings"] =
        std::to_string(bloom_compressed_rows(c.bloom.compression_ratio, model.num_items()));
  }
  json::Value order = json::Value::array();
  json::Value shapes = json::Value::object();
  for (const Parameter* p : model.parameters()) {
    order.push_back(json::Value(p->name));
    json::Value shape = json::Value::array();
    for (std::int64_t d : p->value.shape().to_vector()) shape.push_back(json::Value(d));
    shapes.set(p->name, shape);
  }
  md["param_order"] = json::dump(order);
  md["param_shapes"] = json::dump(shapes);
  if (!labels.empty()) {
    json::Value ids = json::Value::array();
    for (const std::string& s : labels) ids.push_back(json::Value(s));
    md["item_ids"] = json::dump(ids);
  }
  return md;
}

// Metadata readers: every failure names the file and the key.
struct Meta {
  const std::map<std::string, std::string>& md;
  const std::string& source;

  bool has(const std::string& key) const { return md.count(key) != 0; }
  const std::string& text(const std::string& key) const {
    auto it = md.find(key);
    LL_CHECK(it != md.end(), source, ": metadata has no '", key, "'");
    return it->second;
  }
  json::Value value(const std::string& key) const {
    try {
      return json::parse(text(key));
    } catch (const Error& e) {
      detail::fail(source, ": metadata '", key, "' is not valid JSON: ", e.what());
    }
  }
  std::int64_t integer(const std::string& key, std::int64_t lo, std::int64_t hi) const {
    std::int64_t v = 0;
    try {
      v = value(key).as_int();
    } catch (const Error& e) {
      detail::fail(source, ": metadata '", key, "' = '", text(key), "' is not an integer");
    }
    LL_CHECK(v >= lo && v <= hi, source, ": metadata '", key, "' = ", v, " is out of range [", lo, ", ", hi, "]");
    return v;
  }
  bool boolean(const std::string& key) const {
    const std::string& t = text(key);
    LL_CHECK(t == "true" || t == "false", source, ": metadata '", key, "' = '", t, "' is not true or false");
    return t == "true";
  }
  double number(const std::string& key) const {
    try {
      return value(key).as_double();
    } catch (const Error&) {
      detail::fail(source, ": metadata '", key, "' = '", text(key), "' is not a number");
    }
  }
  std::vector<int> int_list(const std::string& key) const {
    std::vector<int> out;
    try {
      json::Value v = value(key);
      if (v.is_number()) return {static_cast<int>(v.as_int())};
      for (const json::Value& x : v.as_array()) {
        const std::int64_t i = x.as_int();
        LL_CHECK(i >= 1 && i <= 4096, "value ", i, " out of range");
        out.push_back(static_cast<int>(i));
      }
    } catch (const Error& e) {
      detail::fail(source, ": metadata '", key, "' = '", text(key), "' is not a list of positive integers");
    }
    LL_CHECK(!out.empty(), source, ": metadata '", key, "' is an empty list");
    return out;
  }
};

ModelConfig config_from(const Meta& m) {
  ModelConfig c;
  const std::string& representation = m.text("representation");
  try {
    c.representation = parse_representation(representation);
  } catch (const Error& e) {
    detail::fail(m.source, ": ", e.what());
  }
  c.embedding_dim = static_cast<int>(m.integer("embedding_dim", 1, 1 << 16));
  if (m.has("loss")) c.loss = m.text("loss");
  if (m.has("n_iter")) c.n_iter = static_cast<int>(m.integer("n_iter", 0, 1 << 30));
  if (m.has("batch_size")) c.batch_size = static_cast<int>(m.integer("batch_size", 1, 1 << 30));
  if (m.has("l2")) c.l2 = m.number("l2");
  if (m.has("learning_rate")) c.learning_rate = m.number("learning_rate");
  else if (m.has("lr")) c.learning_rate = m.number("lr");
  if (m.has("sparse")) c.sparse = m.boolean("sparse");
  if (m.has("seed")) c.seed = static_cast<std::uint64_t>(m.integer("seed", 0, INT64_MAX));
  if (m.has("num_negative_samples")) c.num_negative_samples = static_cast<int>(m.integer("num_negative_samples", 1, 5));
  if (c.representation == Representation::cnn) {
    c.cnn.num_layers = static_cast<int>(m.integer("num_layers", 1, 1024));
    c.cnn.kernel_width = m.int_list("kernel_width");
    c.cnn.dilation = m.int_list("dilation");
    c.cnn.nonlinearity = m.text("nonlinearity");
    c.cnn.residual = m.boolean("residual_connections");
  }
  if (c.representation == Representation::mixture) c.num_mixtures = static_cast<int>(m.integer("num_mixtures", 1, 64));
  if (m.has("bloom_compression_ratio")) {
    c.bloom.compression_ratio = m.number("bloom_compression_ratio");
    LL_CHECK(c.bloom.enabled(), m.source, ": metadata 'bloom_compression_ratio' is 0");
    c.bloom.num_hash_functions =
        static_cast<int>(m.integer("bloom_num_hash_functions", 1, bloom_max_hash_functions));
  }
  try {
    c.validate();
  } catch (const Error& e) {
    detail::fail(m.source, ": ", e.what());
  }
  return c;
}

}  // namespace

namespace io::model_file_parts {


// zlib's CRC-32 (IEEE 802.3) of the parameters' bytes in parameter order,
// then of every metadata entry but the checksum itself (sorted, key and value
// each followed by a zero byte). safetensors has no checksum; files limelight
// writes carry this one, so that a flipped bit is refused, not served.
std::uint32_t model_crc32(const std::vector<const Tensor*>& params, const std::vector<const Tensor*>& extra,
                          const std::map<std::string, std::string>& md) {
  uLong crc = crc32_z(0L, Z_NULL, 0);
  auto add = [&](const void* data, std::size_t n) { crc = crc32_z(crc, static_cast<const Bytef*>(data), n); };
  for (const Tensor* p : params) add(p->raw(), p->nbytes());
  for (const Tensor* t : extra) add(t->raw(), t->nbytes());
  return metadata_crc32(static_cast<std::uint32_t>(crc), md);
}

std::uint32_t metadata_crc32(std::uint32_t start, const std::map<std::string, std::string>& md) {
  uLong crc = start;
  auto add = [&](const void* data, std::size_t n) { crc = crc32_z(crc, static_cast<const Bytef*>(data), n); };
  for (const auto& [key, value] : md) {
    if (key == checksum_key) continue;
    add(key.c_str(), key.size() + 1);
    add(value.c_str(), value.size() + 1);
  }
  return static_cast<std::uint32_t>(crc);
}


std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// The tensor itself on the host; else its host copy, kept in `keep`.
const Tensor& on_host(const Tensor& t, std::vector<Tensor>& keep) {
  if (t.device() == Device::cpu) return t;
  keep.push_back(t.to(Device::cpu));
  return keep.back();
}

FileContents file_contents(const ImplicitSequenceModel& model, const SaveOptions& options, const TrainingState* state) {
  LL_CHECK(model.initialized(), "save_model: the model has not been fitted or initialised");
  const std::vector<std::string>& item_labels = options.item_labels;
  LL_CHECK(item_labels.empty() || static_cast<std::int64_t>(item_labels.size()) == model.num_items(),
           "save_model: ", item_labels.size(), " item labels for a model of ", model.num_items(), " items");
  FileContents out;
  out.metadata = model_metadata(model, item_labels);
  for (const auto& [key, value] : options.metadata) {
    LL_CHECK(out.metadata.count(key) == 0 && key != checksum_key, "save_model: extra metadata '", key,
             "' would replace an entry the library writes");
    out.metadata[key] = value;
  }
  const std::vector<const Parameter*> params = model.parameters();
  // Files are written from host memory: device parameters are copied first
  // (reserve: the entries point into the copies).
  out.host_copies.reserve(params.size() + 2 * params.size());
  std::vector<const Tensor*> values;
  for (const Parameter* p : params) {
    values.push_back(&on_host(p->value, out.host_copies));
    out.entries.push_back({p->name, DType::f32, p->value.shape().to_vector(), values.back()->raw()});
  }
  std::vector<const Tensor*> extra;
  if (state != nullptr) {
    for (std::size_t i = 0; i < params.size(); ++i) {
      const std::vector<std::int64_t> shape = params[i]->value.shape().to_vector();
      const Tensor& m = on_host(state->exp_avg[i], out.host_copies);
      const Tensor& v = on_host(state->exp_avg_sq[i], out.host_copies);
      out.entries.push_back({exp_avg_prefix + params[i]->name, DType::f32, shape, m.raw()});
      out.entries.push_back({exp_avg_sq_prefix + params[i]->name, DType::f32, shape, v.raw()});
      extra.push_back(&m);
      extra.push_back(&v);
    }
    out.metadata["optimizer_steps"] = std::to_string(state->optimizer_steps);
    json::Value rng = json::Value::array();
    for (std::uint64_t word : state->rng_state) rng.push_back(json::Value(hex64(word)));
    out.metadata["rng_state"] = json::dump(rng);
    out.metadata["epochs_trained"] = std::to_string(state->epochs);
  }
  out.metadata[checksum_key] = std::to_string(model_crc32(values, extra, out.metadata));
  return out;
}

}  // namespace io::model_file_parts

using namespace io::model_file_parts;

std::string serialize_model(const ImplicitSequenceModel& model, const SaveOptions& options) {
  std::optional<TrainingState> state;
  if (options.training_state) state = model.training_state();
  const FileContents c = file_contents(model, options, state ? &*state : nullptr);
  return io::serialize_safetensors(c.entries, c.metadata);
}

std::string serialize_model(const ImplicitSequenceModel& model, const std::vector<std::string>& item_labels) {
  return serialize_model(model, SaveOptions{item_labels, {}, false});
}

void save_model(const std::string& path, const ImplicitSequenceModel& model, const SaveOptions& options) {
  std::optional<TrainingState> state;
  if (options.training_state) state = model.training_state();
  const FileContents c = file_contents(model, options, state ? &*state : nullptr);
  io::write_safetensors(path, c.entries, c.metadata);
}

void save_model(const std::string& path, const ImplicitSequenceModel& model, const std::vector<std::string>& item_labels) {
  save_model(path, model, SaveOptions{item_labels, {}, false});
}

namespace {
LoadedModel load_from(const io::SafetensorsFile& file, const std::string& device) {
  const std::string& src = file.source();
  Meta m{file.metadata(), src};
  if (m.has("format")) {
    const std::string& f = m.text("format");
    const std::string ours = "limelight-model/";
    LL_CHECK(f.rfind(ours, 0) != 0 || f == model_format, src, ": model format '", f, "' is not supported (this ",
             "library reads '", model_format, "')");
  }
  ModelConfig config = config_from(m);
  if (device != config.device) {
    config.device = device;
    config.validate();
  }
  const std::int64_t num_items = m.integer("num_items", 2, INT32_MAX);
  // The largest parameters' shapes are checked against the file before the
  // model allocates them, so a small file cannot claim a terabyte-sized
  // model: these tensors lie inside the file, which bounds what follows.
  const std::int64_t D = config.embedding_dim;
  std::vector<std::pair<std::string, std::vector<std::int64_t>>> sizing;
  if (config.bloom.enabled()) {
    std::int64_t rows = 0;
    try {
      rows = bloom_compressed_rows(config.bloom.compression_ratio, num_items);
    } catch (const Error& e) {
      detail::fail(src, ": ", e.what());
    }
    // The reference records the row count too; a file that disagrees was not written by its formula.
    if (m.has("bloom_compressed_num_embeddings"))
      LL_CHECK(m.integer("bloom_compressed_num_embeddings", 0, INT32_MAX) == rows, src,
               ": metadata 'bloom_compressed_num_embeddings' = ", m.text("bloom_compressed_num_embeddings"),
               ", but int(", m.text("bloom_compression_ratio"), " * ", num_items, ") = ", rows);
    sizing.push_back({"item_embeddings.embeddings.weight", {rows, D}});
  } else {
    sizing.push_back({"item_embeddings.weight", {num_items, D}});
  }
  sizing.push_back({"item_biases.weight", {num_items, 1}});
  if (config.representation == Representation::lstm || config.representation == Representation::mixture)
    sizing.push_back({"lstm.weight_ih_l0", {4 * D, D}});
  if (config.representation == Representation::mixture)
    sizing.push_back({"projection.weight", {2 * config.num_mixtures * D, D, 1}});
  if (config.representation == Representation::cnn)
    for (int i = 0; i < config.cnn.num_layers; ++i) {
      const std::vector<int>& k = config.cnn.kernel_width;
      sizing.push_back({"cnn_" + std::to_string(i) + ".weight",
                        {D, D, k.size() == 1 ? k[0] : k[static_cast<std::size_t>(i)], 1}});
    }
  for (const auto& [name, shape] : sizing) {
    LL_CHECK(file.contains(name), src, ": parameter '", name, "' of a ", representation_name(config.representation),
             " model is missing");
    LL_CHECK(file.info(name).shape == shape, src, ": parameter '", name, "' has shape ",
             Shape(file.info(name).shape).str(), ", expected ", Shape(shape).str(), " for this configuration");
  }
  LoadedModel out{ImplicitSequenceModel(config), {}, {}, std::nullopt};
  out.model.initialize(static_cast<std::int32_t>(num_items));
  for (Parameter* p : out.model.parameters()) {
    LL_CHECK(file.contains(p->name), src, ": parameter '", p->name, "' of a ",
             representation_name(config.representation), " model is missing");
    const io::TensorInfo& info = file.info(p->name);
    LL_CHECK(info.dtype == DType::f32, src, ": parameter '", p->name, "' has dtype ", dtype_name(info.dtype),
             ", expected F32");
    LL_CHECK(info.shape == p->value.shape().to_vector(), src, ": parameter '", p->name, "' has shape ",
             Shape(info.shape).str(), ", expected ", p->value.shape().str(), " for this configuration");
    std::vector<float> values = file.f32(p->name);
    // NaN or infinity would poison every score (and the backend's fast math
    // is only defined on finite inputs).
    for (std::size_t i = 0; i < values.size(); ++i)
      LL_CHECK(std::isfinite(values[i]), src, ": parameter '", p->name, "' holds ", values[i], " at index ", i,
               ", expected finite values");
    p->value.copy_from(Tensor::borrow(values.data(), p->value.shape(), DType::f32));
  }
  // The uploads are queued on this thread's stream: done before the model is
  // handed to callers, who may serve it from other threads at once.
  allocator_for(std::as_const(out.model).parameters().front()->value.device()).synchronize();
  // The optimizer state, when saved: both moments of every parameter.
  std::optional<TrainingState> state;
  if (m.has("optimizer_steps")) {
    state.emplace();
    for (const Parameter* p : std::as_const(out.model).parameters()) {
      for (const char* prefix : {exp_avg_prefix, exp_avg_sq_prefix}) {
        const std::string name = prefix + p->name;
        LL_CHECK(file.contains(name), src, ": the optimizer state lacks '", name, "'");
        const io::TensorInfo& info = file.info(name);
        LL_CHECK(info.dtype == DType::f32 && info.shape == p->value.shape().to_vector(), src, ": '", name,
                 "' has shape ", Shape(info.shape).str(), ", expected ", p->value.shape().str());
        Tensor t = file.tensor(name);
        (prefix == exp_avg_prefix ? state->exp_avg : state->exp_avg_sq).push_back(std::move(t));
      }
    }
    state->optimizer_steps = m.integer("optimizer_steps", 0, INT64_MAX);
    state->epochs = static_cast<int>(m.integer("epochs_trained", 0, 1 << 30));
    try {
      const json::Value words = m.value("rng_state");
      LL_CHECK(words.size() == 4, "4 words expected");
      for (std::size_t i = 0; i < 4; ++i) {
        const std::string& w = words[i].as_string();
        LL_CHECK(w.size() == 16 && w.find_first_not_of("0123456789abcdef") == std::string::npos, "not hex");
        state->rng_state[i] = std::stoull(w, nullptr, 16);
      }
    } catch (const Error& e) {
      detail::fail(src, ": metadata 'rng_state' is not 4 hexadecimal 64-bit words: ", e.what());
    }
  }
  // Files this library writes always carry the checksum; others (written
  // from PyTorch) may not, and are checked when they do.
  LL_CHECK(m.has(checksum_key) || !m.has("format") || m.text("format") != model_format, src, ": a ", model_format,
           " file without its '", checksum_key, "' entry: the file is corrupt");
  if (m.has(checksum_key)) {
    const std::int64_t expected = m.integer(checksum_key, 0, 0xFFFFFFFFll);
    std::vector<const Tensor*> extra;
    if (state)
      for (std::size_t i = 0; i < state->exp_avg.size(); ++i) {
        extra.push_back(&state->exp_avg[i]);
        extra.push_back(&state->exp_avg_sq[i]);
      }
    std::vector<Tensor> host_copies;
    host_copies.reserve(std::as_const(out.model).parameters().size());
    std::vector<const Tensor*> values;
    for (const Parameter* p : std::as_const(out.model).parameters()) values.push_back(&on_host(p->value, host_copies));
    const std::uint32_t actual = model_crc32(values, extra, file.metadata());
    LL_CHECK(actual == static_cast<std::uint32_t>(expected), src, ": the checksum of the parameters and metadata is ",
             actual, " where the file records ", expected, ": the file is corrupt");
  }
  if (m.has("item_ids")) {
    json::Value ids;
    try {
      ids = m.value("item_ids");
      for (const json::Value& v : ids.as_array()) out.item_labels.push_back(v.as_string());
    } catch (const Error& e) {
      detail::fail(src, ": metadata 'item_ids' is not a list of strings: ", e.what());
    }
    LL_CHECK(static_cast<std::int64_t>(out.item_labels.size()) == num_items, src, ": metadata 'item_ids' has ",
             out.item_labels.size(), " entries for ", num_items, " items");
  }
  out.metadata = file.metadata();
  out.training_state = std::move(state);
  return out;
}
}  // namespace

LoadedModel load_model(const std::string& path, const std::string& device) {
  return load_from(io::SafetensorsFile::open(path), device);
}

LoadedModel load_model_from_bytes(std::string bytes, const std::string& source_name, const std::string& device) {
  return load_from(io::SafetensorsFile::parse(std::move(bytes), source_name), device);
}

}  // namespace limelight
