// The data and model settings of the benchmark protocol (docs/benchmarks.md).
#include <fstream>
#include <string>

#include "limelight/error.hpp"
#include "limelight_bench/limelight_bench.hpp"

namespace limelight::bench {

// 80/10/10 by user: 10% of users to test, then 1/9 of the rest to validation
// (unused here: the benchmark trains on train and scores test).
Dataset load_dataset(const std::string& name, const Options& o) {
  Interactions all = name == "movielens" ? load_movielens(o.movielens) : generate_sequential(1000, 1000, 100000, 0.1, 3, 42);
  auto [rest, test] = user_based_train_test_split_with_hash_seed(all, kTestFraction, kTestHashSeed);
  auto [train, validation] = user_based_train_test_split_with_hash_seed(rest, kValidationFraction, kValidationHashSeed);
  Dataset d;
  d.interactions = static_cast<std::int64_t>(all.size());
  d.train = train.to_sequence(kMaxLength, kMinLength, kStep);
  d.test = test.to_sequence(kMaxLength, kMinLength, kStep);
  d.validation_sequences = validation.to_sequence(kMaxLength, kMinLength, kStep).num_sequences;
  return d;
}

void export_sequences(const SequenceInteractions& s, const std::string& path) {
  std::ofstream out(path);
  LL_CHECK(out.good(), "limelight-bench: cannot write ", path);
  out << "# num_items " << s.num_items << " max_sequence_length " << s.max_sequence_length << " num_sequences "
      << s.num_sequences << "\n";
  for (std::int64_t i = 0; i < s.num_sequences; ++i) {
    const std::int32_t* row = s.row(i);
    for (int t = 0; t < s.max_sequence_length; ++t) out << (t ? " " : "") << row[t];
    out << "\n";
  }
  LL_CHECK(out.good(), "limelight-bench: error writing ", path);
}

// The protocol's CNN: 3 layers, kernel 3, dilations 1/2/4, relu, residual.
ModelConfig model_config(const Options& o, const std::string& representation, const std::string& loss) {
  ModelConfig config = o.model;
  config.representation = limelight::parse_representation(representation);
  config.loss = loss;
  if (representation == "cnn")
    config.cnn = CnnOptions{.kernel_width = {3}, .dilation = {1, 2, 4}, .num_layers = 3, .nonlinearity = "relu",
                            .residual = true};
  return config;
}

}  // namespace limelight::bench
