// One flat JSON object on one line, as limelight-bench's children write their
// results and as compare_pytorch.py and plot_benchmarks.py read them: keys in
// the order added, numbers in %.6g (NaN and infinities as null), integers exact.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace limelight::bench {

class JsonLine {
 public:
  JsonLine& text(std::string_view key, std::string_view value);
  JsonLine& number(std::string_view key, double value);
  JsonLine& integer(std::string_view key, std::int64_t value);
  JsonLine& numbers(std::string_view key, const std::vector<double>& values);
  std::string str() const { return "{" + body_ + "}"; }

 private:
  void key(std::string_view name);
  std::string body_;
};

}  // namespace limelight::bench
