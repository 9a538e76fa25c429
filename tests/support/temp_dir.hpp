// A test's scratch folder: fresh and empty when made, removed with all it
// holds when the object goes out of scope. Included as
// "tests/support/temp_dir.hpp" (the project root is on every test's path).
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace test_support {

struct TempDir {
  std::filesystem::path path;

  TempDir() {
    namespace fs = std::filesystem;
    // The process id and a counter: test programs that run side by side never share one.
    static int counter = 0;
    path = fs::temp_directory_path() /
           ("limelight_test_dir_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // The path of `name` in the folder.
  std::string file(const std::string& name) const { return (path / name).string(); }
  // Writes `text` to `name` in the folder; its path.
  std::string write(const std::string& name, const std::string& text) const {
    const std::string p = file(name);
    std::ofstream out(p, std::ios::binary);
    out << text;
    REQUIRE(out.good());
    return p;
  }
  // The names of what the folder holds, in directory order.
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(path)) out.push_back(e.path().filename().string());
    return out;
  }
};

}  // namespace test_support
