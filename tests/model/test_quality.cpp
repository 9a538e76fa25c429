// Quality floors mirroring the reference's own test suite
// (tests/sequence/test_sequence_implicit.py): synthetic data with 100 users,
// 100 items, order 2, windows of 10, a user-based 80/20 split, bpr unless
// stated, batch 128, embedding 32. Our generator draws different data than
// numpy's, so each configuration runs three data seeds and the mean test MRR
// must reach 90% of the reference's mean over four seeds.
#include <doctest/doctest.h>

#include <numeric>

#include "limelight/evaluation.hpp"
#include "limelight/model.hpp"

using namespace limelight;

namespace {

struct Case {
  const char* name;
  double concentration;
  std::int64_t interactions;
  ModelConfig config;
  double floor;
};

ModelConfig make(const std::string& rep, const std::string& loss, double lr, double l2, int epochs) {
  ModelConfig c;
  c.representation = parse_representation(rep);
  c.loss = loss;
  c.learning_rate = lr;
  c.l2 = l2;
  c.n_iter = epochs;
  c.batch_size = 128;
  c.embedding_dim = 32;
  return c;
}

double mean_mrr(const Case& c, std::uint64_t seed) {
  Interactions data = generate_sequential(100, 100, c.interactions, c.concentration, 2, seed);
  auto [train, test] = user_based_train_test_split(data, 0.2, seed);
  SequenceInteractions train_seq = train.to_sequence(10);
  SequenceInteractions test_seq = test.to_sequence(10);
  ModelConfig config = c.config;
  config.seed = seed;
  ImplicitSequenceModel model(config);
  model.fit(train_seq);
  std::vector<double> rr = sequence_mrr_score(model, test_seq);
  return std::accumulate(rr.begin(), rr.end(), 0.0) / static_cast<double>(rr.size());
}

void run(const Case& c) {
  double total = 0.0;
  std::string each;
  for (std::uint64_t seed : {1, 2, 3}) {
    const double mrr = mean_mrr(c, seed);
    total += mrr;
    each += std::to_string(mrr) + " ";
  }
  const double mean = total / 3.0;
  MESSAGE(std::string(c.name), ": mean test MRR ", mean, " (seeds: ", each, "), floor ", c.floor);
  CHECK_MESSAGE(mean >= c.floor, std::string(c.name), ": mean MRR ", mean, " below the floor ", c.floor);
}

}  // namespace

TEST_CASE("quality: pooling, bpr, predictable data") {
  run({"pooling bpr c=1e-3", 1e-3, 10000, make("pooling", "bpr", 1e-1, 1e-9, 5), 0.165});
}
TEST_CASE("quality: pooling, bpr, nearly random data") {
  run({"pooling bpr c=100", 100, 10000, make("pooling", "bpr", 1e-1, 1e-9, 5), 0.030});
}
TEST_CASE("quality: lstm") { run({"lstm bpr", 1e-3, 10000, make("lstm", "bpr", 1e-2, 1e-7, 25), 0.52}); }
TEST_CASE("quality: cnn, kernel 5, one layer") {
  ModelConfig c = make("cnn", "bpr", 1e-2, 0.0, 25);
  c.cnn.kernel_width = {5};
  run({"cnn k5", 1e-3, 10000, c, 0.54});
}
TEST_CASE("quality: cnn, kernel 3, dilations (1, 2), two layers") {
  ModelConfig c = make("cnn", "bpr", 1e-2, 0.0, 50);
  c.cnn.kernel_width = {3};
  c.cnn.dilation = {1, 2};
  c.cnn.num_layers = 2;
  run({"cnn k3 d(1,2) 2 layers", 1e-3, 20000, c, 0.60});
}
TEST_CASE("quality: mixture") { run({"mixture bpr", 1e-3, 10000, make("mixture", "bpr", 1e-2, 1e-7, 50), 0.39}); }
TEST_CASE("quality: pooling, pointwise") {
  run({"pooling pointwise", 1e-3, 10000, make("pooling", "pointwise", 1e-1, 1e-9, 5), 0.15});
}
TEST_CASE("quality: pooling, hinge") {
  run({"pooling hinge", 1e-3, 10000, make("pooling", "hinge", 1e-1, 1e-9, 5), 0.164});
}
TEST_CASE("quality: pooling, adaptive_hinge") {
  run({"pooling adaptive_hinge", 1e-3, 10000, make("pooling", "adaptive_hinge", 1e-1, 1e-9, 5), 0.159});
}
