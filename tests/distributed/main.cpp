// The runner of test_distributed, started by mpirun on every rank: each rank
// runs every case (whose collectives must match across ranks), rank 0 alone
// prints doctest's report (scripts/count_tests.py reads its summary line),
// and the exit status is the worst rank's, so a failure on any rank fails
// the test. A failing rank other than 0 prints its report to stderr.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

#include "limelight/distributed.hpp"

int main(int argc, char** argv) {
  limelight::distributed::Communicator& comm = limelight::distributed::world();
  const int rank = comm.rank();
  doctest::Context context;
  // No colours unless asked (--no-colors=false): mpirun gives the ranks a
  // terminal, and scripts/count_tests.py reads the plain summary line.
  context.setOption("no-colors", true);
  context.applyCommandLine(argc, argv);
  // Rank 0's report on stdout; the others' in a file, shown only if they fail.
  const std::string report = "/tmp/limelight_test_distributed_" + std::to_string(::getpid()) + ".txt";
  std::ofstream other_out;
  if (rank != 0) {
    other_out.open(report);
    context.setCout(&other_out);
  }
  const int status = context.run();
  if (rank != 0) {
    other_out.close();
    if (status != 0) {
      std::ifstream in(report);
      std::cerr << "---- rank " << rank << " of " << comm.size() << " failed:\n"
                << std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    std::remove(report.c_str());
  }
  if (context.shouldExit()) return status;  // --help, --list-test-cases: no case ran
  return static_cast<int>(comm.all_reduce_max(status));
}
