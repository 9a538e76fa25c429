// Model files: safetensors holding the parameters under the reference's
// state_dict names and the configuration in __metadata__ (string values,
// JSON-encoded where not strings), as the reference fixtures hold them. A file
// written from a Spotlight model's state_dict with that metadata loads here.
// See docs/model-format.md.
#pragma once

#include <string>
#include <vector>

#include "limelight/model.hpp"

namespace limelight {

// The format version this library writes; it reads this version and files
// without a limelight format tag (such as files written from PyTorch).
constexpr const char* model_format = "limelight-model/1";

struct LoadedModel {
  ImplicitSequenceModel model;
  // The data's own item ids, indexed by dense id (item_labels[0] = "" for the
  // padding id); empty when the model was trained on dense ids.
  std::vector<std::string> item_labels;
};

// Atomic: a crash never leaves a half-written file under `path`.
void save_model(const std::string& path, const ImplicitSequenceModel& model,
                const std::vector<std::string>& item_labels = {});
// The exact bytes save_model writes.
std::string serialize_model(const ImplicitSequenceModel& model, const std::vector<std::string>& item_labels = {});
// Checks the header, the configuration, every parameter's dtype and shape,
// and the id map; Error naming the file and the problem otherwise.
LoadedModel load_model(const std::string& path);
LoadedModel load_model_from_bytes(std::string bytes, const std::string& source_name);

}  // namespace limelight
