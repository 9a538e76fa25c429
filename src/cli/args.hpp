// The command line parser of the `limelight` tool. Each subcommand declares
// its options once, in one table: name, what the value is called, its kind
// (flag, text, choice, integer, number, integer list) with its range and
// default, and the help line. Parsing, the typed values, every message about
// a malformed value (unknown option, missing value, bad number, value out of
// range, a value not among the choices, a required option left out) and the
// --help text all come from that table; each error is a limelight::Error
// naming the option and the text.
//
// The project's own parser rather than CLI11: CLI11 (2.1) accepts what this
// tool refuses (`--k 0x10` as 16, `--sparse=yes`, `--learning-rate 1e999` as
// inf) and words its errors and help its own way, so keeping the messages
// would take as much code around it as this parser is.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace limelight::cli {

enum class ValueKind { flag, text, integer, number, int_list };

// What an option takes. Build one with the opt:: functions below.
struct OptionValue {
  ValueKind kind = ValueKind::flag;
  std::int64_t int_lo = 0, int_hi = 0;  // integer, and each number of an int_list
  double lo = 0, hi = 0;                 // number
  // The value when the option is absent and the command passes no fallback
  // of its own (for defaults that come from elsewhere: a saved model, a record).
  std::optional<std::int64_t> int_default;
  std::optional<double> number_default;
  std::optional<std::string> text_default;
  std::vector<std::string> choices;  // text: the values it accepts (any when empty)
  bool required = false;             // the command fails without it

  OptionValue needed() const {
    OptionValue v = *this;
    v.required = true;
    return v;
  }
};

namespace opt {
OptionValue flag();
OptionValue text();
OptionValue text(std::string fallback);
// One of `values`; the first is the default.
OptionValue choice(std::vector<std::string> values);
OptionValue integer(std::int64_t lo, std::int64_t hi);
OptionValue integer(std::int64_t lo, std::int64_t hi, std::int64_t fallback);
OptionValue number(double lo, double hi);
OptionValue number(double lo, double hi, double fallback);
// Comma-separated integers, each in [lo, hi].
OptionValue int_list(int lo, int hi);
}  // namespace opt

struct Option {
  std::string name;        // without the leading "--"
  std::string value_name;  // the value in help and errors ("N", "FILE"); empty for a flag
  OptionValue value;
  std::string help;
};

// A subcommand as --help shows it: its name as typed ("fit", "recommend
// --stream"), the text above the options (usage lines, what it does) and its
// options, in help order.
struct Command {
  std::string name;
  std::string about;
  std::vector<Option> options;
  bool takes_positionals = false;  // else a positional argument is an error
};

// Option groups one after the other, for a command's table.
std::vector<Option> join(std::initializer_list<std::vector<Option>> groups);

class Args {
 public:
  explicit Args(Command command);

  // Parses argv[first..argc): "--name value", "--name=value", flags and
  // positional arguments. With "--help" or "-h" anywhere it prints the
  // command's help on standard output instead and returns false. Error on
  // unknown options, missing values, positional arguments of a command that
  // takes none, and required options left out ("<command> needs --NAME VALUE").
  bool parse(int argc, char** argv, int first);

  bool has(const std::string& name) const;  // given on the command line
  bool flag(const std::string& name) const { return has(name); }
  // The values, checked against the option's declaration when given. Without
  // a fallback an absent option gives its declared default (text: else "").
  // An option the command does not declare is never given: its fallback.
  std::string text(const std::string& name) const;
  std::string text(const std::string& name, const std::string& fallback) const;
  std::int64_t integer(const std::string& name) const;
  std::int64_t integer(const std::string& name, std::int64_t fallback) const;
  // For a range that depends on other options' values.
  std::int64_t integer(const std::string& name, std::int64_t fallback, std::int64_t lo, std::int64_t hi) const;
  double number(const std::string& name) const;
  double number(const std::string& name, double fallback) const;
  std::vector<int> int_list(const std::string& name, const std::vector<int>& fallback) const;
  const std::vector<std::string>& positionals() const { return positionals_; }

  // The whole --help text: the command's about text, then one line an option.
  std::string help() const;

 private:
  const Option* find(std::string_view name) const;
  // The declaration of an option read as `kind` (nullptr: not declared);
  // reading an option as another kind than it is declared is a bug here.
  const Option* declared(const std::string& name, ValueKind kind) const;
  const std::string* given(const std::string& name) const;

  Command command_;
  std::map<std::string, std::string> values_;
  std::vector<std::string> positionals_;
};

// Strict numbers: the whole text must parse, no trailing bytes.
std::int64_t parse_integer(std::string_view text, const std::string& what, std::int64_t lo, std::int64_t hi);
double parse_number(std::string_view text, const std::string& what, double lo, double hi);

// `text` quoted for an error message: at most 60 bytes, control and non-ASCII
// bytes as \xNN, so any input prints on one line.
std::string printable(std::string_view text);

}  // namespace limelight::cli
