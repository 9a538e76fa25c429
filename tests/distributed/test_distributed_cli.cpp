// `mpirun limelight fit` end to end: the built binary ($LIMELIGHT_CLI)
// under the mpirun meson found ($MPIRUN). Two ranks train as one process
// does and rank 0 alone prints; bad input on one rank ends every rank with
// status 1 and an error naming the rank; a rank killed mid-fit ends the job
// within seconds and leaves an existing --out file as it was; the model a
// two-rank fit saves loads and evaluates in one process.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "io/json.hpp"
#include "limelight_config.h"
#include "tests/cli/cli_helpers.hpp"

using namespace cli_test;
namespace json = limelight::json;

namespace {

std::string mpirun_path() {
  const char* mpirun = std::getenv("MPIRUN");
  REQUIRE_MESSAGE(mpirun != nullptr, "MPIRUN is not set");
  return mpirun;
}

struct Timed : Result {
  double seconds = 0.0;
};

// Runs a shell command line, capturing its status, output and time; its
// standard input is `input` (a file's path), else empty.
Timed run_shell(const std::string& command, const std::string& input = "/dev/null") {
  TempDir io;
  const std::string full =
      command + " <" + shell_quote(input) + " >" + shell_quote(io.file("out")) + " 2>" + shell_quote(io.file("err"));
  const auto start = std::chrono::steady_clock::now();
  const int raw = std::system(full.c_str());
  Timed r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + (WIFSIGNALED(raw) ? WTERMSIG(raw) : 0);
  r.out = read_all(io.path / "out");
  r.err = read_all(io.path / "err");
  return r;
}

// mpirun -np `ranks` (--timeout 60: a job whose ranks hang ends) of the
// command line `rest`, already quoted.
std::string mpirun_command(int ranks, const std::string& rest) {
  return shell_quote(mpirun_path()) + " --oversubscribe --timeout 60 -np " + std::to_string(ranks) + " " + rest;
}

std::string quoted(const std::vector<std::string>& args) {
  std::string out;
  for (const std::string& a : args) out += (out.empty() ? "" : " ") + shell_quote(a);
  return out;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The epoch lines' losses and the summary of `fit --json` output.
struct FitOutput {
  std::vector<double> losses;
  json::Value summary;
  std::size_t lines = 0;
};

FitOutput parse_fit(const Result& r) {
  FitOutput f;
  const std::vector<std::string> lines = r.out_lines();
  f.lines = lines.size();
  REQUIRE(!lines.empty());
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) f.losses.push_back(json::parse(lines[i]).at("loss").as_double());
  f.summary = json::parse(lines.back());
  return f;
}

const std::vector<std::string> kFit = concat({"fit", "--json", "--n-iter", "3", "--threads", "1", "--batch-size", "64"},
                                             kTinyData);

}  // namespace

TEST_CASE("mpirun fit: two ranks train as one process, and rank 0 alone prints") {
  const Result one = run(kFit);
  REQUIRE_MESSAGE(one.status == 0, one.err);
  const Timed two = run_shell(mpirun_command(2, quoted(concat({cli_path()}, kFit))));
  INFO("stderr: " << two.err);
  REQUIRE(two.status == 0);
  CHECK(two.seconds < 30);
  const FitOutput f1 = parse_fit(one), f2 = parse_fit(two);
  CHECK(f2.lines == f1.lines);  // one set of lines: rank 1 printed nothing
  REQUIRE(f2.losses.size() == 3);
  REQUIRE(f1.losses.size() == 3);
  for (std::size_t e = 0; e < f1.losses.size(); ++e) {
    CAPTURE(e);
    CHECK(f2.losses[e] == doctest::Approx(f1.losses[e]).epsilon(1e-4));
  }
  CHECK(f2.summary.at("world_size").as_int() == 2);
  CHECK_FALSE(f1.summary.contains("world_size"));  // one process's output is as it was
  CHECK(f2.summary.at("train_sequences").as_int() == f1.summary.at("train_sequences").as_int());
  CHECK(f2.summary.at("mrr").as_double() == doctest::Approx(f1.summary.at("mrr").as_double()).epsilon(1e-2));
}

TEST_CASE("mpirun fit: a file only one rank cannot read ends every rank with status 1, naming the rank") {
  TempDir dir;
  const std::string out = dir.file("kept.safetensors");
  write_all(out, "an existing file that a failed fit must leave alone");
  const std::string before = read_all(out);
  const std::string missing = dir.file("no-such-file.csv");
  // Rank 1 reads a file that does not exist; rank 0 the synthetic set.
  const std::string script =
      "if [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then exec \"$0\" fit --csv " + shell_quote(missing) +
      " --out " + shell_quote(out) + "; else exec \"$0\" " + quoted(kFit) + " --out " + shell_quote(out) + "; fi";
  const Timed r = run_shell(mpirun_command(2, "sh -c " + shell_quote(script) + " " + shell_quote(cli_path())));
  INFO("stderr: " << r.err);
  CHECK(r.status == 1);
  CHECK(r.seconds < 20);
  CHECK(contains(r.err, "limelight: error: rank 1: "));
  CHECK(contains(r.err, "no-such-file.csv"));
  CHECK(r.out.empty());
  CHECK(read_all(out) == before);
  CHECK(dir.entries().size() == 1);
}

TEST_CASE("mpirun fit: a rank killed mid-fit ends the job, naming the rank, and --out is left as it was") {
  TempDir dir;
  const std::string out = dir.file("kept.safetensors");
  write_all(out, "an existing model that an interrupted fit must leave alone");
  const std::string before = read_all(out);
  // A fit of many seconds; rank 1 is killed (SIGKILL) a second into it.
  const std::vector<std::string> long_fit = {"fit", "--n-iter", "5000", "--threads", "1", "--synthetic-users", "400",
                                             "--synthetic-items", "200", "--synthetic-interactions", "40000",
                                             "--out", out};
  const std::string script =
      "if [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then (sleep 1; kill -KILL $$) & fi; exec \"$0\" \"$@\"";
  const Timed r = run_shell(mpirun_command(2, "sh -c " + shell_quote(script) + " " + shell_quote(cli_path()) + " " +
                                                  quoted(long_fit)));
  INFO("stderr: " << r.err);
  CHECK(r.status != 0);
  CHECK(r.seconds < 20);
  CHECK(contains(r.err, "rank 1"));
  CHECK(read_all(out) == before);
  const std::vector<std::string> left = dir.entries();
  CHECK(left == std::vector<std::string>{"kept.safetensors"});  // no temporary file beside it
}

TEST_CASE("mpirun fit: the model two ranks saved evaluates in one process to the fit's metrics") {
  TempDir dir;
  const std::string model = dir.file("m.safetensors");
  const Timed fit = run_shell(mpirun_command(2, quoted(concat(concat({cli_path()}, kFit), {"--out", model}))));
  INFO("stderr: " << fit.err);
  REQUIRE(fit.status == 0);
  const FitOutput f = parse_fit(fit);
  CHECK(f.summary.at("model").as_string() == model);
  const Result eval = run({"evaluate", "--model", model, "--json"});
  REQUIRE_MESSAGE(eval.status == 0, eval.err);
  const json::Value metrics = json::parse(eval.out);
  CHECK(metrics.at("test_sequences").as_int() == f.summary.at("test_sequences").as_int());
  for (const char* key : {"mrr", "precision_at_k", "recall_at_k", "ndcg_at_k", "hit_rate_at_k"}) {
    CAPTURE(key);
    // The fit's ranks each sum a share of the test rows: the sums' order differs in doubles.
    CHECK(metrics.at(key).as_double() == doctest::Approx(f.summary.at(key).as_double()).epsilon(1e-12));
  }
  CHECK(dir.entries().size() == 1);
}

TEST_CASE("mpirun fit --shard-items: three ranks train as one process, save at 3, resume at 1 and 2") {
  TempDir dir;
  const std::string model = dir.file("sharded.safetensors");
  for (const char* rep : {"lstm", "pooling"}) {
    CAPTURE(rep);
    const std::vector<std::string> fit = concat(kFit, {"--representation", rep, "--sparse"});
    const Result one = run(fit);
    REQUIRE_MESSAGE(one.status == 0, one.err);
    const Timed three = run_shell(mpirun_command(
        3, quoted(concat(concat({cli_path()}, fit), {"--shard-items", "--save-optimizer", "--out", model}))));
    INFO("stderr: " << three.err);
    REQUIRE(three.status == 0);
    const FitOutput f1 = parse_fit(one), f3 = parse_fit(three);
    REQUIRE(f3.losses.size() == f1.losses.size());
    for (std::size_t e = 0; e < f1.losses.size(); ++e) CHECK(f3.losses[e] == doctest::Approx(f1.losses[e]).epsilon(1e-4));
    CHECK(f3.summary.at("world_size").as_int() == 3);
    CHECK(f3.summary.at("mrr").as_double() == doctest::Approx(f1.summary.at("mrr").as_double()).epsilon(2e-2));
    // The ranks' file is the ordinary one: one process evaluates it to the sharded fit's metrics.
    const Result eval = run({"evaluate", "--model", model, "--json"});
    REQUIRE_MESSAGE(eval.status == 0, eval.err);
    CHECK(json::parse(eval.out).at("mrr").as_double() ==
          doctest::Approx(f3.summary.at("mrr").as_double()).epsilon(1e-12));
    // Resumed at 1 and at 2 (sharded), the next epoch's loss agrees.
    const std::vector<std::string> resume = {"fit", "--init", model, "--n-iter", "1", "--json", "--threads", "1"};
    const Result at1 = run(resume);
    REQUIRE_MESSAGE(at1.status == 0, at1.err);
    const Timed at2 = run_shell(mpirun_command(2, quoted(concat(concat({cli_path()}, resume), {"--shard-items"}))));
    REQUIRE_MESSAGE(at2.status == 0, at2.err);
    CHECK(parse_fit(at2).losses.at(0) == doctest::Approx(parse_fit(at1).losses.at(0)).epsilon(1e-5));
  }
}

TEST_CASE("mpirun recommend: the ranks, each scoring its block of the catalogue, answer as one process, Bloom too") {
  TempDir dir;
  // 30 items: two ranks hold blocks of 15 and three of 10, so k = 20 and
  // k = 12 take candidates from several ranks; k = 40 is more than the
  // catalogue holds.
  const std::string lines = dir.file("lines.txt");
  write_all(lines, "3 17 4\n5,9,12,1\n29\n1 2 3 4 5 6 7 8 9 10 11 12\n17 3\n");
  // Every option set on pooling; the mixture head and a Bloom table with
  // seen items excluded (each mpirun costs seconds under the sanitizers).
  using Options = std::vector<std::string>;
  struct Run {
    int ranks;
    Options options;
  };
  const std::vector<std::pair<std::string, Options>> models = {
      {"pooling", {"--representation", "pooling"}},
      {"mixture", {"--representation", "mixture"}},
      {"lstm_bloom", {"--representation", "lstm", "--bloom-compression", "0.5", "--bloom-hashes", "2"}}};
  for (const auto& [name, model_options] : models) {
    CAPTURE(name);
    const std::string model = dir.file(name + ".safetensors");
    REQUIRE(run(concat(concat(kFit, model_options), {"--out", model})).status == 0);
    const std::vector<Run> runs =
        name == "pooling"
            ? std::vector<Run>{{3, {"--k", "12", "--exclude-seen"}}, {2, {"--k", "20"}}, {2, {"--k", "40", "--json"}}}
            : std::vector<Run>{{2, {"--k", "20", "--exclude-seen"}}};
    for (const Run& r : runs) {
      CAPTURE(quoted(r.options));
      CAPTURE(r.ranks);
      const std::vector<std::string> command = concat({cli_path(), "recommend", "--model", model}, r.options);
      const Timed one = run_shell(quoted(command), lines);
      REQUIRE_MESSAGE(one.status == 0, one.err);
      REQUIRE(one.out_lines().size() == 5);
      const Timed many = run_shell(mpirun_command(r.ranks, quoted(command)), lines);
      REQUIRE_MESSAGE(many.status == 0, many.err);
      CHECK(many.out == one.out);  // the same items, scores and order, printed once
    }
  }
  // A bad line: the lines before it answered, its error printed once, status 1 on every rank.
  const std::string bad = dir.file("bad.txt");
  write_all(bad, "3 17 4\n3 99\n5 9\n");
  const std::vector<std::string> recommend = {cli_path(), "recommend", "--model", dir.file("pooling.safetensors")};
  const Timed stop = run_shell(mpirun_command(2, quoted(recommend)), bad);
  CHECK(stop.status == 1);
  CHECK(stop.out_lines().size() == 1);
  const std::string line = "limelight: error:";
  CHECK(contains(stop.err, "line 2"));
  CHECK(stop.err.find(line) == stop.err.rfind(line));
  // --on-error skip answers the others; the status is still 1.
  const Timed skip = run_shell(mpirun_command(2, quoted(concat(recommend, {"--on-error", "skip"}))), bad);
  CHECK(skip.status == 1);
  CHECK(skip.out_lines().size() == 2);
}

TEST_CASE("mpirun: the other serving commands refuse several ranks, once; one process maps no MPI library") {
  const Timed info = run_shell(mpirun_command(2, quoted({cli_path(), "info", "--help"})));
  CHECK(info.status == 1);
  CHECK(contains(info.err, "runs as one process, not under mpirun"));
  const std::string line = "limelight: error:";
  CHECK(info.err.find(line) == info.err.rfind(line));  // printed by rank 0 alone
  // ldd of the binary (built statically on the library) names no MPI library;
  // a one-process recommend, waiting on its input, has none mapped.
  const Timed ldd = run_shell("ldd " + shell_quote(cli_path()));
  CHECK(ldd.status == 0);
  CHECK_FALSE(contains(ldd.out, "libmpi"));
  TempDir dir;
  const std::string model = dir.file("m.safetensors");
  REQUIRE(run(concat(kFit, {"--out", model})).status == 0);
  const Timed maps = run_shell("(sleep 2 | " + shell_quote(cli_path()) + " recommend --model " + shell_quote(model) +
                               " & pid=$!; sleep 1; cat /proc/$pid/maps; wait $pid)");
  CHECK(contains(maps.out, "limelight"));  // the maps were read
  CHECK_FALSE(contains(maps.out, "libmpi"));
  CHECK_FALSE(contains(maps.out, "liblimelight_mpi"));
}

#if LIMELIGHT_CUDA_EMULATED
// In a build with the CUDA emulator (the sanitizer build): the dense
// gradients of device parameters staged through host buffers.
TEST_CASE("mpirun fit --device cuda: two ranks on the emulated device train as the CPU does") {
  const std::vector<std::string> fit = {"fit", "--json", "--n-iter", "2", "--threads", "1", "--batch-size", "64",
                                        "--representation", "lstm", "--test-fraction", "0", "--synthetic-users", "60",
                                        "--synthetic-items", "30", "--synthetic-interactions", "1500", "--seed", "5"};
  const Result cpu = run(fit);
  REQUIRE_MESSAGE(cpu.status == 0, cpu.err);
  const Timed cuda = run_shell(mpirun_command(2, quoted(concat(concat({cli_path()}, fit), {"--device", "cuda"}))));
  INFO("stderr: " << cuda.err);
  REQUIRE(cuda.status == 0);
  const FitOutput a = parse_fit(cpu), b = parse_fit(cuda);
  REQUIRE(b.losses.size() == a.losses.size());
  for (std::size_t e = 0; e < a.losses.size(); ++e) CHECK(b.losses[e] == doctest::Approx(a.losses[e]).epsilon(1e-4));
  // Row-sparse device gradients are refused before training, on every rank alike.
  const Timed sparse = run_shell(
      mpirun_command(2, quoted(concat(concat({cli_path()}, fit), {"--device", "cuda", "--sparse"}))));
  CHECK(sparse.status == 1);
  CHECK(contains(sparse.err, "--sparse with --device cuda"));
}
#endif
