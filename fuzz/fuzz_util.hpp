// Shared helpers of the libFuzzer targets: a per-process temporary file for
// the loaders that only take paths, and the one rule every target checks,
// that bad input becomes limelight::Error and nothing else.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

namespace limelight::fuzz {

// A file under $TMPDIR (or /tmp) named after the process, so parallel fuzzers
// never share one; `name` keeps the file name the loader dispatches on.
inline std::string temp_path(const std::string& name) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir && *dir ? dir : "/tmp") + "/limelight-fuzz-" + std::to_string(::getpid()) + "-" + name;
}

inline void write_file(const std::string& path, const std::uint8_t* data, std::size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

}  // namespace limelight::fuzz
