// A program started from a benchmark with its standard output, and optionally
// its standard input, on pipes to the benchmark: limelight-bench re-executes
// itself once per configuration (so that each one's peak memory is its own),
// limelight-line-bench drives the limelight command line by line.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace limelight::bench {

class ChildProcess {
 public:
  // Starts `file` (looked up on PATH when it holds no slash) with `args`
  // (args[0] is the name the program sees) and the environment of this
  // process. Errors (limelight::Error) begin with `who`.
  ChildProcess(const std::string& file, const std::vector<std::string>& args, bool pipe_input,
               const std::string& who);
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  // Closes what is still open and waits for the program, so none is left behind.
  ~ChildProcess();

  // The write end of its standard input (-1 without pipe_input, or once closed).
  int input() const { return in_; }
  // The read end of its standard output (-1 once finished).
  int output() const { return out_; }
  void close_input();
  // Its standard output until it closes it.
  std::string read_all();
  // Closes its input, reads and drops what it still writes, and waits for it;
  // returns its wait status.
  int finish();

 private:
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1;
};

}  // namespace limelight::bench
