// Option parsing for the `limelight` tool (see args.hpp).
#include "cli/args.hpp"

#include <charconv>
#include <cmath>
#include <sstream>

#include "limelight/error.hpp"

namespace limelight::cli {

Args::Args(std::string command, std::vector<OptionSpec> specs)
    : command_(std::move(command)), specs_(std::move(specs)) {}

const OptionSpec* Args::find(std::string_view name) const {
  for (const OptionSpec& s : specs_)
    if (s.name == name) return &s;
  return nullptr;
}

void Args::parse_options(int argc, char** argv, int first) {
  parse(argc, argv, first);
  LL_CHECK(positionals_.empty(), command_, " takes no positional argument, got ", printable(positionals_[0]));
}

void Args::require(const std::string& name) const {
  const OptionSpec* spec = find(name);
  LL_CHECK(has(name), command_, " needs --", name, spec && !spec->value_name.empty() ? " " + spec->value_name : "");
}

void Args::parse(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.size() < 3 || arg.substr(0, 2) != "--") {
      LL_CHECK(arg.empty() || arg[0] != '-' || arg == "-", "unknown option ", printable(arg), " for 'limelight ",
               command_, "' (see limelight ", command_, " --help)");
      positionals_.emplace_back(arg);
      continue;
    }
    std::string_view name = arg.substr(2);
    std::string_view inline_value;
    const std::size_t eq = name.find('=');
    const bool has_inline = eq != std::string_view::npos;
    if (has_inline) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const OptionSpec* spec = find(name);
    LL_CHECK(spec != nullptr, "unknown option ", printable(std::string("--") + std::string(name)),
             " for 'limelight ", command_, "' (see limelight ", command_, " --help)");
    if (spec->value_name.empty()) {
      LL_CHECK(!has_inline, "option --", spec->name, " takes no value");
      values_[spec->name] = "";
      continue;
    }
    if (has_inline) {
      values_[spec->name] = std::string(inline_value);
    } else {
      LL_CHECK(i + 1 < argc, "option --", spec->name, " needs a value (", spec->value_name, ")");
      values_[spec->name] = argv[++i];
    }
  }
}

bool Args::has(const std::string& name) const { return values_.count(name) != 0; }

std::string Args::text(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

std::int64_t Args::integer(const std::string& name, std::int64_t fallback, std::int64_t lo, std::int64_t hi) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  return parse_integer(it->second, "--" + name, lo, hi);
}

double Args::number(const std::string& name, double fallback, double lo, double hi) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  return parse_number(it->second, "--" + name, lo, hi);
}

std::vector<int> Args::int_list(const std::string& name, const std::vector<int>& fallback, int lo, int hi) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  std::vector<int> out;
  std::string_view rest = it->second;
  while (true) {
    const std::size_t comma = rest.find(',');
    out.push_back(static_cast<int>(parse_integer(rest.substr(0, comma), "--" + name, lo, hi)));
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return out;
}

std::string Args::options_help() const {
  std::ostringstream out;
  for (const OptionSpec& s : specs_) {
    std::string left = "  --" + s.name + (s.value_name.empty() ? "" : " " + s.value_name);
    if (left.size() < 30) left.resize(30, ' ');
    else left += "\n" + std::string(30, ' ');
    out << left << s.help << "\n";
  }
  return out.str();
}

bool wants_help(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--help" || a == "-h") return true;
  }
  return false;
}

std::int64_t parse_integer(std::string_view text, const std::string& what, std::int64_t lo, std::int64_t hi) {
  std::int64_t v = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, v);
  // A number too large for 64 bits is still a number: say so, with the range.
  LL_CHECK(!(ec == std::errc::result_out_of_range && ptr == end), what, ": ", printable(text),
           " is out of range [", lo, ", ", hi, "]");
  LL_CHECK(!text.empty() && ec == std::errc() && ptr == end, what, ": ", printable(text), " is not an integer");
  LL_CHECK(v >= lo && v <= hi, what, ": ", v, " is out of range [", lo, ", ", hi, "]");
  return v;
}

double parse_number(std::string_view text, const std::string& what, double lo, double hi) {
  double v = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, v);
  LL_CHECK(!(ec == std::errc::result_out_of_range && ptr == end), what, ": ", printable(text),
           " is out of range [", lo, ", ", hi, "]");
  LL_CHECK(!text.empty() && ec == std::errc() && ptr == end && std::isfinite(v), what, ": ", printable(text),
           " is not a number");
  LL_CHECK(v >= lo && v <= hi, what, ": ", v, " is out of range [", lo, ", ", hi, "]");
  return v;
}

std::string printable(std::string_view text) {
  constexpr std::size_t max_bytes = 60;
  static const char* hex = "0123456789abcdef";
  std::string out = "'";
  for (std::size_t i = 0; i < text.size() && i < max_bytes; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  out += text.size() > max_bytes ? "'..." : "'";
  return out;
}

}  // namespace limelight::cli
