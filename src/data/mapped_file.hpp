// A file's bytes for parsing in place: mapped read-only when it is a regular
// file (no copy; pages are read in by whichever thread parses them), read
// whole into memory otherwise (a pipe, an empty file, a failed mapping).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace limelight::data {

class MappedFile {
 public:
  // Error naming the path when it is a directory or cannot be opened or read.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  // Valid as long as the object.
  std::string_view text() const { return map_ ? std::string_view(static_cast<const char*>(map_), size_) : copy_; }

 private:
  void* map_ = nullptr;
  std::size_t size_ = 0;
  std::string copy_;
};

}  // namespace limelight::data
