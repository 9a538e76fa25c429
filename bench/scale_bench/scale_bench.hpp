// The parts of limelight-scale-bench (main.cpp says what it measures):
// training.cpp holds the adam and train sections, serving.cpp the serve and
// int8 sections.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend/backend.hpp"
#include "limelight/model.hpp"

namespace limelight::bench {

struct Options {
  std::vector<std::int64_t> items{10'000, 100'000, 1'000'000, 10'000'000};
  std::vector<std::int64_t> serve_items{1'683, 100'000, 1'000'000};
  std::int64_t adam_items = 10'000'000;
  int threads = 2, repeats = 5, steps = 8;
  std::string sections = "adam,train,serve,int8";
  std::string modes = "dense,sparse";
  std::vector<std::string> representations{"pooling", "lstm"};
};

inline void set_threads(int n) { backend::get(Device::cpu).set_threads(n); }

inline ModelConfig config_for(const std::string& representation, int threads, bool sparse) {
  ModelConfig c;
  c.representation = parse_representation(representation);
  c.loss = "bpr";
  c.embedding_dim = 32;
  c.batch_size = 256;
  c.learning_rate = 1e-2;
  c.sparse = sparse;
  c.seed = 42;
  c.threads = threads;
  return c;
}

// training.cpp
void bench_adam(const Options& o);
void bench_train(const Options& o);
void bench_sparse_span(const Options& o);

// serving.cpp
void bench_serve(const Options& o);
void bench_int8(const Options& o);

}  // namespace limelight::bench
