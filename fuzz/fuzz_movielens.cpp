// Fuzz target: load_movielens in each of its formats. The first byte picks
// the file name the loader dispatches on (u.data for 100K, ratings.dat for
// 1M/10M, ratings.csv for latest); the rest is the file, written to a
// temporary file because the loader takes a path.
#include <cstdint>
#include <string>

#include "fuzz_util.hpp"
#include "limelight/data.hpp"
#include "limelight/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace limelight;
  if (size == 0) return 0;
  static const std::string paths[] = {fuzz::temp_path("u.data"), fuzz::temp_path("ratings.dat"),
                                      fuzz::temp_path("ratings.csv")};
  const std::string& path = paths[data[0] % 3];
  fuzz::write_file(path, data + 1, size - 1);
  try {
    const Interactions interactions = load_movielens(path);
    interactions.validate();
    (void)interactions.to_sequence(4);
  } catch (const Error&) {
  }
  return 0;
}
