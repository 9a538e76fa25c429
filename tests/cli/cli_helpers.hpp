// Helpers of the CLI tests: run the built `limelight` binary (path in
// $LIMELIGHT_CLI) with arguments and standard input, capturing its exit
// status, standard output and standard error; temporary directories; files.
#pragma once

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/support/shared_dir.hpp"
#include "tests/support/temp_dir.hpp"

namespace cli_test {

namespace fs = std::filesystem;

using test_support::shared_dir;
using test_support::TempDir;

// The tiny synthetic set of the CLI tests (a fit takes well under a second).
inline const std::vector<std::string> kTinyData = {"--synthetic-users", "60", "--synthetic-items", "30",
                                                   "--synthetic-interactions", "3000", "--seed", "5"};

inline std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

inline std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_all(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  REQUIRE(out.good());
}

inline std::string cli_path() {
  const char* cli = std::getenv("LIMELIGHT_CLI");
  REQUIRE_MESSAGE(cli != nullptr, "LIMELIGHT_CLI is not set");
  return cli;
}

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct Result {
  int status = -1;
  std::string out, err;
  std::vector<std::string> out_lines() const {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < out.size()) {
      std::size_t end = out.find('\n', start);
      if (end == std::string::npos) end = out.size();
      lines.push_back(out.substr(start, end - start));
      start = end + 1;
    }
    return lines;
  }
};

// Runs `limelight args...` with `input` on standard input.
inline Result run(const std::vector<std::string>& args, const std::string& input = "") {
  TempDir io;
  write_all(io.path / "in", input);
  std::string command = shell_quote(cli_path());
  for (const std::string& a : args) {
    command += ' ';
    command += shell_quote(a);
  }
  for (const char* redirect : {" <", " >", " 2>"}) {
    command += redirect;
    command += shell_quote(io.file(redirect[1] == '<' ? "in" : redirect[1] == '>' ? "out" : "err"));
  }
  const int raw = std::system(command.c_str());
  Result r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + (WIFSIGNALED(raw) ? WTERMSIG(raw) : 0);
  r.out = read_all(io.path / "out");
  r.err = read_all(io.path / "err");
  return r;
}

}  // namespace cli_test
