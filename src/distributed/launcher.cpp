// The job's communicator: the one process, or MPI under a launcher, loaded
// from liblimelight_mpi.so so that neither this library nor a one-process
// run maps an MPI library.
#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>

#include "distributed/mpi_entry.hpp"
#include "limelight/distributed.hpp"
#include "limelight/error.hpp"
#include "limelight_config.h"

namespace limelight::distributed {

namespace {

constexpr const char* library_name = "liblimelight_mpi.so";

std::unique_ptr<Communicator> load_mpi() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("LIMELIGHT_MPI_LIBRARY"); env && *env) candidates.emplace_back(env);
  candidates.emplace_back(library_name);
  if (*LIMELIGHT_MPI_BUILD_LIBRARY) candidates.emplace_back(LIMELIGHT_MPI_BUILD_LIBRARY);
  std::string tried, last_error;
  void* handle = nullptr;
  for (const std::string& path : candidates) {
    handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle) break;
    tried += (tried.empty() ? "" : ", ") + path;
    if (const char* e = dlerror()) last_error = e;
  }
  LL_CHECK(handle != nullptr, "running under an MPI launcher, but the distributed library ", library_name,
           " is missing", LIMELIGHT_HAVE_MPI ? "" : " (this build was configured without MPI)", "; tried ", tried,
           last_error.empty() ? "" : ": ", last_error);
  auto abi = reinterpret_cast<limelight_mpi_abi_version_fn>(dlsym(handle, "limelight_mpi_abi_version"));
  auto create = reinterpret_cast<limelight_mpi_create_fn>(dlsym(handle, "limelight_mpi_create"));
  LL_CHECK(abi && create && abi() == LIMELIGHT_MPI_ABI_VERSION, "the distributed library ", library_name,
           " was built for another version of limelight");
  char error[512] = {};
  Communicator* comm = create(error, sizeof error);
  LL_CHECK(comm != nullptr, "MPI could not start: ", error);
  // The library stays loaded for the life of the process (the
  // communicator's code and MPI's own).
  return std::unique_ptr<Communicator>(comm);
}

std::mutex world_mutex;
std::unique_ptr<Communicator> world_comm;
bool world_mpi = false;

}  // namespace

bool under_launcher() {
  if (const char* forced = std::getenv("LIMELIGHT_COMMUNICATOR"); forced && std::string(forced) == "local")
    return false;
  // Open MPI's mpirun, then PMIx and PMI launchers (Slurm's srun, MPICH's hydra).
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
    if (const char* v = std::getenv(var); v && *v) return true;
  return false;
}

int launcher_rank() {
  if (!under_launcher()) return 0;
  for (const char* var : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"})
    if (const char* v = std::getenv(var); v && *v) return std::atoi(v);
  return 0;
}

int launcher_size() {
  if (!under_launcher()) return 1;
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"})
    if (const char* v = std::getenv(var); v && *v) return std::max(1, std::atoi(v));
  return 1;
}

Communicator& world() {
  std::lock_guard<std::mutex> lock(world_mutex);
  if (!world_comm) {
    if (under_launcher()) {
      world_comm = load_mpi();
      world_mpi = true;
    } else {
      world_comm = local_communicator();
    }
  }
  return *world_comm;
}

bool world_is_mpi() {
  std::lock_guard<std::mutex> lock(world_mutex);
  return world_mpi;
}

}  // namespace limelight::distributed
