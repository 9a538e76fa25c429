// Lines from a file descriptor (standard input) for commands that answer
// each line as it is read: next() returns one line at a time, and
// would_block() says whether the next line is not there yet, so that a
// caller batching lines for speed answers what it holds before it waits.
#pragma once

#include <string>

namespace limelight::cli {

class LineReader {
 public:
  explicit LineReader(int fd = 0) : fd_(fd) {}

  // The next line without its '\n' (a last line without '\n' counts); false
  // at the end of input. Error on a read failure.
  bool next(std::string& line);
  // True when no whole line is buffered and the descriptor has nothing to
  // read right now (the next next() would wait for the writer).
  bool would_block();

 private:
  bool fill();  // one read(); false at end of input

  int fd_;
  std::string buffer_;
  std::size_t start_ = 0;
  bool eof_ = false;
};

}  // namespace limelight::cli
