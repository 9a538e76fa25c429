// ModelConfig's checks and the names of its enumerations: the
// representation's and the serving table precision's, parsed where a name
// comes in (command line, model file, Python) and written where one goes out.
#include "limelight/model.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "limelight_config.h"

#include "limelight/bloom.hpp"

#include "backend/cuda_loader.hpp"

namespace limelight {

Representation parse_representation(std::string_view name) {
  for (Representation r : {Representation::pooling, Representation::cnn, Representation::lstm, Representation::mixture})
    if (name == representation_name(r)) return r;
  throw Error("ImplicitSequenceModel: unknown representation '" + std::string(name) +
              "' (expected pooling, cnn, lstm or mixture)");
}

const char* representation_name(Representation representation) {
  switch (representation) {
    case Representation::pooling: return "pooling";
    case Representation::cnn: return "cnn";
    case Representation::lstm: return "lstm";
    case Representation::mixture: return "mixture";
  }
  return "unknown";  // a value cast in from outside the enumeration (validate refuses it)
}

void ModelConfig::validate() const {
  const std::string losses[] = {"pointwise", "bpr", "hinge", "adaptive_hinge"};
  // Names are checked where they are parsed; this catches a cast-in value.
  LL_CHECK(representation >= Representation::pooling && representation <= Representation::mixture,
           "ImplicitSequenceModel: unknown representation ", static_cast<int>(representation),
           " (expected pooling, cnn, lstm or mixture)");
  LL_CHECK(std::find(std::begin(losses), std::end(losses), loss) != std::end(losses),
           "ImplicitSequenceModel: unknown loss '", loss, "' (expected pointwise, bpr, hinge or adaptive_hinge)");
  LL_CHECK(embedding_dim >= 1, "ImplicitSequenceModel: embedding_dim must be >= 1, got ", embedding_dim);
  LL_CHECK(n_iter >= 0, "ImplicitSequenceModel: n_iter must be >= 0, got ", n_iter);
  LL_CHECK(batch_size >= 1, "ImplicitSequenceModel: batch_size must be >= 1, got ", batch_size);
  LL_CHECK(l2 >= 0.0 && std::isfinite(l2), "ImplicitSequenceModel: l2 must be a finite value >= 0, got ", l2);
  LL_CHECK(learning_rate > 0.0 && std::isfinite(learning_rate),
           "ImplicitSequenceModel: learning_rate must be > 0, got ", learning_rate);
  LL_CHECK(optimizer == "adam", "ImplicitSequenceModel: unknown optimizer '", optimizer, "' (expected adam)");
  LL_CHECK(num_negative_samples >= 1 && num_negative_samples <= 5,
           "ImplicitSequenceModel: num_negative_samples must be in [1, 5], got ", num_negative_samples);
  LL_CHECK(device == "cpu" || device == "cuda", "ImplicitSequenceModel: unknown device '", device,
           "' (expected cpu or cuda)");
  if (device == "cuda") {
    const backend::CudaBackendStatus& gpu = backend::cuda_backend();
    LL_CHECK(gpu.usable(), "ImplicitSequenceModel: device 'cuda' is not available",
             LIMELIGHT_HAVE_CUDA ? "" : " in this build (configured without CUDA)", ": ", gpu.problem);
  }
  LL_CHECK(threads >= 0, "ImplicitSequenceModel: threads must be >= 0, got ", threads);
  if (representation == Representation::cnn) {
    const auto& c = cnn;
    LL_CHECK(c.num_layers >= 1, "ImplicitSequenceModel: cnn num_layers must be >= 1, got ", c.num_layers);
    auto per_layer = [&](const std::vector<int>& v, const char* what) {
      LL_CHECK(v.size() == 1 || static_cast<int>(v.size()) == c.num_layers, "ImplicitSequenceModel: cnn ", what,
               " has ", v.size(), " values for ", c.num_layers, " layers");
      for (int x : v) LL_CHECK(x >= 1, "ImplicitSequenceModel: cnn ", what, " values must be >= 1, got ", x);
    };
    per_layer(c.kernel_width, "kernel_width");
    per_layer(c.dilation, "dilation");
    LL_CHECK(c.nonlinearity == "tanh" || c.nonlinearity == "relu", "ImplicitSequenceModel: cnn nonlinearity must be ",
             "tanh or relu, got '", c.nonlinearity, "'");
  }
  if (bloom.enabled()) {
    LL_CHECK(std::isfinite(bloom.compression_ratio) && bloom.compression_ratio > 0.0,
             "ImplicitSequenceModel: bloom compression_ratio must be a finite number > 0 (0 turns Bloom off), got ",
             bloom.compression_ratio);
    LL_CHECK(bloom.num_hash_functions >= 1 && bloom.num_hash_functions <= bloom_max_hash_functions,
             "ImplicitSequenceModel: bloom num_hash_functions must be in [1, ", bloom_max_hash_functions, "], got ",
             bloom.num_hash_functions);
  }
  if (representation == Representation::mixture)
    LL_CHECK(num_mixtures >= 1 && num_mixtures <= 64, "ImplicitSequenceModel: num_mixtures must be in [1, 64], got ",
             num_mixtures);
}

ServingPrecision parse_serving_precision(std::string_view name) {
  if (name == "f32") return ServingPrecision::f32;
  if (name == "int8") return ServingPrecision::int8;
  throw Error("unknown item table precision '" + std::string(name) + "' (expected f32 or int8)");
}

const char* serving_precision_name(ServingPrecision precision) {
  return precision == ServingPrecision::int8 ? "int8" : "f32";
}

}  // namespace limelight
