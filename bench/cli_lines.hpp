// Driving a line-oriented program (the limelight command's `recommend`, or
// `cat` as the floor) through pipes: limelight-line-bench and the LSTM
// serve bench time the command line's line path with these.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace limelight::bench {

// Seconds for `command` (command[0] looked up on PATH when it holds no
// slash) to answer `lines` copies of `line` (ending in '\n') written at once,
// start-up and exit included: callers subtract a one-line run.
double answer_lines(const std::vector<std::string>& command, const std::string& line, std::size_t lines);

// Mean seconds of a round trip (one line written, its answer read) after
// the first of `lines`; the first answer in `first_answer` when not null.
double round_trip(const std::vector<std::string>& command, const std::string& line, std::size_t lines,
                  std::string* first_answer);

}  // namespace limelight::bench
