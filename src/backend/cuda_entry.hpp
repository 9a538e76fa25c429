// The contract between the main library and the CUDA backend library
// (liblimelight_cuda.so): the names and signatures of its C entry points,
// shared by the loader (cuda_loader.cpp) and the library (cuda/entry.cpp).
// Bump the version whenever a signature changes: a loader refuses a library
// built for another one.
#pragma once

#include <cstddef>

#define LIMELIGHT_CUDA_ABI_VERSION 2

extern "C" {
// The ABI version the library was built with.
typedef int (*limelight_cuda_abi_version_fn)();
// Devices usable by this process; when 0, `problem` (capacity bytes, NUL
// terminated) gets the runtime's reason.
typedef int (*limelight_cuda_device_count_fn)(char* problem, std::size_t capacity);
// Registers the library's tensor allocator and backend for Device::cuda
// (called once, after a device was found). Returns 0, or -1 with the reason
// in `problem` (capacity bytes, NUL terminated).
typedef int (*limelight_cuda_install_fn)(char* problem, std::size_t capacity);
}
