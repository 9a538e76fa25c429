// Option parsing for the `limelight` tool (see args.hpp).
#include "cli/args.hpp"

#include <charconv>
#include <cmath>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "limelight/error.hpp"

namespace limelight::cli {

namespace opt {

OptionValue flag() { return {}; }

OptionValue text() {
  OptionValue v;
  v.kind = ValueKind::text;
  return v;
}

OptionValue text(std::string fallback) {
  OptionValue v = text();
  v.text_default = std::move(fallback);
  return v;
}

OptionValue choice(std::vector<std::string> values) {
  OptionValue v = text(values.at(0));
  v.choices = std::move(values);
  return v;
}

OptionValue integer(std::int64_t lo, std::int64_t hi) {
  OptionValue v;
  v.kind = ValueKind::integer;
  v.int_lo = lo;
  v.int_hi = hi;
  return v;
}

OptionValue integer(std::int64_t lo, std::int64_t hi, std::int64_t fallback) {
  OptionValue v = integer(lo, hi);
  v.int_default = fallback;
  return v;
}

OptionValue number(double lo, double hi) {
  OptionValue v;
  v.kind = ValueKind::number;
  v.lo = lo;
  v.hi = hi;
  return v;
}

OptionValue number(double lo, double hi, double fallback) {
  OptionValue v = number(lo, hi);
  v.number_default = fallback;
  return v;
}

OptionValue int_list(int lo, int hi) {
  OptionValue v = integer(lo, hi);
  v.kind = ValueKind::int_list;
  return v;
}

}  // namespace opt

std::vector<Option> join(std::initializer_list<std::vector<Option>> groups) {
  std::vector<Option> out;
  for (const std::vector<Option>& g : groups) out.insert(out.end(), g.begin(), g.end());
  return out;
}

namespace {

// "--help" or "-h" anywhere after the subcommand.
bool wants_help(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--help" || a == "-h") return true;
  }
  return false;
}

[[noreturn]] void internal(const std::string& what) { throw std::logic_error("internal: " + what); }

}  // namespace

Args::Args(Command command) : command_(std::move(command)) {
  for (const Option& o : command_.options)
    if ((o.value.kind == ValueKind::flag) != o.value_name.empty())
      internal("option --" + o.name + ": a flag and only a flag has no value name");
}

const Option* Args::find(std::string_view name) const {
  for (const Option& o : command_.options)
    if (o.name == name) return &o;
  return nullptr;
}

const Option* Args::declared(const std::string& name, ValueKind kind) const {
  const Option* o = find(name);
  if (o != nullptr && o->value.kind != kind) internal("option --" + name + " is read as another kind than declared");
  return o;
}

const std::string* Args::given(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? nullptr : &it->second;
}

bool Args::parse(int argc, char** argv, int first) {
  const std::string& command = command_.name;
  if (wants_help(argc, argv, first)) {
    std::cout << help();
    return false;
  }
  for (int i = first; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.size() < 3 || arg.substr(0, 2) != "--") {
      LL_CHECK(arg.empty() || arg[0] != '-' || arg == "-", "unknown option ", printable(arg), " for 'limelight ",
               command, "' (see limelight ", command, " --help)");
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
    const Option* o = find(name);
    LL_CHECK(o != nullptr, "unknown option ", printable(std::string("--") + std::string(name)),
             " for 'limelight ", command, "' (see limelight ", command, " --help)");
    if (o->value.kind == ValueKind::flag) {
      LL_CHECK(!has_inline, "option --", o->name, " takes no value");
      values_[o->name] = "";
      continue;
    }
    if (has_inline) {
      values_[o->name] = std::string(inline_value);
    } else {
      LL_CHECK(i + 1 < argc, "option --", o->name, " needs a value (", o->value_name, ")");
      values_[o->name] = argv[++i];
    }
  }
  LL_CHECK(command_.takes_positionals || positionals_.empty(), command, " takes no positional argument, got ",
           printable(positionals_.empty() ? "" : positionals_[0]));
  for (const Option& o : command_.options)
    LL_CHECK(!o.value.required || has(o.name), command, " needs --", o.name,
             o.value_name.empty() ? "" : " " + o.value_name);
  return true;
}

bool Args::has(const std::string& name) const { return values_.count(name) != 0; }

std::string Args::text(const std::string& name) const {
  const Option* o = declared(name, ValueKind::text);
  return text(name, o != nullptr && o->value.text_default ? *o->value.text_default : "");
}

std::string Args::text(const std::string& name, const std::string& fallback) const {
  const Option* o = declared(name, ValueKind::text);
  const std::string* v = given(name);
  if (v == nullptr) return fallback;
  const std::vector<std::string>& choices = o->value.choices;
  bool listed = choices.empty();
  std::string names;
  for (std::size_t i = 0; i < choices.size(); ++i) {
    listed = listed || *v == choices[i];
    names += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") + choices[i];
  }
  LL_CHECK(listed, "--", name, ": ", printable(*v), " is not ", names);
  return *v;
}

std::int64_t Args::integer(const std::string& name) const {
  const Option* o = declared(name, ValueKind::integer);
  if (o == nullptr || !o->value.int_default) internal("option --" + name + " has no declared default");
  return integer(name, *o->value.int_default);
}

std::int64_t Args::integer(const std::string& name, std::int64_t fallback) const {
  const Option* o = declared(name, ValueKind::integer);
  return o == nullptr ? fallback : integer(name, fallback, o->value.int_lo, o->value.int_hi);
}

std::int64_t Args::integer(const std::string& name, std::int64_t fallback, std::int64_t lo, std::int64_t hi) const {
  declared(name, ValueKind::integer);
  const std::string* v = given(name);
  return v == nullptr ? fallback : parse_integer(*v, "--" + name, lo, hi);
}

double Args::number(const std::string& name) const {
  const Option* o = declared(name, ValueKind::number);
  if (o == nullptr || !o->value.number_default) internal("option --" + name + " has no declared default");
  return number(name, *o->value.number_default);
}

double Args::number(const std::string& name, double fallback) const {
  const Option* o = declared(name, ValueKind::number);
  const std::string* v = given(name);
  return v == nullptr ? fallback : parse_number(*v, "--" + name, o->value.lo, o->value.hi);
}

std::vector<int> Args::int_list(const std::string& name, const std::vector<int>& fallback) const {
  const Option* o = declared(name, ValueKind::int_list);
  const std::string* v = given(name);
  if (v == nullptr) return fallback;
  std::vector<int> out;
  std::string_view rest = *v;
  while (true) {
    const std::size_t comma = rest.find(',');
    const std::int64_t v = parse_integer(rest.substr(0, comma), "--" + name, o->value.int_lo, o->value.int_hi);
    out.push_back(static_cast<int>(v));
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return out;
}

std::string Args::help() const {
  std::ostringstream out;
  out << command_.about << "\noptions:\n";
  for (const Option& o : command_.options) {
    std::string left = "  --" + o.name + (o.value_name.empty() ? "" : " " + o.value_name);
    if (left.size() < 30) left.resize(30, ' ');
    else left += "\n" + std::string(30, ' ');
    out << left << o.help << "\n";
  }
  return out.str();
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
