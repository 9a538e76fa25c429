// Reading and writing safetensors files: a little-endian u64 header length N,
// N bytes of UTF-8 JSON ({name: {"dtype", "shape", "data_offsets"}} plus an
// optional "__metadata__" of string values), then the raw little-endian data.
// The reader validates everything (sizes, offsets, exact tiling of the data
// section) and throws limelight::Error naming the source and the problem; it
// never reads out of bounds. The writer is deterministic (I64/I32 tensors
// first, then F32, each group sorted by name, header padded with spaces to an
// 8-byte boundary) and replaces files atomically.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "limelight/tensor.hpp"

namespace limelight::io {

// One tensor of a file. begin/end are byte offsets into the data section.
struct TensorInfo {
  DType dtype;
  std::vector<std::int64_t> shape;
  std::size_t begin = 0, end = 0;
};

class SafetensorsFile {
 public:
  // Reads the whole file; errors name the path.
  static SafetensorsFile open(const std::string& path);
  // The same checks on bytes in memory; errors name `source_name`.
  static SafetensorsFile parse(std::string bytes, const std::string& source_name);

  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  std::vector<std::string> names() const;  // sorted, without __metadata__
  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const;  // Error naming file and tensor if missing
  std::vector<float> f32(const std::string& name) const;   // Error if the dtype is not F32
  std::vector<std::int64_t> i64(const std::string& name) const;  // I64, or I32 widened
  // An owned CPU tensor: F32 -> DType::f32; I64/I32 -> DType::i32 (Error if a
  // value does not fit in int32 or the rank exceeds Shape::max_rank).
  Tensor tensor(const std::string& name) const;
  const std::string& source() const { return source_; }

 private:
  const char* data(const TensorInfo& info) const { return bytes_.data() + data_start_ + info.begin; }

  std::string source_;
  std::string bytes_;
  std::size_t data_start_ = 0;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// One tensor to write; `data` points at numel * dtype_size(dtype) bytes.
struct WriteEntry {
  std::string name;
  DType dtype;
  std::vector<std::int64_t> shape;
  const void* data;
};

// Atomic: writes a temporary file in the same directory, flushes and fsyncs it,
// then rename()s it over `path`; on any failure the temporary is removed and
// `path` is untouched. DType::i32 is written as I32, i64 as I64, f32 as F32.
void write_safetensors(const std::string& path, const std::vector<WriteEntry>& tensors,
                       const std::map<std::string, std::string>& metadata);
// A file's header (the length, the JSON, its padding) and its tensors' order
// and byte sizes, for writing their data separately. `streamed` allows
// entries without data (write_safetensors_streamed supplies it).
struct SafetensorsLayout {
  std::string header;
  std::vector<std::size_t> order;  // indices into the entries, in file order
  std::vector<std::size_t> sizes;  // bytes of each entry
};
SafetensorsLayout safetensors_layout(const std::vector<WriteEntry>& tensors,
                                     const std::map<std::string, std::string>& metadata, bool streamed);
using ByteSink = std::function<void(const void* bytes, std::size_t n)>;
// write_safetensors with each tensor's bytes given in pieces by `data`,
// called once per tensor in file order with a sink that takes exactly
// layout.sizes[tensor] bytes in all: a file larger than the memory of the
// process that writes it (the gathered shards of a sharded table). Atomic as
// write_safetensors; an exception from `data` removes the temporary.
void write_safetensors_streamed(const std::string& path, const SafetensorsLayout& layout,
                                const std::function<void(std::size_t tensor, const ByteSink& sink)>& data);
// The bytes write_safetensors writes.
std::string serialize_safetensors(const std::vector<WriteEntry>& tensors,
                                  const std::map<std::string, std::string>& metadata);

}  // namespace limelight::io
