// Loading of liblimelight_cuda.so: see cuda_loader.hpp.
#include "backend/cuda_loader.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <vector>

#include "backend/cuda_entry.hpp"
#include "limelight_config.h"

namespace limelight::backend {

namespace {

constexpr const char* library_name = "liblimelight_cuda.so";

struct Loaded {
  CudaBackendStatus status;
  void* handle = nullptr;
};

Loaded load() {
  Loaded out;
  CudaBackendStatus& s = out.status;
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("LIMELIGHT_CUDA_BACKEND"); env && *env) candidates.emplace_back(env);
  candidates.emplace_back(library_name);
  if (*LIMELIGHT_CUDA_BUILD_LIBRARY) candidates.emplace_back(LIMELIGHT_CUDA_BUILD_LIBRARY);
  std::string tried, last_error;
  for (const std::string& path : candidates) {
    // RTLD_LOCAL: the backend's symbols (and the CUDA libraries it pulls in)
    // stay out of the global namespace of the process.
    out.handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (out.handle) {
      s.library = path;
      break;
    }
    tried += (tried.empty() ? "" : ", ") + path;
    if (const char* e = dlerror()) last_error = e;
  }
  if (!out.handle) {
    s.library = tried;
    s.problem = std::string("the CUDA backend library ") + library_name + " is missing" +
                (LIMELIGHT_HAVE_CUDA ? "" : " (this build was configured without the CUDA backend)") +
                "; tried " + tried + (last_error.empty() ? "" : ": " + last_error);
    return out;
  }
  auto abi = reinterpret_cast<limelight_cuda_abi_version_fn>(dlsym(out.handle, "limelight_cuda_abi_version"));
  auto count = reinterpret_cast<limelight_cuda_device_count_fn>(dlsym(out.handle, "limelight_cuda_device_count"));
  auto install = reinterpret_cast<limelight_cuda_install_fn>(dlsym(out.handle, "limelight_cuda_install"));
  if (!abi || !count || !install || abi() != LIMELIGHT_CUDA_ABI_VERSION) {
    s.problem = "the CUDA backend library " + s.library + " was built for another version of limelight";
    dlclose(out.handle);
    out.handle = nullptr;
    return out;
  }
  s.library_loaded = true;
  char reason[512] = {};
  s.devices = count(reason, sizeof(reason));
  if (s.devices <= 0) {
    s.devices = 0;
    s.problem = "the CUDA backend library " + s.library + " is loaded, but there is no usable CUDA device" +
                (*reason ? std::string(" (") + reason + ")" : std::string());
    return out;
  }
  // With a device: the library registers its backend and tensor allocator.
  char failure[512] = {};
  if (install(failure, sizeof(failure)) != 0) {
    s.devices = 0;
    s.problem = "the CUDA backend library " + s.library + " could not start on the device: " + failure;
  }
  return out;
}

const Loaded& loaded() {
  static const Loaded l = load();
  return l;
}

}  // namespace

const CudaBackendStatus& cuda_backend() { return loaded().status; }

void* cuda_backend_handle() { return loaded().handle; }

}  // namespace limelight::backend
