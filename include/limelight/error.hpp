// The one exception type of limelight, and the check macro used at every
// public entry point. The library never exits or aborts: bad input becomes an
// Error whose message names the operation and what was wrong with it.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace limelight {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
// Builds a message from any streamable pieces: fail("embedding: id ", id, " >= ", n).
template <class... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  throw Error(out.str());
}
}  // namespace detail

}  // namespace limelight

// Stays on in release builds: these guard user input, not internal invariants.
#define LL_CHECK(cond, ...)                              \
  do {                                                   \
    if (!(cond)) ::limelight::detail::fail(__VA_ARGS__); \
  } while (0)
