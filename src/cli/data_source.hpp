// Where `limelight fit` and `limelight evaluate` get their interactions: the
// built-in synthetic generator (the default), a MovieLens dataset or a
// delimited file; the options that pick and shape them (sequence windows, the
// user-based test split); and the mapping of a dataset's own item ids onto a
// saved model's ids.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cli/args.hpp"
#include "cli/sequence_input.hpp"
#include "limelight/data.hpp"

namespace limelight::cli {

// --synthetic-*, --concentration, --order, --movielens, --csv and its columns,
// the sequence windows and --test-fraction (with the given default).
std::vector<OptionSpec> data_option_specs(const std::string& test_fraction_help);

struct Dataset {
  Interactions interactions;
  std::string description;  // "synthetic: ..." or the file's path
};

// The interactions named by the options; `seed` drives the synthetic generator.
Dataset load_dataset(const Args& args, std::uint64_t seed);

struct SequenceWindows {
  int max_length = 10, min_length = 0, step = 0;
};
SequenceWindows sequence_windows(const Args& args);
SequenceInteractions to_sequences(const Interactions& interactions, const SequenceWindows& windows);

// The interactions with their items renamed to a model's dense ids through the
// data's own ids (labels from a file; the dense ids themselves for synthetic
// data). Interactions whose item the model does not know are dropped and
// counted in `dropped`; num_items becomes the model's.
Interactions map_to_model(const Interactions& data, const LabelIndex& model_ids, std::size_t& dropped);

}  // namespace limelight::cli
