// limelight-bench's command line.
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "limelight/error.hpp"
#include "limelight_bench/limelight_bench.hpp"

#ifndef LIMELIGHT_SOURCE_ROOT
#define LIMELIGHT_SOURCE_ROOT "."
#endif

namespace limelight::bench {

const char* const kUsage =
    "usage: limelight-bench [options]\n"
    "  --representations LIST  comma-separated: pooling,cnn,lstm,mixture (default all)\n"
    "  --losses LIST           comma-separated: bpr,adaptive_hinge,pointwise,hinge (default bpr)\n"
    "  --dataset NAME          movielens | synthetic | both (default movielens)\n"
    "  --movielens PATH        MovieLens 100K folder or u.data (default $LIMELIGHT_SHARED/data/\n"
    "                          movielens-100k if set, else ../shared/data/movielens-100k beside\n"
    "                          the project root)\n"
    "  --epochs N              training epochs, the first a warm-up not timed (default 5, >= 2)\n"
    "  --threads N             OpenBLAS/OpenMP threads (default: the libraries' own default)\n"
    "  --repetitions N         timed predict/recommend calls (default 2000, after 50 warm-up)\n"
    "  --latency-budget S      stop timing a call kind after S seconds (default 5, >= 100 calls)\n"
    "  --learning-rate X       Adam learning rate (default 0.01)\n"
    "  --seed N                model seed (default 42)\n"
    "  --export-sequences DIR  write each dataset's train/test sequences for compare_pytorch.py\n"
    "  --stream                only the streaming-session sweep: event-to-top-10 latency per\n"
    "                          representation and catalogue size on initialised models (one\n"
    "                          thread unless --threads), against a full recommend\n"
    "  --stream-items LIST     catalogue sizes of the sweep (default 1683,100000,1000000)\n"
    "  --json                  one JSON object per configuration per line instead of a table\n";

namespace {

// The non-empty parts of a comma-separated list ("a,,b," gives a and b).
std::vector<std::string> list_of(const std::string& s) {
  std::vector<std::string> out;
  for (std::string& part : split_list(s))
    if (!part.empty()) out.push_back(std::move(part));
  return out;
}

long parse_int(const std::string& flag, const std::string& value, long lo, long hi) {
  char* end = nullptr;
  const long v = std::strtol(value.c_str(), &end, 10);
  LL_CHECK(!value.empty() && *end == '\0' && v >= lo && v <= hi, "limelight-bench: ", flag, " expects an integer in [",
           lo, ", ", hi, "], got '", value, "'");
  return v;
}

double parse_double(const std::string& flag, const std::string& value) {
  char* end = nullptr;
  const double v = std::strtod(value.c_str(), &end);
  LL_CHECK(!value.empty() && *end == '\0' && std::isfinite(v) && v > 0, "limelight-bench: ", flag,
           " expects a positive number, got '", value, "'");
  return v;
}

}  // namespace

Options parse_options(int argc, char** argv) {
  Options o;
  for (Arguments args(argc, argv, "limelight-bench"); args.next();) {
    const std::string& a = args.flag();
    if (a == "--representations") {
      o.representations = list_of(args.value());
    } else if (a == "--losses") {
      o.losses = list_of(args.value());
    } else if (a == "--dataset") {
      const std::string d = args.value();
      LL_CHECK(d == "movielens" || d == "synthetic" || d == "both", "limelight-bench: --dataset must be movielens, ",
               "synthetic or both, got '", d, "'");
      o.datasets = d == "both" ? std::vector<std::string>{"movielens", "synthetic"} : std::vector<std::string>{d};
    } else if (a == "--movielens") {
      o.movielens = args.value();
    } else if (a == "--epochs") {
      o.model.n_iter = static_cast<int>(parse_int(a, args.value(), 2, 1000));
    } else if (a == "--threads") {
      o.model.threads = static_cast<int>(parse_int(a, args.value(), 1, 256));
    } else if (a == "--repetitions") {
      o.repetitions = static_cast<int>(parse_int(a, args.value(), 1, 10000000));
    } else if (a == "--latency-budget") {
      o.latency_budget_s = parse_double(a, args.value());
    } else if (a == "--learning-rate") {
      o.model.learning_rate = parse_double(a, args.value());
    } else if (a == "--seed") {
      o.model.seed = static_cast<std::uint64_t>(parse_int(a, args.value(), 0, 1L << 62));
    } else if (a == "--export-sequences") {
      o.export_dir = args.value();
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "--stream") {
      o.stream = true;
    } else if (a == "--stream-items") {
      o.stream_items.clear();
      for (const std::string& n : list_of(args.value())) o.stream_items.push_back(parse_int(a, n, 2, 1L << 28));
      LL_CHECK(!o.stream_items.empty(), "limelight-bench: --stream-items needs at least one size");
    } else if (a == "--child") {
      o.child = args.value();
    } else if (a == "--help" || a == "-h") {
      o.help = true;
    } else {
      LL_CHECK(false, "limelight-bench: unknown option '", a, "'\n", kUsage);
    }
  }
  LL_CHECK(!o.representations.empty() && !o.losses.empty(), "limelight-bench: empty --representations or --losses");
  if (o.movielens.empty()) {
    const char* shared = std::getenv("LIMELIGHT_SHARED");
    o.movielens = shared != nullptr && *shared != '\0'
                      ? std::string(shared) + "/data/movielens-100k"
                      : std::string(LIMELIGHT_SOURCE_ROOT) + "/../shared/data/movielens-100k";
  }
  return o;
}

}  // namespace limelight::bench
