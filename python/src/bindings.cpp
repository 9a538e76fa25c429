// The limelight._limelight extension: ImplicitSequenceModel, its
// configuration, model files, the sequence metrics and the Bloom hash table,
// bound with nanobind. Id arrays come in as C-contiguous int32 numpy arrays
// and are read in place (never converted: a float array is a TypeError); scores go out in numpy arrays the library writes
// into directly. fit, predict, recommend, batch scoring and the metrics run
// with the GIL released. limelight::Error becomes ValueError with its message.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/function.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <cmath>
#include <cstring>
#include <optional>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "limelight/bloom.hpp"
#include "limelight/data.hpp"
#include "limelight/error.hpp"
#include "limelight/evaluation.hpp"
#include "limelight/model.hpp"
#include "limelight/model_file.hpp"

namespace nb = nanobind;
using namespace nb::literals;
using limelight::ImplicitSequenceModel;
using limelight::ModelConfig;

namespace {

using IdMatrix = nb::ndarray<const std::int32_t, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using IdVector = nb::ndarray<const std::int32_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using IdArray = nb::ndarray<const std::int32_t, nb::c_contig, nb::device::cpu>;

// A tensor reading the array's memory in place (up to 4 dimensions).
template <typename Array>
limelight::Tensor borrow_ids(const Array& ids) {
  LL_CHECK(ids.ndim() >= 1 && ids.ndim() <= 4, "ids must have 1 to 4 dimensions, got ", ids.ndim());
  std::vector<std::int64_t> shape;
  for (std::size_t i = 0; i < ids.ndim(); ++i) shape.push_back(static_cast<std::int64_t>(ids.shape(i)));
  return limelight::Tensor::borrow(const_cast<std::int32_t*>(ids.data()), limelight::Shape(shape),
                                   limelight::DType::i32);
}
template <typename T>
using NumpyArray = nb::ndarray<nb::numpy, T>;

// A numpy array owning a fresh buffer of `count` elements.
template <typename T>
std::pair<NumpyArray<T>, T*> new_array(std::initializer_list<std::size_t> shape) {
  std::size_t count = 1;
  for (std::size_t d : shape) count *= d;
  T* data = new T[count > 0 ? count : 1];
  nb::capsule owner(data, [](void* p) noexcept { delete[] static_cast<T*>(p); });
  return {NumpyArray<T>(data, shape, owner), data};
}

template <typename T>
NumpyArray<T> to_numpy(const std::vector<T>& values) {
  auto [array, data] = new_array<T>({values.size()});
  std::copy(values.begin(), values.end(), data);
  return array;
}

// The library takes sequence data by value; this is the one copy the bindings make.
limelight::SequenceInteractions sequences_from(IdMatrix sequences, std::int32_t num_items) {
  limelight::SequenceInteractions s;
  s.num_sequences = static_cast<std::int64_t>(sequences.shape(0));
  s.max_sequence_length = static_cast<int>(sequences.shape(1));
  s.num_items = num_items;
  s.sequences.assign(sequences.data(), sequences.data() + sequences.size());
  return s;
}

NumpyArray<float> tensor_to_numpy(const limelight::Tensor& t) {
  std::vector<std::size_t> shape;
  for (std::int64_t d : t.shape().to_vector()) shape.push_back(static_cast<std::size_t>(d));
  const std::size_t n = static_cast<std::size_t>(t.numel());
  float* data = new float[n > 0 ? n : 1];
  std::memcpy(data, t.f32(), n * sizeof(float));
  nb::capsule owner(data, [](void* p) noexcept { delete[] static_cast<float*>(p); });
  return NumpyArray<float>(data, shape.size(), shape.data(), owner);
}

limelight::Parameter& find_parameter(ImplicitSequenceModel& model, const std::string& name) {
  for (limelight::Parameter* p : model.parameters())
    if (p->name == name) return *p;
  return model.parameter(name);  // throws, naming the parameter
}

}  // namespace

NB_MODULE(_limelight, m) {
  m.doc() = "limelight's C++ engine (use the limelight.spotlight modules for Spotlight's API)";

  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const limelight::Error& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });

  nb::class_<limelight::CnnOptions>(m, "CnnOptions")
      .def(nb::init<>())
      .def_rw("kernel_width", &limelight::CnnOptions::kernel_width)
      .def_rw("dilation", &limelight::CnnOptions::dilation)
      .def_rw("num_layers", &limelight::CnnOptions::num_layers)
      .def_rw("nonlinearity", &limelight::CnnOptions::nonlinearity)
      .def_rw("residual", &limelight::CnnOptions::residual);

  nb::class_<limelight::BloomOptions>(m, "BloomOptions")
      .def(nb::init<>())
      .def_rw("compression_ratio", &limelight::BloomOptions::compression_ratio)
      .def_rw("num_hash_functions", &limelight::BloomOptions::num_hash_functions);

  nb::class_<ModelConfig>(m, "ModelConfig")
      .def(nb::init<>())
      // By name, as model files and the command line spell it; a bad name is a ValueError listing them.
      .def_prop_rw(
          "representation",
          [](const ModelConfig& c) { return std::string(limelight::representation_name(c.representation)); },
          [](ModelConfig& c, const std::string& name) { c.representation = limelight::parse_representation(name); })
      .def_rw("loss", &ModelConfig::loss)
      .def_rw("embedding_dim", &ModelConfig::embedding_dim)
      .def_rw("n_iter", &ModelConfig::n_iter)
      .def_rw("batch_size", &ModelConfig::batch_size)
      .def_rw("l2", &ModelConfig::l2)
      .def_rw("learning_rate", &ModelConfig::learning_rate)
      .def_rw("optimizer", &ModelConfig::optimizer)
      .def_rw("sparse", &ModelConfig::sparse)
      .def_rw("seed", &ModelConfig::seed)
      .def_rw("num_negative_samples", &ModelConfig::num_negative_samples)
      .def_rw("cnn", &ModelConfig::cnn)
      .def_rw("num_mixtures", &ModelConfig::num_mixtures)
      .def_rw("bloom", &ModelConfig::bloom)
      .def_rw("device", &ModelConfig::device)
      .def_rw("threads", &ModelConfig::threads)
      .def("validate", &ModelConfig::validate);

  nb::class_<ImplicitSequenceModel>(m, "Model")
      .def(nb::init<ModelConfig>(), "config"_a)
      .def_prop_ro("config", &ImplicitSequenceModel::config)
      .def_prop_ro("initialized", &ImplicitSequenceModel::initialized)
      .def_prop_ro("num_items", &ImplicitSequenceModel::num_items)
      .def_prop_ro("epochs_trained", &ImplicitSequenceModel::epochs_trained)
      .def_prop_ro("optimizer_steps", &ImplicitSequenceModel::optimizer_steps)
      .def("initialize",
           static_cast<void (ImplicitSequenceModel::*)(std::int32_t)>(&ImplicitSequenceModel::initialize),
           "num_items"_a, nb::call_guard<nb::gil_scoped_release>())
      .def(
          "fit",
          [](ImplicitSequenceModel& model, IdMatrix sequences, std::int32_t num_items,
             std::function<void(int, double, double)> on_epoch) {
            limelight::SequenceInteractions train = sequences_from(sequences, num_items);
            limelight::FitCallbacks callbacks;
            if (on_epoch)
              callbacks.on_epoch = [&](const limelight::EpochReport& r) {
                nb::gil_scoped_acquire gil;
                on_epoch(r.epoch, r.loss, r.seconds);
              };
            // Ctrl-C stops a long fit between minibatches.
            callbacks.on_batch = [](std::int64_t, std::int64_t) {
              nb::gil_scoped_acquire gil;
              if (PyErr_CheckSignals() != 0) throw nb::python_error();
            };
            nb::gil_scoped_release release;
            model.fit(train, callbacks);
          },
          nb::arg("sequences").noconvert(), "num_items"_a, "on_epoch"_a = nb::none(),
          "Trains for config.n_iter epochs on (N, L) int32 sequences; resumes when called again.")
      .def(
          "score_batch",
          [](const ImplicitSequenceModel& model, IdMatrix sequences) {
            const std::size_t rows = sequences.shape(0), V = static_cast<std::size_t>(model.num_items());
            auto [out, data] = new_array<float>({rows, V});
            {
              nb::gil_scoped_release release;
              model.score_batch(sequences.data(), static_cast<std::int64_t>(rows),
                                static_cast<std::int64_t>(sequences.shape(1)), data);
            }
            return out;
          },
          nb::arg("sequences").noconvert(), "Scores (rows, num_items) of every item for each row of (rows, L) int32 sequences.")
      .def(
          "predict",
          [](const ImplicitSequenceModel& model, IdVector sequence, std::optional<IdVector> item_ids) {
            if (!item_ids) {
              LL_CHECK(sequence.size() >= 1, "predict: the sequence is empty");
              auto [out, data] = new_array<float>({static_cast<std::size_t>(model.num_items())});
              {
                nb::gil_scoped_release release;
                model.score_batch(sequence.data(), 1, static_cast<std::int64_t>(sequence.size()), data);
              }
              return out;
            }
            std::vector<float> scores;
            {
              nb::gil_scoped_release release;
              scores = model.predict(std::span<const std::int32_t>(sequence.data(), sequence.size()),
                                     std::span<const std::int32_t>(item_ids->data(), item_ids->size()));
            }
            return to_numpy(scores);
          },
          nb::arg("sequence").noconvert(), nb::arg("item_ids").noconvert() = nb::none())
      .def(
          "recommend",
          [](const ImplicitSequenceModel& model, IdVector sequence, int k, bool exclude_seen) {
            std::vector<limelight::Recommendation> recs;
            {
              nb::gil_scoped_release release;
              recs = model.recommend(std::span<const std::int32_t>(sequence.data(), sequence.size()), k, exclude_seen);
            }
            auto [items, item_data] = new_array<std::int32_t>({recs.size()});
            auto [scores, score_data] = new_array<float>({recs.size()});
            for (std::size_t i = 0; i < recs.size(); ++i) {
              item_data[i] = recs[i].item;
              score_data[i] = recs[i].score;
            }
            return std::make_pair(items, scores);
          },
          nb::arg("sequence").noconvert(), "k"_a = 10, "exclude_seen"_a = false,
          "The k best items (ids, scores), best first; the padding id never appears.")
      .def(
          "user_representation",
          [](const ImplicitSequenceModel& model, IdMatrix sequences) {
            const limelight::Tensor seq = borrow_ids(sequences);
            std::pair<limelight::Tensor, limelight::Tensor> states;
            {
              nb::gil_scoped_release release;
              states = model.user_representation(seq);
            }
            return std::make_pair(tensor_to_numpy(states.first), tensor_to_numpy(states.second));
          },
          nb::arg("sequences").noconvert(), "Every step's state (B, L, W) and the final state (B, W), batch-major.")
      .def(
          "parameter_names",
          [](const ImplicitSequenceModel& model) {
            std::vector<std::string> names;
            for (const limelight::Parameter* p : model.parameters()) names.push_back(p->name);
            return names;
          },
          "The parameters' names in the reference's state_dict order.")
      .def(
          "get_parameter",
          [](nb::handle self, const std::string& name) {
            ImplicitSequenceModel& model = nb::cast<ImplicitSequenceModel&>(self);
            const limelight::Parameter* found = nullptr;
            for (const limelight::Parameter* p : std::as_const(model).parameters())
              if (p->name == name) found = p;
            if (!found) model.parameter(name);  // throws, naming the parameter
            std::vector<std::size_t> shape;
            for (std::int64_t d : found->value.shape().to_vector()) shape.push_back(static_cast<std::size_t>(d));
            // A read-only view of the model's own memory; it keeps the model alive.
            return nb::ndarray<nb::numpy, const float>(found->value.f32(), shape.size(), shape.data(), self);
          },
          "name"_a, "A read-only view of a parameter (no copy); set_parameter writes one.")
      .def(
          "set_parameter",
          [](ImplicitSequenceModel& model, const std::string& name,
             nb::ndarray<const float, nb::c_contig, nb::device::cpu> values) {
            limelight::Parameter& p = find_parameter(model, name);
            std::vector<std::int64_t> shape;
            for (std::size_t i = 0; i < values.ndim(); ++i) shape.push_back(static_cast<std::int64_t>(values.shape(i)));
            LL_CHECK(shape == p.value.shape().to_vector(), "set_parameter: '", name, "' has shape ",
                     p.value.shape().str(), ", got ", limelight::Shape(shape).str());
            for (std::size_t i = 0; i < values.size(); ++i)
              LL_CHECK(std::isfinite(values.data()[i]), "set_parameter: '", name, "' holds ", values.data()[i],
                       " at index ", i, ", expected finite values");
            std::memcpy(p.value.raw(), values.data(), values.size() * sizeof(float));
          },
          "name"_a, "values"_a)
      .def(
          "compute_gradients",
          [](ImplicitSequenceModel& model, IdMatrix sequences, IdArray negatives) {
            const limelight::Tensor seq = borrow_ids(sequences);
            const limelight::Tensor neg = borrow_ids(negatives);
            nb::gil_scoped_release release;
            return model.compute_gradients(seq, neg);
          },
          nb::arg("sequences").noconvert(), nb::arg("negatives").noconvert(),
          "The loss of one batch (B, L) with given negatives ((B, L), or (n, B, L) for adaptive_hinge); the "
          "gradients stay in the parameters (see gradient()).")
      .def(
          "train_step",
          [](ImplicitSequenceModel& model, IdMatrix sequences, IdArray negatives) {
            const limelight::Tensor seq = borrow_ids(sequences);
            const limelight::Tensor neg = borrow_ids(negatives);
            nb::gil_scoped_release release;
            return model.train_step(seq, neg);
          },
          nb::arg("sequences").noconvert(), nb::arg("negatives").noconvert(), "compute_gradients, then one Adam step; returns the loss.")
      .def(
          "gradient",
          [](ImplicitSequenceModel& model, const std::string& name) {
            const limelight::Parameter& p = find_parameter(model, name);
            limelight::Tensor dense = limelight::Tensor::zeros(p.value.shape());
            if (p.sparse) {
              const std::int64_t width = p.sparse_grad.row_size();
              const auto& rows = p.sparse_grad.rows();
              for (std::size_t r = 0; r < rows.size(); ++r)
                std::memcpy(dense.f32() + rows[r] * width, p.sparse_grad.values() + r * width, width * sizeof(float));
            } else if (p.grad.defined() && p.grad.numel() == p.value.numel()) {
              std::memcpy(dense.f32(), p.grad.f32(), p.grad.nbytes());
            }
            return tensor_to_numpy(dense);
          },
          "name"_a, "A copy of a parameter's last gradient, dense (row-sparse gradients are expanded).")
      .def(
          "save",
          [](const ImplicitSequenceModel& model, const std::string& path, const std::vector<std::string>& labels) {
            nb::gil_scoped_release release;
            limelight::save_model(path, model, labels);
          },
          "path"_a, "item_labels"_a = std::vector<std::string>{})
      .def_static(
          "load",
          [](const std::string& path) {
            limelight::LoadedModel loaded = [&] {
              nb::gil_scoped_release release;
              return limelight::load_model(path);
            }();
            return std::make_pair(std::move(loaded.model), loaded.item_labels);
          },
          "path"_a, "(model, item_labels) from a model file.");

  m.def(
      "sequence_mrr_score",
      [](const ImplicitSequenceModel& model, IdMatrix sequences, bool exclude_preceding) {
        std::vector<double> rr;
        {
          limelight::SequenceInteractions test = sequences_from(sequences, model.num_items());
          nb::gil_scoped_release release;
          rr = limelight::sequence_mrr_score(model, test, exclude_preceding);
        }
        return to_numpy(rr);
      },
      "model"_a, nb::arg("sequences").noconvert(), "exclude_preceding"_a = false);

  m.def(
      "sequence_precision_recall_score",
      [](const ImplicitSequenceModel& model, IdMatrix sequences, int k, bool exclude_preceding) {
        limelight::PrecisionRecall pr;
        {
          limelight::SequenceInteractions test = sequences_from(sequences, model.num_items());
          nb::gil_scoped_release release;
          pr = limelight::sequence_precision_recall_score(model, test, k, exclude_preceding);
        }
        return std::make_pair(to_numpy(pr.precision), to_numpy(pr.recall));
      },
      "model"_a, nb::arg("sequences").noconvert(), "k"_a = 10, "exclude_preceding"_a = false);

  m.def(
      "murmurhash3_32",
      [](IdVector keys, std::uint32_t seed) {
        auto [out, data] = new_array<std::uint32_t>({keys.size()});
        for (std::size_t i = 0; i < keys.size(); ++i) data[i] = limelight::murmurhash3_32(keys.data()[i], seed);
        return out;
      },
      nb::arg("keys").noconvert(), "seed"_a, "scikit-learn's murmurhash3_32(int32 keys, seed, positive=True), elementwise.");

  m.def("bloom_compressed_rows", &limelight::bloom_compressed_rows, "compression_ratio"_a, "num_items"_a);
  m.def(
      "bloom_hash_table",
      [](std::int64_t num_items, std::int64_t compressed_rows, int num_hash_functions) {
        const std::vector<std::int32_t> table =
            limelight::bloom_hash_table(num_items, compressed_rows, num_hash_functions);
        auto [out, data] = new_array<std::int64_t>(
            {static_cast<std::size_t>(num_items), static_cast<std::size_t>(num_hash_functions)});
        std::copy(table.begin(), table.end(), data);
        return out;
      },
      "num_items"_a, "compressed_rows"_a, "num_hash_functions"_a,
      "The (num_items, num_hash_functions) int64 rows each item hashes to, as spotlight's BloomEmbedding.");
}
