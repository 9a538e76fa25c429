#include "limelight_bench/json_line.hpp"

#include <cmath>
#include <cstdio>

#include "io/json.hpp"

namespace limelight::bench {
namespace {

std::string number_text(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

void JsonLine::key(std::string_view name) {
  if (!body_.empty()) body_ += ',';
  body_ += json::quote(name);
  body_ += ':';
}

JsonLine& JsonLine::text(std::string_view key_name, std::string_view value) {
  key(key_name);
  body_ += json::quote(value);
  return *this;
}

JsonLine& JsonLine::number(std::string_view key_name, double value) {
  key(key_name);
  body_ += number_text(value);
  return *this;
}

JsonLine& JsonLine::integer(std::string_view key_name, std::int64_t value) {
  key(key_name);
  body_ += std::to_string(value);
  return *this;
}

JsonLine& JsonLine::numbers(std::string_view key_name, const std::vector<double>& values) {
  key(key_name);
  body_ += '[';
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) body_ += ',';
    body_ += number_text(values[i]);
  }
  body_ += ']';
  return *this;
}

}  // namespace limelight::bench
