// doctest's implementation, compiled once for the test programs' two mains
// (tests/main.cpp, and tests/distributed/main.cpp that runs on every rank).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
