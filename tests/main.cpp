// The test programs' runner: doctest's own command line (doctest_runner.cpp
// holds the implementation).
#include <doctest/doctest.h>

int main(int argc, char** argv) { return doctest::Context(argc, argv).run(); }
