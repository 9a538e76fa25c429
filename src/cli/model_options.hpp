// What the commands on a saved model (evaluate, recommend, predict,
// recommend --stream) share: the --model and --device options, declared
// once (and recommend's --k), the model they name, and that model's item ids.
#pragma once

#include <string>

#include "cli/args.hpp"
#include "cli/sequence_input.hpp"
#include "limelight/model_file.hpp"

namespace limelight::cli {

// --model FILE, required.
Option model_option();
// --device NAME: where the model computes (default cpu).
Option device_option();
// --k N of recommend and recommend --stream: items an answer lists (default 10).
Option top_k_option(const std::string& help);

// The model --model names, loaded onto --device (the CPU for a command without it).
LoadedModel load_model_named(const Args& args);
// The ids a loaded model reads and writes: its item labels, else its dense ids.
LabelIndex item_ids(const LoadedModel& loaded);

}  // namespace limelight::cli
