// What the benchmark programs share: timing statistics, comma-separated
// option lists, a reader of "--flag value" command lines, and the check that
// two lists of recommendations are the same to the bit.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "limelight/model.hpp"

namespace limelight::bench {

using Clock = std::chrono::steady_clock;

// Seconds that one call of `fn` takes.
double seconds_of(const std::function<void()>& fn);

// The median, the mean of the two middle values of an even count.
double median(std::vector<double> v);

// The upper of the two middle values of an even count (the middle one of an
// odd count): the loader and line benches report it, so that their figures
// stay comparable with their committed tables.
double upper_median(std::vector<double> v);

// The q-quantile by nearest rank: the ceil(q * n)-th smallest value (q 0.5:
// the lower of the two middle values of an even count).
double percentile(std::vector<double> v, double q);

// The parts of `s` between commas, empty ones included ("a,,b" gives a, "" and
// b; "" gives one empty part).
std::vector<std::string> split_list(const std::string& s);

// A command line of flags and their values, read in order:
//   for (Arguments args(argc, argv, "limelight-bench"); args.next();)
//     if (args.flag() == "--seed") seed = args.value();
class Arguments {
 public:
  Arguments(int argc, char** argv, std::string program) : argc_(argc), argv_(argv), program_(std::move(program)) {}
  // Steps to the next argument; false after the last.
  bool next();
  const std::string& flag() const { return flag_; }
  // The argument after the flag, consumed; throws "PROGRAM: FLAG needs a value"
  // when the flag is the last argument.
  std::string value();

 private:
  int argc_;
  char** argv_;
  int at_ = 0;
  std::string program_, flag_;
};

// Whether the first n of `a` and `b` are the same items with the same score bits.
bool same_recommendations(const Recommendation* a, const Recommendation* b, std::size_t n);

}  // namespace limelight::bench
