// The record of a model's training data, stored by `limelight fit` in the
// model file's metadata under "training_data" (a JSON object): the loader and
// its options; for file data the file's name, absolute path, size and XXH3
// 64-bit hash (FNV-1a 64 in files of 0.1.0, still checked); and the sequence windows, test fraction and split seed fit
// used. Commands on a saved model (evaluate, predict/recommend --user, fit
// --init) use it when no data option is given, after checking that the file
// is unchanged; otherwise they refuse, naming the options to give.
#pragma once

#include <cstdint>
#include <string>

#include "cli/args.hpp"
#include "cli/data_source.hpp"
#include "io/json.hpp"
#include "limelight/model_file.hpp"

namespace limelight::cli {

inline constexpr const char* training_data_key = "training_data";

struct TrainingData {
  DataSpec spec;
  SequenceWindows windows;
  double test_fraction = 0.2;
  std::uint64_t split_seed = 42;
};

// The record as stored (the file's size and hash are computed here).
std::string training_data_json(const TrainingData& data);
// The record of a model file, or Error naming the model file when malformed.
TrainingData parse_training_data(const std::string& json_text, const std::string& model_path);

// The record's key for the file's hash, named for its algorithm: XXH3 64
// (xxHash, a few GB/s) since 0.2; 0.1.0 wrote FNV-1a 64 (byte at a time).
inline constexpr const char* xxh3_64_key = "xxh3_64";
inline constexpr const char* fnv1a64_key = "fnv1a64";
// `algorithm` (one of the keys above) of a file's bytes, as 16 hex digits,
// and the file's size; Error naming the file.
std::string file_hash(const std::string& path, const std::string& algorithm, std::uintmax_t& size);
// Which of the keys a parsed record holds; Error when neither.
std::string recorded_hash_key(const json::Value& record);

struct ModelData {
  Dataset data;
  SequenceWindows windows;
  double test_fraction = 0.2;
  std::uint64_t seed = 42;  // the split's seed (and synthetic data's)
  bool recorded = false;    // from the model's record, not the options
};

// The data for `command` on a saved model: the data options when given (the
// windows, --test-fraction and --seed default to the record's, else to 10,
// `default_test_fraction` and the model's seed); without data options the
// recorded data when its file is unchanged; otherwise an Error naming the
// model, what is wrong and the options to give.
// `user_option` is the option naming the csv's user column (see data_spec).
ModelData data_for_model(const Args& args, const LoadedModel& loaded, const std::string& model_path,
                         const std::string& command, double default_test_fraction,
                         const std::string& user_option = "user");

}  // namespace limelight::cli
