// A user's latest history, from a dataset, as a model's dense ids: what
// `predict --user` and `recommend --user` score. It is the newest window
// to_sequence would cut for that user (the last max_length items by
// timestamp, left-padded with 0), so it is scored as fit and evaluate see it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cli/sequence_input.hpp"
#include "limelight/data.hpp"

namespace limelight::cli {

// `user` is the data's own user id (a label for file data, the dense id for
// synthetic data). Items the model does not know are left out and counted in
// `dropped`. Error naming the user when the data has no such user or none of
// its items is known to the model.
std::vector<std::int32_t> user_history(const Interactions& data, const std::string& user, const LabelIndex& model_ids,
                                       int max_length, std::size_t& dropped);

}  // namespace limelight::cli
