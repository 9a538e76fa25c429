// The command line parser of the `limelight` tool: each subcommand declares
// its options (name, whether it takes a value, help text) and gets back typed
// values; anything malformed (unknown option, missing value, bad number, value
// out of range) becomes a limelight::Error naming the option and the text.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace limelight::cli {

struct OptionSpec {
  std::string name;        // without the leading "--"
  std::string value_name;  // empty for a flag
  std::string help;
};

class Args {
 public:
  Args(std::string command, std::vector<OptionSpec> specs);

  // Parses argv[first..argc): "--name value", "--name=value", flags and
  // positional arguments. Error on unknown options and missing values.
  void parse(int argc, char** argv, int first);
  // parse() for a command that takes options only: a positional argument is
  // an error naming the command.
  void parse_options(int argc, char** argv, int first);
  // Error "<command> needs --NAME VALUE_NAME" unless the option was given.
  void require(const std::string& name) const;

  bool has(const std::string& name) const;  // given on the command line
  bool flag(const std::string& name) const { return has(name); }
  std::string text(const std::string& name, const std::string& fallback = "") const;
  std::int64_t integer(const std::string& name, std::int64_t fallback, std::int64_t lo, std::int64_t hi) const;
  double number(const std::string& name, double fallback, double lo, double hi) const;
  // A comma-separated list of integers, each in [lo, hi].
  std::vector<int> int_list(const std::string& name, const std::vector<int>& fallback, int lo, int hi) const;
  const std::vector<std::string>& positionals() const { return positionals_; }

  // The options section of --help, one option per line.
  std::string options_help() const;

 private:
  const OptionSpec* find(std::string_view name) const;

  std::string command_;
  std::vector<OptionSpec> specs_;
  std::map<std::string, std::string> values_;
  std::vector<std::string> positionals_;
};

// "--help" or "-h" anywhere after the subcommand.
bool wants_help(int argc, char** argv, int first);

// Strict numbers: the whole text must parse, no trailing bytes.
std::int64_t parse_integer(std::string_view text, const std::string& what, std::int64_t lo, std::int64_t hi);
double parse_number(std::string_view text, const std::string& what, double lo, double hi);

// `text` quoted for an error message: at most 60 bytes, control and non-ASCII
// bytes as \xNN, so any input prints on one line.
std::string printable(std::string_view text);

}  // namespace limelight::cli
