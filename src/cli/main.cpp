// The `limelight` command: dispatches to the subcommands (fit, evaluate,
// recommend, predict, info) and turns every error into one line on standard
// error, `limelight: error: ...`, with exit status 1.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>

#include "cli/commands.hpp"
#include "limelight/distributed.hpp"
#include "limelight/error.hpp"

namespace {

const char* usage =
    "usage: limelight <command> [options]\n\n"
    "Trains and serves sequence recommenders (Spotlight's ImplicitSequenceModel).\n\n"
    "commands:\n"
    "  fit        train a model on synthetic, MovieLens or delimited data and report test metrics\n"
    "  evaluate   test metrics of a saved model\n"
    "  recommend  top-k next items for each sequence read from standard input, or for one user\n"
    "  predict    scores of items as the next item of one sequence or user's history\n"
    "  info       what a model file holds: configuration, training record, parameter shapes\n\n"
    "limelight <command> --help describes a command's options; limelight --version prints the version.\n";

// One line, whatever the message holds.
std::string one_line(std::string_view message) {
  std::string out(message);
  for (char& c : out)
    if (c == '\n' || c == '\r') c = ' ';
  return out;
}

int run(int argc, char** argv) {
  using namespace limelight::cli;
  if (argc < 2) limelight::detail::fail("no command given (see limelight --help)");
  const std::string_view command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << usage;
    return 0;
  }
  if (command == "--version") {
    std::cout << "limelight " << version() << "\n";
    return 0;
  }
  if (command == "fit") return run_fit(argc, argv, 2);
  if (command == "evaluate") return run_evaluate(argc, argv, 2);
  // Under mpirun, recommend splits the catalogue across the ranks
  // (serve_commands.cpp); the other serving commands run in one process,
  // where every rank would answer every request.
  if (command == "recommend") return run_recommend(argc, argv, 2);
  LL_CHECK(limelight::distributed::launcher_size() == 1, "limelight ", one_line(command.substr(0, 60)),
           " runs as one process, not under mpirun (", limelight::distributed::launcher_size(),
           " ranks): a model file of any world size holds the whole model");
  if (command == "predict") return run_predict(argc, argv, 2);
  if (command == "info") return run_info(argc, argv, 2);
  limelight::detail::fail("unknown command '", one_line(command.substr(0, 60)), "' (see limelight --help)");
}

// `recommend` answers lines as they come: it scores a block in a few OpenMP
// regions, then parses, prints and waits on its pipes. libgomp's default
// (OMP_WAIT_POLICY unset) keeps each idle worker spinning for about 3 ms
// after every region, and on a machine of few cores that spinning took the
// core the programs feeding and reading the pipes needed (2,000 pooling
// lines piped: up to 6x the in-process model's time a line, 1.1-1.5x
// passive; docs/benchmarks.md). libgomp and OpenBLAS read their settings once, while
// the program loads, before main, and the C library rebuilds the
// environment after any earlier hook, so the one way to change them is to
// run again: once, with OMP_WAIT_POLICY=passive. (OPENBLAS_NUM_THREADS=1
// as well was tried and left out: it kept the piped gain but made
// lock-step round trips slower; docs/benchmarks.md.) A caller's own OMP_WAIT_POLICY or GOMP_SPINCOUNT is kept and nothing is
// re-run; the second run finds OMP_WAIT_POLICY set and goes on. Training
// commands keep libgomp's default: a fit step runs regions back to back.
void rerun_with_passive_threads(int argc, char** argv) {
  if (argc < 2 || std::string_view(argv[1]) != "recommend") return;
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr) return;
  if (::setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
  // The binary's path rather than /proc/self/exe itself, which a tool
  // running the program (valgrind) may not make its client's.
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return;  // no /proc: go on in this run, with libgomp's default waiting
  self[n] = '\0';
  ::execv(self, argv);
}

// The error line of a failure. On a rank of a distributed run that failed
// alone, the other ranks cannot know: it names its rank and ends the whole
// job (mpirun's status 1), rather than leave them waiting in a collective.
// An error every rank agreed on (distributed::AgreedError) is printed by
// rank 0 alone, and every rank ends normally.
int fail_with(const std::string& message, bool agreed) {
  namespace dist = limelight::distributed;
  std::cout.flush();
  const bool several = dist::world_is_mpi() && dist::world().size() > 1;
  if (!several) {
    // Before MPI starts (a bad option), every rank fails alike: rank 0 says so.
    if (dist::world_is_mpi() || dist::launcher_rank() == 0)
      std::cerr << "limelight: error: " << one_line(message) << "\n";
    return 1;
  }
  dist::Communicator& comm = dist::world();
  if (agreed) {
    if (comm.rank() == 0) std::cerr << "limelight: error: " << one_line(message) << "\n";
    return 1;
  }
  std::cerr << "limelight: error: rank " << comm.rank() << " of " << comm.size() << ": " << one_line(message)
            << " (ending every rank)\n";
  comm.abort(1);
  return 1;  // not reached: abort ends the job
}

}  // namespace

std::string limelight::cli::version() { return LIMELIGHT_VERSION; }

int main(int argc, char** argv) {
  rerun_with_passive_threads(argc, argv);
  try {
    return run(argc, argv);
  } catch (const limelight::distributed::AgreedError& e) {
    return fail_with(e.what(), true);
  } catch (const std::bad_alloc&) {
    return fail_with("out of memory", false);
  } catch (const std::exception& e) {
    return fail_with(e.what(), false);
  } catch (...) {
    return fail_with("unknown failure", false);
  }
}
