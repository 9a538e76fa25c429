// Checked output paths and fallback saving (see output_file.hpp).
#include "cli/output_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "limelight/error.hpp"

namespace limelight::cli {

namespace fs = std::filesystem;

void check_output_path(const std::string& path, const std::string& option) {
  LL_CHECK(!path.empty(), option, ": empty file name");
  std::error_code ec;
  LL_CHECK(!fs::is_directory(path, ec), option, ": ", path, " is a directory; give a file name");
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  LL_CHECK(fs::exists(dir, ec), option, ": cannot write ", path, ": the directory ", dir.string(),
           " does not exist");
  LL_CHECK(fs::is_directory(dir, ec), option, ": cannot write ", path, ": ", dir.string(), " is not a directory");
  // A real file creation answers for permissions, read-only mounts and quotas alike.
  std::string probe_name = ".";
  probe_name += fs::path(path).filename().string();
  probe_name += ".probe-XXXXXX";
  const std::string probe = (dir / probe_name).string();
  std::vector<char> name(probe.begin(), probe.end());
  name.push_back('\0');
  const int fd = ::mkstemp(name.data());
  LL_CHECK(fd >= 0, option, ": cannot write ", path, ": cannot create a file in ", dir.string(), " (",
           std::strerror(errno), ")");
  ::close(fd);
  ::unlink(name.data());
}

SaveOutcome save_with_fallback(const std::string& path, const std::function<void(const std::string&)>& save) {
  SaveOutcome out;
  try {
    save(path);
    out.written_to = path;
    return out;
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  const fs::path target(path);
  const std::string stem = target.stem().string(), ext = target.extension().string();
  std::vector<fs::path> dirs = {target.parent_path().empty() ? fs::path(".") : target.parent_path(), fs::path(".")};
  std::error_code ec;
  const fs::path tmp = fs::temp_directory_path(ec);
  if (!ec) dirs.push_back(tmp);
  for (const fs::path& dir : dirs) {
    for (int n = 0; n < 100; ++n) {
      const fs::path candidate = dir / (stem + ".recovered" + (n ? "-" + std::to_string(n) : "") + ext);
      if (fs::exists(candidate, ec)) continue;
      try {
        save(candidate.string());
        out.written_to = candidate.string();
        return out;
      } catch (const std::exception&) {
        break;  // this directory does not take files: try the next
      }
    }
  }
  return out;
}

}  // namespace limelight::cli
