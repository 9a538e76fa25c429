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
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "limelight/error.hpp"
#include "limelight_bench/limelight_bench.hpp"

namespace limelight::bench {
namespace {

// Re-executes this program with --child and returns its stdout; "" on failure
// (the child's error is already on stderr).
std::string run_child(int argc, char** argv, const std::string& config) {
  std::vector<std::string> args(argv, argv + argc);
  args.push_back("--child");
  args.push_back(config);
  ChildProcess child("/proc/self/exe", args, false, "limelight-bench: ");
  std::string out = child.read_all();
  const int status = child.finish();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "";
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// Children inherit the thread settings through the environment, so the
// libraries' pools start at that size.
void set_thread_environment(const std::string& threads) {
  setenv("OPENBLAS_NUM_THREADS", threads.c_str(), 1);
  setenv("OMP_NUM_THREADS", threads.c_str(), 1);
}

// --child: one configuration, printed as its JSON line.
int run_as_child(const Options& o) {
  std::vector<std::string> parts;
  std::stringstream in(o.child);
  for (std::string s; std::getline(in, s, ':');) parts.push_back(s);
  LL_CHECK(parts.size() == 3, "limelight-bench: bad --child '", o.child, "'");
  if (parts[0] == "stream")
    std::printf("%s\n", run_stream_configuration(o, parts[1], std::stol(parts[2])).c_str());
  else
    std::printf("%s\n", run_configuration(o, parts[0], parts[1], parts[2]).c_str());
  return 0;
}

// --stream: one child per representation x catalogue size, one thread by
// default (the serving figure: sessions scale by running one per thread).
int run_stream_sweep(int argc, char** argv, const Options& o) {
  const std::string threads = std::to_string(o.model.threads > 0 ? o.model.threads : 1);
  set_thread_environment(threads);
  if (!o.json) {
    print_stream_header(o, threads);
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
      if (o.json)
        std::printf("%s\n", line.c_str());
      else
        print_stream_row(line, r, items);
      std::fflush(stdout);
    }
  return failures == 0 ? 0 : 1;
}

int run_training_sweep(int argc, char** argv, const Options& o) {
  if (o.model.threads > 0) set_thread_environment(std::to_string(o.model.threads));
  if (!o.json) {
    print_training_header(o);
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
          print_training_row(line);
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
  if (!o.child.empty()) return run_as_child(o);
  if (!o.export_dir.empty()) {
    std::filesystem::create_directories(o.export_dir);
    for (const std::string& d : o.datasets) {
      const Dataset data = load_dataset(d, o);
      export_sequences(data.train, o.export_dir + "/" + d + "_train.txt");
      export_sequences(data.test, o.export_dir + "/" + d + "_test.txt");
    }
  }
  return o.stream ? run_stream_sweep(argc, argv, o) : run_training_sweep(argc, argv, o);
}

}  // namespace
}  // namespace limelight::bench

int main(int argc, char** argv) {
  try {
    return limelight::bench::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
}
