// limelight-bench: whole-model benchmark of ImplicitSequenceModel on the
// protocol of docs/benchmarks.md. For each dataset x representation x loss it
// trains on the user-based train split, times the epochs after a warm-up one
// (steady-state sequences/s, median epoch), scores MRR on the test split,
// times one-sequence predict and recommend over the whole catalogue at 199
// steps of history, and records the peak resident memory. Each configuration
// runs in a fresh child process (this program re-executed) so that its peak
// memory is its own. Prints a table, or with --json one object per line.
// Every configuration also times streaming sessions (include/limelight/
// session.hpp): one new event's state update plus top-10 against a full
// recommend on the same 200-event history. --stream instead sweeps catalogue
// sizes (1.7K, 100K, 1M items) on freshly initialised models, one thread.
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "limelight/data.hpp"
#include "limelight/error.hpp"
#include "limelight/evaluation.hpp"
#include "limelight/model.hpp"
#include "limelight/random.hpp"
#include "limelight/session.hpp"

#ifndef LIMELIGHT_SOURCE_ROOT
#define LIMELIGHT_SOURCE_ROOT "."
#endif

extern char** environ;

namespace {

using limelight::Error;
using Clock = std::chrono::steady_clock;

// The protocol's fixed settings (docs/benchmarks.md). The split hash seeds are
// fixed rather than drawn so that compare_pytorch.py reproduces the split.
constexpr int kMaxLength = 200, kMinLength = 20, kStep = 200;
constexpr std::uint32_t kTestHashSeed = 42, kValidationHashSeed = 43;
constexpr double kTestFraction = 0.1, kValidationFraction = 1.0 / 9.0;

struct Options {
  std::vector<std::string> representations{"pooling", "cnn", "lstm", "mixture"};
  std::vector<std::string> losses{"bpr"};
  std::vector<std::string> datasets{"movielens"};
  int epochs = 5;
  int threads = 0;
  bool json = false;
  std::string movielens;
  int repetitions = 2000;
  double latency_budget_s = 5.0;
  double learning_rate = 1e-2;
  int embedding_dim = 32;
  int batch_size = 256;
  std::uint64_t seed = 42;
  std::string export_dir;
  std::string child;  // "dataset:representation:loss" in a child process
  bool stream = false;
  std::vector<long> stream_items{1683, 100000, 1000000};
  bool help = false;
};

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

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string part;
  while (std::getline(in, part, ','))
    if (!part.empty()) out.push_back(part);
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

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      LL_CHECK(i + 1 < argc, "limelight-bench: ", a, " needs a value");
      return argv[++i];
    };
    if (a == "--representations") {
      o.representations = split_list(value());
    } else if (a == "--losses") {
      o.losses = split_list(value());
    } else if (a == "--dataset") {
      const std::string d = value();
      LL_CHECK(d == "movielens" || d == "synthetic" || d == "both", "limelight-bench: --dataset must be movielens, ",
               "synthetic or both, got '", d, "'");
      o.datasets = d == "both" ? std::vector<std::string>{"movielens", "synthetic"} : std::vector<std::string>{d};
    } else if (a == "--movielens") {
      o.movielens = value();
    } else if (a == "--epochs") {
      o.epochs = static_cast<int>(parse_int(a, value(), 2, 1000));
    } else if (a == "--threads") {
      o.threads = static_cast<int>(parse_int(a, value(), 1, 256));
    } else if (a == "--repetitions") {
      o.repetitions = static_cast<int>(parse_int(a, value(), 1, 10000000));
    } else if (a == "--latency-budget") {
      o.latency_budget_s = parse_double(a, value());
    } else if (a == "--learning-rate") {
      o.learning_rate = parse_double(a, value());
    } else if (a == "--seed") {
      o.seed = static_cast<std::uint64_t>(parse_int(a, value(), 0, 1L << 62));
    } else if (a == "--export-sequences") {
      o.export_dir = value();
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "--stream") {
      o.stream = true;
    } else if (a == "--stream-items") {
      o.stream_items.clear();
      for (const std::string& n : split_list(value())) o.stream_items.push_back(parse_int(a, n, 2, 1L << 28));
      LL_CHECK(!o.stream_items.empty(), "limelight-bench: --stream-items needs at least one size");
    } else if (a == "--child") {
      o.child = value();
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

struct Dataset {
  limelight::SequenceInteractions train, test;
  std::int64_t interactions = 0, validation_sequences = 0;
};

// 80/10/10 by user: 10% of users to test, then 1/9 of the rest to validation
// (unused here: the benchmark trains on train and scores test).
Dataset load_dataset(const std::string& name, const Options& o) {
  limelight::Interactions all = name == "movielens" ? limelight::load_movielens(o.movielens)
                                                    : limelight::generate_sequential(1000, 1000, 100000, 0.1, 3, 42);
  auto [rest, test] = limelight::user_based_train_test_split_with_hash_seed(all, kTestFraction, kTestHashSeed);
  auto [train, validation] =
      limelight::user_based_train_test_split_with_hash_seed(rest, kValidationFraction, kValidationHashSeed);
  Dataset d;
  d.interactions = static_cast<std::int64_t>(all.size());
  d.train = train.to_sequence(kMaxLength, kMinLength, kStep);
  d.test = test.to_sequence(kMaxLength, kMinLength, kStep);
  d.validation_sequences = validation.to_sequence(kMaxLength, kMinLength, kStep).num_sequences;
  return d;
}

void export_sequences(const limelight::SequenceInteractions& s, const std::string& path) {
  std::ofstream out(path);
  LL_CHECK(out.good(), "limelight-bench: cannot write ", path);
  out << "# num_items " << s.num_items << " max_sequence_length " << s.max_sequence_length << " num_sequences "
      << s.num_sequences << "\n";
  for (std::int64_t i = 0; i < s.num_sequences; ++i) {
    const std::int32_t* row = s.row(i);
    for (int t = 0; t < s.max_sequence_length; ++t) out << (t ? " " : "") << row[t];
    out << "\n";
  }
  LL_CHECK(out.good(), "limelight-bench: error writing ", path);
}

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

// Milliseconds per call after 50 untimed calls, until `repetitions` calls or
// the time budget (but at least 100 calls).
template <class F>
std::vector<double> time_calls(F&& call, const Options& o) {
  for (int i = 0; i < 50; ++i) call();
  std::vector<double> ms;
  const auto begin = Clock::now();
  for (int i = 0; i < o.repetitions; ++i) {
    const auto t0 = Clock::now();
    call();
    const auto t1 = Clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    if (i >= 99 && std::chrono::duration<double>(t1 - begin).count() > o.latency_budget_s) break;
  }
  return ms;
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// Streaming: a session that has seen `history` takes one more event and
// answers its top 10, against the model's recommend on the same history plus
// that event. Each timed call starts from a copy of the same session (the copy
// is not timed), so both sides always see 200 events. Microseconds.
struct StreamTimes {
  std::vector<double> update_us, score_us, event_us, full_us;
};

StreamTimes time_stream(const limelight::ImplicitSequenceModel& model, const std::vector<std::int32_t>& history,
                        const std::vector<std::int32_t>& next_items, const Options& o) {
  const limelight::SessionModel serving(model);
  const limelight::Session start = serving.start(history);
  limelight::Session s = start;
  std::vector<std::int32_t> full(history);
  full.push_back(0);
  limelight::Recommendation top[10];
  volatile float sink = 0;
  StreamTimes t;
  const auto begin = Clock::now();
  const int warmup = 50;
  for (int i = 0; i < warmup + o.repetitions; ++i) {
    const std::int32_t item = next_items[static_cast<std::size_t>(i) % next_items.size()];
    s = start;
    const auto t0 = Clock::now();
    s.push(item);
    const auto t1 = Clock::now();
    s.recommend_into(10, false, top);
    const auto t2 = Clock::now();
    sink = sink + top[0].score;
    full.back() = item;
    const auto t3 = Clock::now();
    model.recommend_into(full, 10, false, top);
    const auto t4 = Clock::now();
    sink = sink + top[0].score;
    if (i < warmup) continue;
    auto us = [](auto a, auto b) { return std::chrono::duration<double, std::micro>(b - a).count(); };
    t.update_us.push_back(us(t0, t1));
    t.score_us.push_back(us(t1, t2));
    t.event_us.push_back(us(t0, t2));
    t.full_us.push_back(us(t3, t4));
    if (i - warmup >= 99 && std::chrono::duration<double>(t4 - begin).count() > 2 * o.latency_budget_s) break;
  }
  return t;
}

std::string stream_json(const StreamTimes& t) {
  std::ostringstream j;
  j << "\"stream_events\":" << t.event_us.size()
    << ",\"stream_event_p50_us\":" << json_number(percentile(t.event_us, 0.5))
    << ",\"stream_event_p99_us\":" << json_number(percentile(t.event_us, 0.99))
    << ",\"stream_update_p50_us\":" << json_number(percentile(t.update_us, 0.5))
    << ",\"stream_update_p99_us\":" << json_number(percentile(t.update_us, 0.99))
    << ",\"stream_score_p50_us\":" << json_number(percentile(t.score_us, 0.5))
    << ",\"stream_score_p99_us\":" << json_number(percentile(t.score_us, 0.99))
    << ",\"full_recommend_p50_us\":" << json_number(percentile(t.full_us, 0.5))
    << ",\"full_recommend_p99_us\":" << json_number(percentile(t.full_us, 0.99));
  return j.str();
}

limelight::ModelConfig bench_config(const Options& o, const std::string& representation, const std::string& loss) {
  limelight::ModelConfig config;
  config.representation = limelight::parse_representation(representation);
  config.loss = loss;
  config.embedding_dim = o.embedding_dim;
  config.batch_size = o.batch_size;
  config.learning_rate = o.learning_rate;
  config.n_iter = o.epochs;
  config.seed = o.seed;
  config.threads = o.threads;
  if (representation == "cnn") {
    config.cnn.num_layers = 3;
    config.cnn.kernel_width = {3};
    config.cnn.dilation = {1, 2, 4};
    config.cnn.nonlinearity = "relu";
    config.cnn.residual = true;
  }
  config.num_mixtures = 4;
  return config;
}

// The sweep's configuration, in the child process: an initialised (untrained)
// model of `items` ids; latency does not depend on the weights' values.
std::string run_stream_configuration(const Options& o, const std::string& representation, long items) {
  limelight::ImplicitSequenceModel model(bench_config(o, representation, "bpr"));
  model.initialize(static_cast<std::int32_t>(items));
  limelight::Rng rng(o.seed);
  std::vector<std::int32_t> history(kMaxLength - 1), next(4096);
  for (std::int32_t& v : history) v = static_cast<std::int32_t>(1 + rng.uniform_int(items - 1));
  for (std::int32_t& v : next) v = static_cast<std::int32_t>(1 + rng.uniform_int(items - 1));
  const StreamTimes t = time_stream(model, history, next, o);
  std::ostringstream j;
  j << "{\"tool\":\"limelight\",\"mode\":\"stream\",\"representation\":\"" << representation
    << "\",\"num_items\":" << items << ",\"embedding_dim\":" << o.embedding_dim
    << ",\"threads\":" << (o.threads > 0 ? o.threads : 1) << ",\"history_events\":" << history.size() + 1 << "," << stream_json(t) << "}";
  return j.str();
}

// One configuration, in the child process: the result as one JSON line.
std::string run_configuration(const Options& o, const std::string& dataset_name, const std::string& representation,
                              const std::string& loss) {
  const auto load_start = Clock::now();
  Dataset data = load_dataset(dataset_name, o);
  const double load_s = std::chrono::duration<double>(Clock::now() - load_start).count();

  limelight::ImplicitSequenceModel model(bench_config(o, representation, loss));

  std::vector<double> epoch_s;
  double last_loss = 0;
  limelight::FitCallbacks callbacks;
  callbacks.on_epoch = [&](const limelight::EpochReport& r) {
    epoch_s.push_back(r.seconds);
    last_loss = r.loss;
  };
  model.fit(data.train, callbacks);
  const std::vector<double> timed(epoch_s.begin() + 1, epoch_s.end());  // the first epoch is the warm-up
  const double median_epoch_s = percentile(timed, 0.5);
  const double seq_per_s = static_cast<double>(data.train.num_sequences) / median_epoch_s;

  const auto eval_start = Clock::now();
  const limelight::RankingMetrics metrics = limelight::evaluate_sequences(model, data.test, 10);
  const double eval_s = std::chrono::duration<double>(Clock::now() - eval_start).count();

  // 199 steps of history: the first 199 items of the fullest training row (all
  // real items on MovieLens; left padding included where no user has 200).
  std::int64_t best = 0, best_len = -1;
  for (std::int64_t i = 0; i < data.train.num_sequences; ++i) {
    const std::int32_t* r = data.train.row(i);
    std::int64_t len = 0;
    for (int t = 0; t < kMaxLength; ++t) len += r[t] != 0;
    if (len > best_len) best = i, best_len = len;
  }
  const std::int32_t* row = data.train.row(best);
  const std::vector<std::int32_t> history(row, row + kMaxLength - 1);
  const std::int64_t history_items = std::count_if(history.begin(), history.end(), [](std::int32_t x) { return x; });

  volatile float sink = 0;
  const std::vector<double> predict_ms = time_calls([&] { sink = sink + model.predict(history)[1]; }, o);
  const std::vector<double> recommend_ms = time_calls([&] { sink = sink + model.recommend(history, 10)[0].score; }, o);
  // The events that follow come from the test users' windows.
  std::vector<std::int32_t> next;
  for (std::int32_t v : data.test.sequences)
    if (v != 0) next.push_back(v);
  const StreamTimes stream = time_stream(model, history, next, o);

  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double peak_mib = static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux

  std::ostringstream j;
  j << "{\"tool\":\"limelight\",\"dataset\":\"" << dataset_name << "\",\"representation\":\"" << representation
    << "\",\"loss\":\"" << loss << "\",\"threads\":" << o.threads << ",\"embedding_dim\":" << o.embedding_dim
    << ",\"batch_size\":" << o.batch_size << ",\"learning_rate\":" << json_number(o.learning_rate)
    << ",\"epochs\":" << o.epochs << ",\"num_items\":" << data.train.num_items
    << ",\"interactions\":" << data.interactions << ",\"train_sequences\":" << data.train.num_sequences
    << ",\"validation_sequences\":" << data.validation_sequences << ",\"test_sequences\":" << data.test.num_sequences
    << ",\"load_s\":" << json_number(load_s) << ",\"epoch_s\":[";
  for (std::size_t i = 0; i < epoch_s.size(); ++i) j << (i ? "," : "") << json_number(epoch_s[i]);
  j << "],\"median_epoch_s\":" << json_number(median_epoch_s) << ",\"seq_per_s\":" << json_number(seq_per_s)
    << ",\"final_loss\":" << json_number(last_loss) << ",\"mrr\":" << json_number(metrics.mrr)
    << ",\"hit_rate_at_10\":" << json_number(metrics.hit_rate_at_k) << ",\"eval_s\":" << json_number(eval_s)
    << ",\"history_steps\":" << history.size() << ",\"history_items\":" << history_items
    << ",\"predict_calls\":" << predict_ms.size() << ",\"predict_ms_median\":" << json_number(percentile(predict_ms, 0.5))
    << ",\"predict_ms_p99\":" << json_number(percentile(predict_ms, 0.99))
    << ",\"recommend_calls\":" << recommend_ms.size()
    << ",\"recommend_ms_median\":" << json_number(percentile(recommend_ms, 0.5))
    << ",\"recommend_ms_p99\":" << json_number(percentile(recommend_ms, 0.99))
    << "," << stream_json(stream) << ",\"peak_rss_mib\":" << json_number(peak_mib) << "}";
  return j.str();
}

// The value of "key" in a flat JSON object written by run_configuration.
std::string json_field(const std::string& line, const std::string& key) {
  const std::string needle = "\"" + key + "\":";
  const std::size_t at = line.find(needle);
  if (at == std::string::npos) return "";
  std::size_t begin = at + needle.size(), end = begin;
  if (line[begin] == '"') {
    end = line.find('"', ++begin);
  } else {
    while (end < line.size() && line[end] != ',' && line[end] != '}') ++end;
  }
  return line.substr(begin, end - begin);
}

double json_double(const std::string& line, const std::string& key) {
  const std::string v = json_field(line, key);
  return v.empty() || v == "null" ? NAN : std::strtod(v.c_str(), nullptr);
}

// Re-executes this program with --child and returns its stdout; "" on failure
// (the child's error is already on stderr).
std::string run_child(int argc, char** argv, const std::string& config) {
  std::vector<std::string> args(argv, argv + argc);
  args.push_back("--child");
  args.push_back(config);
  std::vector<char*> cargs;
  for (std::string& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);

  int fds[2];
  LL_CHECK(pipe(fds) == 0, "limelight-bench: pipe failed: ", std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  posix_spawn_file_actions_addclose(&actions, fds[1]);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, cargs.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    LL_CHECK(false, "limelight-bench: cannot start a child process: ", std::strerror(rc));
  }
  std::string out;
  char buf[4096];
  ssize_t n = 0;
  while ((n = read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) out.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "";
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

void print_header() {
  std::printf("%-9s %-8s %-14s %6s %9s %8s %7s %9s %9s %9s %9s %8s\n", "dataset", "model", "loss", "train",
              "seq/s", "epoch_s", "MRR", "pred_med", "pred_p99", "rec_med", "rec_p99", "peak_MiB");
  std::printf("%-9s %-8s %-14s %6s %9s %8s %7s %9s %9s %9s %9s %8s\n", "", "", "", "seqs", "(median)", "(median)",
              "(test)", "ms", "ms", "ms", "ms", "");
}

void print_row(const std::string& line) {
  std::printf("%-9s %-8s %-14s %6.0f %9.1f %8.3f %7.4f %9.3f %9.3f %9.3f %9.3f %8.1f\n",
              json_field(line, "dataset").c_str(), json_field(line, "representation").c_str(),
              json_field(line, "loss").c_str(), json_double(line, "train_sequences"), json_double(line, "seq_per_s"),
              json_double(line, "median_epoch_s"), json_double(line, "mrr"), json_double(line, "predict_ms_median"),
              json_double(line, "predict_ms_p99"), json_double(line, "recommend_ms_median"),
              json_double(line, "recommend_ms_p99"), json_double(line, "peak_rss_mib"));
}

// --stream: one child per representation x catalogue size, one thread by
// default (the serving figure: sessions scale by running one per thread).
int run_stream_sweep(int argc, char** argv, const Options& o) {
  const std::string threads = std::to_string(o.threads > 0 ? o.threads : 1);
  setenv("OPENBLAS_NUM_THREADS", threads.c_str(), 1);
  setenv("OMP_NUM_THREADS", threads.c_str(), 1);
  if (!o.json) {
    std::printf("limelight-bench --stream: embedding %d, threads %s, 200-event history, microseconds per event\n",
                o.embedding_dim, threads.c_str());
    std::printf("%-8s %8s %9s %9s %9s %9s %9s %9s %9s %7s\n", "model", "items", "event_med", "event_p99", "update",
                "top10", "full_med", "full_p99", "", "x");
    std::printf("%-8s %8s %9s %9s %9s %9s %9s %9s %9s %7s\n", "", "", "us", "us", "med us", "med us", "us", "us", "",
                "(med)");
    std::fflush(stdout);
  }
  int failures = 0;
  for (long items : o.stream_items)
    for (const std::string& r : o.representations) {
      const std::string line = run_child(argc, argv, "stream:" + r + ":" + std::to_string(items));
      if (line.empty()) {
        ++failures;
        std::fprintf(stderr, "limelight-bench: stream configuration %s/%ld failed\n", r.c_str(), items);
        continue;
      }
      if (o.json) {
        std::printf("%s\n", line.c_str());
      } else {
        const double event = json_double(line, "stream_event_p50_us"), full = json_double(line, "full_recommend_p50_us");
        std::printf("%-8s %8ld %9.2f %9.2f %9.2f %9.2f %9.1f %9.1f %9s %7.1f\n", r.c_str(), items, event,
                    json_double(line, "stream_event_p99_us"), json_double(line, "stream_update_p50_us"),
                    json_double(line, "stream_score_p50_us"), full, json_double(line, "full_recommend_p99_us"), "",
                    full / event);
      }
      std::fflush(stdout);
    }
  return failures == 0 ? 0 : 1;
}

int run(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  if (o.help) {
    std::printf("%s", kUsage);
    return 0;
  }
  if (!o.child.empty()) {
    const std::vector<std::string> parts = [&] {
      std::vector<std::string> p;
      std::stringstream in(o.child);
      std::string s;
      while (std::getline(in, s, ':')) p.push_back(s);
      return p;
    }();
    LL_CHECK(parts.size() == 3, "limelight-bench: bad --child '", o.child, "'");
    if (parts[0] == "stream")
      std::printf("%s\n", run_stream_configuration(o, parts[1], std::stol(parts[2])).c_str());
    else
      std::printf("%s\n", run_configuration(o, parts[0], parts[1], parts[2]).c_str());
    return 0;
  }
  if (!o.export_dir.empty()) {
    std::filesystem::create_directories(o.export_dir);
    for (const std::string& d : o.datasets) {
      const Dataset data = load_dataset(d, o);
      export_sequences(data.train, o.export_dir + "/" + d + "_train.txt");
      export_sequences(data.test, o.export_dir + "/" + d + "_test.txt");
    }
  }
  if (o.stream) return run_stream_sweep(argc, argv, o);
  // Children inherit the thread settings through the environment, so the
  // libraries' pools start at that size.
  if (o.threads > 0) {
    setenv("OPENBLAS_NUM_THREADS", std::to_string(o.threads).c_str(), 1);
    setenv("OMP_NUM_THREADS", std::to_string(o.threads).c_str(), 1);
  }
  if (!o.json) {
    std::printf("limelight-bench: epochs %d (first untimed), embedding 32, batch 256, lr %g, threads %s, windows "
                "%d/%d/%d\n",
                o.epochs, o.learning_rate, o.threads > 0 ? std::to_string(o.threads).c_str() : "default", kMaxLength,
                kMinLength, kStep);
    print_header();
    std::fflush(stdout);
  }
  int failures = 0;
  for (const std::string& d : o.datasets)
    for (const std::string& l : o.losses)
      for (const std::string& r : o.representations) {
        const std::string line = run_child(argc, argv, d + ":" + r + ":" + l);
        if (line.empty()) {
          ++failures;
          std::fprintf(stderr, "limelight-bench: configuration %s/%s/%s failed\n", d.c_str(), r.c_str(), l.c_str());
          continue;
        }
        if (o.json)
          std::printf("%s\n", line.c_str());
        else
          print_row(line);
        std::fflush(stdout);
      }
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
}
