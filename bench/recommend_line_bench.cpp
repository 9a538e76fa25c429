// limelight-line-bench: what `limelight recommend`'s line path (read a line,
// parse its ids, look them up, score, print) costs beside the in-process
// recommend() of the same model, both timed in this process. Models of the
// MovieLens 100K size (1,683 item ids, labelled "1".."1682" as a model fitted
// on MovieLens is) and one 199-item history, as a line of labels:
//   in-process  model.recommend(history, k) per line;
//   piped       N copies of the line written to the CLI at once (as a batch
//               job would): (wall time for N lines - for 1 line) / (N - 1),
//               so model loading and start-up are left out;
//   lock-step   one line written, its answer read, then the next (as an
//               interactive caller would): the mean round trip after the first;
//   floor       lock-step through `cat` instead of the CLI, timed the same way
//               in the same run: what two pipes and two process wake-ups cost
//               a round trip here, however fast the answering program is;
//   own         lock-step - floor: what limelight itself adds to a round trip.
// Every figure is the median of --repeats runs.
//
//   build/bench/limelight-line-bench build/src/cli/limelight [--lines 2000] [--repeats 5]
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "cli_lines.hpp"
#include "limelight/error.hpp"
#include "limelight/model.hpp"
#include "limelight/model_file.hpp"
#include "limelight/random.hpp"

namespace {

using namespace limelight;
using bench::Clock;

// The limelight command (`limelight recommend --model FILE --k K`) or, with an
// empty model path, `cat` (the floor).
std::vector<std::string> command(const std::string& cli, const std::string& model, int k) {
  if (model.empty()) return {"cat"};
  return {cli, "recommend", "--model", model, "--k", std::to_string(k)};
}

double piped(const std::string& cli, const std::string& model, const std::string& line, std::size_t lines, int k) {
  return bench::answer_lines(command(cli, model, k), line, lines);
}

double lock_step(const std::string& cli, const std::string& model, const std::string& line, std::size_t lines,
                 int k, std::string* answer) {
  return bench::round_trip(command(cli, model, k), line, lines, answer);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    ::signal(SIGPIPE, SIG_IGN);
    const char* usage = "usage: limelight-line-bench PATH/TO/limelight [--lines N] [--repeats R]";
    if (argc >= 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
      std::puts(usage);
      return 0;
    }
    LL_CHECK(argc >= 2, usage);
    const std::string cli = argv[1];
    LL_CHECK(::access(cli.c_str(), X_OK) == 0, "the limelight command ", cli, " is not an executable file (", usage,
             ")");
    std::size_t lines = 2000;
    int repeats = 5;
    for (int i = 2; i < argc; i += 2) {
      const std::string flag = argv[i];
      LL_CHECK(flag == "--lines" || flag == "--repeats", "unknown flag ", flag, " (", usage, ")");
      LL_CHECK(i + 1 < argc, flag, " needs a value");
      char* end = nullptr;
      const long value = std::strtol(argv[i + 1], &end, 10);
      LL_CHECK(*argv[i + 1] != '\0' && *end == '\0' && value >= 1 && value <= 10'000'000, flag, ": '", argv[i + 1],
               "' is not a whole number from 1 to 10000000");
      if (flag == "--lines") lines = std::max<std::size_t>(2, static_cast<std::size_t>(value));
      else repeats = static_cast<int>(value);
    }
    constexpr std::int32_t kItems = 1683;
    constexpr int kHistory = 199, k = 10;
    std::vector<std::string> labels{""};
    for (std::int32_t v = 1; v < kItems; ++v) labels.push_back(std::to_string(v));
    Rng rng(7);
    std::vector<std::int32_t> history;
    std::string line;
    for (int i = 0; i < kHistory; ++i) {
      history.push_back(1 + static_cast<std::int32_t>(rng.next_u64() % (kItems - 1)));
      line += (i ? "," : "") + labels[static_cast<std::size_t>(history.back())];
    }
    line += '\n';
    std::printf("%d items, one %d-item history, k %d, %zu lines; microseconds a line (median of %d)\n", kItems - 1,
                kHistory, k, lines, repeats);
    std::printf("%-10s %11s %9s %9s %10s %10s %8s %8s %8s\n", "model", "in-process", "piped", "ratio", "lock-step",
                "ratio", "floor", "own", "ratio");
    for (const char* representation : {"lstm", "pooling"}) {
      ModelConfig config;
      config.representation = parse_representation(representation);
      ImplicitSequenceModel model(config);
      model.initialize(kItems);
      const std::string path = "/tmp/limelight-line-bench-" + std::string(representation) + ".safetensors";
      save_model(path, model, labels);
      std::vector<double> t_in, t_pipe, t_step, t_floor;
      std::string answer, expected;
      for (const Recommendation& r : model.recommend(history, k)) {
        char score[32];
        std::snprintf(score, sizeof score, "%.6g", static_cast<double>(r.score));
        expected += (expected.empty() ? "" : " ") + labels[static_cast<std::size_t>(r.item)] + ":" + score;
      }
      expected += '\n';
      for (int r = 0; r < repeats; ++r) {
        const auto t0 = Clock::now();
        for (std::size_t i = 0; i < lines; ++i) {
          volatile auto n = model.recommend(history, k).size();
          (void)n;
        }
        t_in.push_back(std::chrono::duration<double>(Clock::now() - t0).count() / static_cast<double>(lines));
        const double all = piped(cli, path, line, lines, k), one = piped(cli, path, line, 1, k);
        t_pipe.push_back((all - one) / static_cast<double>(lines - 1));
        t_step.push_back(lock_step(cli, path, line, std::min<std::size_t>(lines, 500), k, &answer));
        std::string echoed;
        t_floor.push_back(lock_step(cli, "", line, std::min<std::size_t>(lines, 500), k, &echoed));
        LL_CHECK(echoed == line, "cat echoed ", echoed.size(), " bytes of a ", line.size(), "-byte line");
      }
      LL_CHECK(answer == expected, representation, ": the CLI answered ", answer, " where recommend() gives ",
               expected);
      const double in = bench::upper_median(t_in) * 1e6, pipe = bench::upper_median(t_pipe) * 1e6, step = bench::upper_median(t_step) * 1e6;
      const double floor = bench::upper_median(t_floor) * 1e6;
      std::printf("%-10s %11.1f %9.1f %8.2fx %10.1f %9.2fx %8.1f %8.1f %7.2fx\n", representation, in, pipe, pipe / in,
                  step, step / in, floor, step - floor, (step - floor) / in);
      std::remove(path.c_str());
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "limelight-line-bench: %s\n", e.what());
    return 1;
  }
}
