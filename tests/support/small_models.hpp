// Small models the tests build: a configuration of one representation and
// embedding width, an untrained model with its parameters initialised for a
// catalogue, and a configuration that trains in milliseconds on the tests'
// small data. Included as "tests/support/small_models.hpp".
#pragma once

#include <cstdint>
#include <string>

#include "limelight/model.hpp"

namespace test_support {

// ModelConfig's defaults but for the representation and embedding width.
inline limelight::ModelConfig config_of(const std::string& representation, int embedding_dim) {
  limelight::ModelConfig c;
  c.representation = limelight::parse_representation(representation);
  c.embedding_dim = embedding_dim;
  return c;
}

// The BPR loss, 8-wide embeddings and 2 epochs of minibatches of `batch_size`.
inline limelight::ModelConfig quick_bpr_config(const std::string& representation, int batch_size) {
  limelight::ModelConfig c = config_of(representation, 8);
  c.loss = "bpr";
  c.n_iter = 2;
  c.batch_size = batch_size;
  return c;
}

// A model of `config`, untrained, its parameters initialised for `num_items` item ids.
inline limelight::ImplicitSequenceModel initialized_model(const limelight::ModelConfig& config,
                                                          std::int32_t num_items) {
  limelight::ImplicitSequenceModel model(config);
  model.initialize(num_items);
  return model;
}

}  // namespace test_support
