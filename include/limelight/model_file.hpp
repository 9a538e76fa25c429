// Model files: safetensors holding the parameters under the reference's
// state_dict names and the configuration in __metadata__ (string values,
// JSON-encoded where not strings), as the reference fixtures hold them. A file
// written from a Spotlight model's state_dict with that metadata loads here.
// See docs/model-format.md.
#pragma once

#include <map>
#include <optional>
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
  // Every __metadata__ entry of the file, as stored (what `limelight info`
  // shows, and the training-data record `limelight evaluate` reads).
  std::map<std::string, std::string> metadata = {};
  // Present when the file was saved with SaveOptions::training_state.
  std::optional<TrainingState> training_state = std::nullopt;
};

struct SaveOptions {
  std::vector<std::string> item_labels;  // as LoadedModel::item_labels
  // Extra metadata entries (such as "training_data"); Error if one would
  // replace an entry the library writes itself.
  std::map<std::string, std::string> metadata;
  // Also store model.training_state(): tensors "optimizer.exp_avg.<param>" and
  // "optimizer.exp_avg_sq.<param>", entries "optimizer_steps" and "rng_state".
  bool training_state = false;
};

// Atomic: a crash never leaves a half-written file under `path`.
void save_model(const std::string& path, const ImplicitSequenceModel& model, const SaveOptions& options);
void save_model(const std::string& path, const ImplicitSequenceModel& model,
                const std::vector<std::string>& item_labels = {});
// save_model on every rank of `comm` together: rank 0 writes the file. For a
// model whose item table is sharded across the ranks, the file is the
// ordinary one (which one process loads and serves), its rows gathered
// from their owners piece by piece as rank 0 writes them; otherwise rank 0
// saves its copy. A failure on rank 0 throws there alone.
void save_model_gathered(const std::string& path, const ImplicitSequenceModel& model, const SaveOptions& options,
                         distributed::Communicator& comm);
// load_model on every rank of `comm` together, the item table sharded
// across them (initialize(num_items, comm)): each rank keeps its block of
// the item embeddings and biases, and the file's other parameters whole,
// for serving across ranks (recommend_across_ranks); no optimizer state.
// Every rank reads the whole file: its peak is the file's size.
LoadedModel load_model_sharded(const std::string& path, distributed::Communicator& comm);
// The exact bytes save_model writes.
std::string serialize_model(const ImplicitSequenceModel& model, const SaveOptions& options);
std::string serialize_model(const ImplicitSequenceModel& model, const std::vector<std::string>& item_labels = {});
// Checks the header, the configuration, every parameter's dtype and shape,
// and the id map; Error naming the file and the problem otherwise. The
// model's parameters go to `device` ("cpu" or "cuda").
LoadedModel load_model(const std::string& path, const std::string& device = "cpu");
LoadedModel load_model_from_bytes(std::string bytes, const std::string& source_name,
                                  const std::string& device = "cpu");

}  // namespace limelight
