// Output files that must not cost the user their work: a path is checked
// before any work starts (its folder exists and takes a new file, and it is
// not itself a folder), and a model that still cannot be saved after training
// is written somewhere else, with the place reported.
#pragma once

#include <functional>
#include <string>

namespace limelight::cli {

// Error naming `option` and the path unless a file can be created at `path`:
// its directory exists, is a directory, and accepts a new file (tried by
// creating and removing a probe file); `path` must not be a directory.
void check_output_path(const std::string& path, const std::string& option);

struct SaveOutcome {
  std::string written_to;  // where the file went ("" if nowhere)
  std::string error;       // why `path` itself failed ("" on success)
};

// Calls save(path); if that throws, save(fallback) for the fallbacks in turn:
// "<stem>.recovered[-N]<ext>" beside `path`, then in the current directory,
// then in the temporary directory. Never throws.
SaveOutcome save_with_fallback(const std::string& path, const std::function<void(const std::string&)>& save);

}  // namespace limelight::cli
