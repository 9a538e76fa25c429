// The folder of the read-only fixtures and data the tests share
// (../shared beside the checkout, or -Dshared_dir), which the test
// environment passes in LIMELIGHT_SHARED. Included as
// "tests/support/shared_dir.hpp".
#pragma once

#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

namespace test_support {

// The folder's path; the test fails when LIMELIGHT_SHARED is not set.
inline std::string shared_dir() {
  const char* shared = std::getenv("LIMELIGHT_SHARED");
  REQUIRE_MESSAGE(shared != nullptr, "LIMELIGHT_SHARED is not set");
  return shared;
}

}  // namespace test_support
