// Line reading with a non-blocking peek (see line_reader.hpp).
#include "cli/line_reader.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "limelight/error.hpp"

namespace limelight::cli {

bool LineReader::fill() {
  if (eof_) return false;
  if (start_ > 0) {
    buffer_.erase(0, start_);
    start_ = 0;
  }
  char chunk[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd_, chunk, sizeof chunk);
    if (n > 0) {
      buffer_.append(chunk, static_cast<std::size_t>(n));
      return true;
    }
    if (n == 0) {
      eof_ = true;
      return false;
    }
    LL_CHECK(errno == EINTR, "cannot read standard input: ", std::strerror(errno));
  }
}

bool LineReader::next(std::string& line) {
  for (;;) {
    const std::size_t nl = buffer_.find('\n', start_);
    if (nl != std::string::npos) {
      line.assign(buffer_, start_, nl - start_);
      start_ = nl + 1;
      return true;
    }
    if (!fill()) {
      if (start_ >= buffer_.size()) return false;
      line.assign(buffer_, start_, std::string::npos);
      start_ = buffer_.size();
      return true;
    }
  }
}

bool LineReader::would_block() {
  if (buffer_.find('\n', start_) != std::string::npos || eof_) return false;
  pollfd p{fd_, POLLIN, 0};
  const int ready = ::poll(&p, 1, 0);
  return ready == 0;
}

}  // namespace limelight::cli
