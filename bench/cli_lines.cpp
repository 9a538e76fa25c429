// Driving a line-oriented program through pipes (cli_lines.hpp).
#include "cli_lines.hpp"

#include <unistd.h>

#include <chrono>
#include <exception>
#include <thread>

#include "child_process.hpp"
#include "limelight/error.hpp"

namespace limelight::bench {

namespace {

ChildProcess start(const std::vector<std::string>& command) { return ChildProcess(command[0], command, true, ""); }

void write_all(int fd, const std::string& s) {
  std::size_t at = 0;
  while (at < s.size()) {
    const ssize_t n = ::write(fd, s.data() + at, s.size() - at);
    LL_CHECK(n > 0, "write to the CLI failed");
    at += static_cast<std::size_t>(n);
  }
}

// Reads until `lines` line breaks have come; returns the bytes read.
std::size_t read_lines(int fd, std::size_t lines, std::string* last_line = nullptr) {
  char buf[1 << 16];
  std::size_t seen = 0, bytes = 0;
  std::string line;
  while (seen < lines) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    LL_CHECK(n > 0, "the CLI ended after ", seen, " of ", lines, " answers");
    bytes += static_cast<std::size_t>(n);
    for (ssize_t i = 0; i < n; ++i) {
      if (last_line) line += buf[i];
      if (buf[i] == '\n') {
        ++seen;
        if (last_line && seen < lines) line.clear();
      }
    }
  }
  if (last_line) *last_line = line;
  return bytes;
}

}  // namespace

double answer_lines(const std::vector<std::string>& command, const std::string& line, std::size_t lines) {
  const auto t0 = std::chrono::steady_clock::now();
  ChildProcess child = start(command);
  std::string text;
  for (std::size_t i = 0; i < lines; ++i) text += line;
  // A CLI that dies makes both ends fail: the writer's error is kept for
  // after the join, so that neither thread escapes with an exception.
  std::exception_ptr write_error;
  std::thread writer([&] {
    try {
      write_all(child.input(), text);
    } catch (...) {
      write_error = std::current_exception();
    }
    child.close_input();
  });
  std::exception_ptr read_error;
  try {
    read_lines(child.output(), lines);
  } catch (...) {
    read_error = std::current_exception();
  }
  writer.join();
  if (read_error) std::rethrow_exception(read_error);
  if (write_error) std::rethrow_exception(write_error);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  LL_CHECK(child.finish() == 0, "the CLI failed");
  return s;
}

double round_trip(const std::vector<std::string>& command, const std::string& line, std::size_t lines,
                  std::string* first_answer) {
  ChildProcess child = start(command);
  write_all(child.input(), line);
  read_lines(child.output(), 1, first_answer);
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 1; i < lines; ++i) {
    write_all(child.input(), line);
    read_lines(child.output(), 1);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  LL_CHECK(child.finish() == 0, "the CLI failed");
  return s / static_cast<double>(lines - 1);
}

}  // namespace limelight::bench
