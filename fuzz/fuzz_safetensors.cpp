// Fuzz target: SafetensorsFile::parse on any bytes, then every accessor on
// every tensor it accepted. Errors must be limelight::Error; reads must stay
// inside the buffer (AddressSanitizer checks that).
#include <cstdint>
#include <string>

#include "limelight/error.hpp"
#include "limelight/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace limelight;
  io::SafetensorsFile file;
  try {
    file = io::SafetensorsFile::parse(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
  } catch (const Error&) {
    return 0;
  }
  for (const std::string& name : file.names()) {
    try {
      (void)file.info(name);
      (void)file.f32(name);
    } catch (const Error&) {
    }
    try {
      (void)file.i64(name);
    } catch (const Error&) {
    }
    try {
      (void)file.tensor(name);
    } catch (const Error&) {
    }
  }
  return 0;
}
