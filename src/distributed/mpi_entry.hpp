// The C entry points of liblimelight_mpi.so, which launcher.cpp loads with
// dlopen: a version check, then a communicator over MPI_COMM_WORLD.
#pragma once

#include <cstddef>

namespace limelight::distributed {
class Communicator;
}

// Bumped whenever Communicator's layout or these signatures change.
#define LIMELIGHT_MPI_ABI_VERSION 1

extern "C" {
typedef int (*limelight_mpi_abi_version_fn)();
// Initialises MPI (once) and returns the world communicator, owned by the
// caller; or null with the reason in `error`.
typedef limelight::distributed::Communicator* (*limelight_mpi_create_fn)(char* error, std::size_t error_size);
}
