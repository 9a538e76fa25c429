// The pieces of a model file that model_file.cpp builds and that the
// gathered writer of a sharded model (gathered_model_file.cpp) reuses: the
// tensors and metadata of a file, and its checksum.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "limelight/model_file.hpp"
#include "limelight/safetensors.hpp"

namespace limelight::io::model_file_parts {

constexpr const char* checksum_key = "limelight_crc32";
constexpr const char* exp_avg_prefix = "optimizer.exp_avg.";
constexpr const char* exp_avg_sq_prefix = "optimizer.exp_avg_sq.";

// Everything one file holds: tensors (pointing into the model and `state`)
// and metadata with its checksum.
struct FileContents {
  std::vector<io::WriteEntry> entries;
  std::map<std::string, std::string> metadata;
  std::vector<Tensor> host_copies;  // of device tensors; entries point into them
};

// The file of `model` (with `state` when not null): its entries in the
// checksum's order (every parameter in parameter order, then with a state
// exp_avg and exp_avg_sq of parameter 0, of parameter 1, ...) and the
// metadata with the checksum of model_crc32.
FileContents file_contents(const ImplicitSequenceModel& model, const SaveOptions& options, const TrainingState* state);

// zlib's CRC-32 of the parameters' bytes in parameter order, then of the
// moments, then of every metadata entry but the checksum (see model_file.cpp).
std::uint32_t model_crc32(const std::vector<const Tensor*>& params, const std::vector<const Tensor*>& extra,
                          const std::map<std::string, std::string>& md);
// The metadata's part of it, continuing `crc`.
std::uint32_t metadata_crc32(std::uint32_t crc, const std::map<std::string, std::string>& md);

}  // namespace limelight::io::model_file_parts
