// The parts of limelight-bench (main.cpp says what it measures), one file
// each: options.cpp reads the command line, protocol.cpp holds the data and
// model settings of docs/benchmarks.md, training_run.cpp and stream_run.cpp
// measure one configuration in a child process and write it as one JSON line
// (json_line.hpp), tables.cpp prints those lines as the tables.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "limelight/data.hpp"
#include "limelight/model.hpp"
#include "limelight_bench/json_line.hpp"

namespace limelight::bench {

// options.cpp
struct Options {
  std::vector<std::string> representations{"pooling", "cnn", "lstm", "mixture"};
  std::vector<std::string> losses{"bpr"};
  std::vector<std::string> datasets{"movielens"};
  // The protocol's model settings; --epochs sets n_iter, --threads, --seed and
  // --learning-rate theirs. Each configuration sets its representation and loss.
  ModelConfig model{.embedding_dim = 32,
                    .n_iter = 5,
                    .batch_size = 256,
                    .learning_rate = 1e-2,
                    .seed = 42,
                    .cnn = {},  // the protocol's CNN: model_config
                    .num_mixtures = 4,
                    .bloom = {},
                    .threads = 0};
  bool json = false;
  std::string movielens;
  int repetitions = 2000;
  double latency_budget_s = 5.0;
  std::string export_dir;
  std::string child;  // "dataset:representation:loss" or "stream:representation:items" in a child process
  bool stream = false;
  std::vector<long> stream_items{1683, 100000, 1000000};
  bool help = false;
};

extern const char* const kUsage;

Options parse_options(int argc, char** argv);

// protocol.cpp: the protocol's fixed settings (docs/benchmarks.md). The split
// hash seeds are fixed rather than drawn so that compare_pytorch.py reproduces
// the split.
constexpr int kMaxLength = 200, kMinLength = 20, kStep = 200;
constexpr std::uint32_t kTestHashSeed = 42, kValidationHashSeed = 43;
constexpr double kTestFraction = 0.1, kValidationFraction = 1.0 / 9.0;

struct Dataset {
  SequenceInteractions train, test;
  std::int64_t interactions = 0, validation_sequences = 0;
};

// "movielens" (from o.movielens) or "synthetic", split by user 80/10/10.
Dataset load_dataset(const std::string& name, const Options& o);
// The text file compare_pytorch.py reads: a header line, then one row of ids a line.
void export_sequences(const SequenceInteractions& s, const std::string& path);
ModelConfig model_config(const Options& o, const std::string& representation, const std::string& loss);

// training_run.cpp: trains, scores and times one configuration; its JSON line.
std::string run_configuration(const Options& o, const std::string& dataset_name, const std::string& representation,
                              const std::string& loss);

// stream_run.cpp. A session that has seen `history` takes one more event from
// `next_items` and answers its top 10, against the model's recommend on the
// same history plus that event; microseconds per call.
struct StreamTimes {
  std::vector<double> update_us, score_us, event_us, full_us;
};
StreamTimes time_stream(const ImplicitSequenceModel& model, const std::vector<std::int32_t>& history,
                        const std::vector<std::int32_t>& next_items, const Options& o);
// The stream_* and full_recommend_* fields of a JSON line.
void add_stream_fields(JsonLine& line, const StreamTimes& t);
// The --stream sweep's configuration, an initialised model of `items` ids;
// its JSON line.
std::string run_stream_configuration(const Options& o, const std::string& representation, long items);

// tables.cpp: the tables printed without --json, a row from each JSON line.
void print_training_header(const Options& o);
void print_training_row(const std::string& line);
void print_stream_header(const Options& o, const std::string& threads);
void print_stream_row(const std::string& line, const std::string& representation, long items);

}  // namespace limelight::bench
