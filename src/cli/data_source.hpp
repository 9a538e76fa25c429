// Where `limelight fit`, `evaluate`, and `predict`/`recommend --user` get
// their interactions: the built-in synthetic generator, a MovieLens dataset
// or a delimited file, as named by the data options or as recorded in a
// model file (see training_data.hpp); the options that shape them (sequence
// windows, the user-based test split); and the mapping of a dataset's own
// item ids onto a saved model's ids.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cli/args.hpp"
#include "cli/sequence_input.hpp"
#include "io/json.hpp"
#include "limelight/data.hpp"

namespace limelight::cli {

// --synthetic and its --synthetic-* options, --concentration, --order,
// --movielens, --csv and its columns.
std::vector<Option> data_source_options();
// --max-sequence-length, with the given help text (its range is the windows').
Option max_sequence_length_option(const std::string& help);
// The sequence windows and --test-fraction (with the given help text).
std::vector<Option> window_split_options(const std::string& test_fraction_help);
// --seed, of the synthetic data and the split (with the given help text).
Option seed_option(const std::string& help);

// Which data, with every option that shapes the interactions.
struct DataSpec {
  std::string loader;  // "synthetic" | "movielens" | "delimited"
  // synthetic
  std::int32_t users = 1000, items = 200;
  std::int64_t interactions = 50000;
  double concentration = 0.01;
  int order = 2;
  std::uint64_t seed = 42;
  // movielens (the ratings file) and delimited
  std::string path;
  DelimitedOptions delimited;
};

// True when any option naming the data (not the windows or split) is given.
bool has_data_options(const Args& args);
// The data the options name (synthetic by default); `seed` seeds synthetic
// data. `user_option` is the option naming the csv's user column.
DataSpec data_spec(const Args& args, std::uint64_t seed, const std::string& user_option = "user");

struct Dataset {
  DataSpec spec;
  Interactions interactions;
  std::string description;  // "synthetic (...)" or the file's path
};
Dataset load_dataset(const DataSpec& spec);

struct SequenceWindows {
  int max_length = 10, min_length = 0, step = 0;
};
// The window options, defaulting to `defaults`.
SequenceWindows sequence_windows(const Args& args, const SequenceWindows& defaults = {});
SequenceInteractions to_sequences(const Interactions& interactions, const SequenceWindows& windows);

// The interactions with their items renamed to a model's dense ids through the
// data's own ids (labels from a file; the dense ids themselves for synthetic
// data). Interactions whose item the model does not know are dropped and
// counted in `dropped`; num_items becomes the model's.
Interactions map_to_model(const Interactions& data, const LabelIndex& model_ids, std::size_t& dropped);

}  // namespace limelight::cli
