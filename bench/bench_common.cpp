#include "bench_common.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "limelight/error.hpp"

namespace limelight::bench {

double seconds_of(const std::function<void()>& fn) {
  const auto t0 = Clock::now();
  fn();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double upper_median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at <= s.size()) {
    const std::size_t comma = std::min(s.find(',', at), s.size());
    out.push_back(s.substr(at, comma - at));
    at = comma + 1;
  }
  return out;
}

bool Arguments::next() {
  if (at_ + 1 >= argc_) return false;
  flag_ = argv_[++at_];
  return true;
}

std::string Arguments::value() {
  LL_CHECK(at_ + 1 < argc_, program_, ": ", flag_, " needs a value");
  return argv_[++at_];
}

bool same_recommendations(const Recommendation* a, const Recommendation* b, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (a[i].item != b[i].item || std::memcmp(&a[i].score, &b[i].score, sizeof(float)) != 0) return false;
  return true;
}

}  // namespace limelight::bench
