// The Bloom embedding hash table, computed as spotlight/layers.py does:
// scikit-learn's murmurhash3_32 of each int32 id (signed result), the padding
// id's hash set to 0, then Python's modulo (non-negative for a positive divisor).
#include "limelight/bloom.hpp"

#include <cmath>

#include "limelight/data.hpp"
#include "limelight/error.hpp"

namespace limelight {

const std::uint32_t bloom_seeds[24] = {
    179424941, 179425457, 179425907, 179426369, 179424977, 179425517, 179425943, 179426407,
    179424989, 179425529, 179425993, 179426447, 179425003, 179425537, 179426003, 179426453,
    179425019, 179425559, 179426029, 179426491, 179425027, 179425579, 179426081, 179426549};

std::int64_t bloom_compressed_rows(double compression_ratio, std::int64_t num_items) {
  LL_CHECK(std::isfinite(compression_ratio) && compression_ratio > 0.0,
           "BloomEmbedding: compression_ratio must be a finite number > 0, got ", compression_ratio);
  const double rows = std::trunc(compression_ratio * static_cast<double>(num_items));
  LL_CHECK(rows >= 2.0 && rows <= 2147483647.0, "BloomEmbedding: compression_ratio ", compression_ratio, " of ",
           num_items, " items gives ", rows, " rows; at least 2 are needed (the padding row and one more)");
  return static_cast<std::int64_t>(rows);
}

std::vector<std::int32_t> bloom_hash_table(std::int64_t num_items, std::int64_t compressed_rows,
                                           int num_hash_functions) {
  LL_CHECK(num_hash_functions >= 1 && num_hash_functions <= bloom_max_hash_functions,
           "BloomEmbedding: num_hash_functions must be in [1, ", bloom_max_hash_functions, "], got ",
           num_hash_functions);
  LL_CHECK(num_items >= 1 && num_items <= 2147483647, "BloomEmbedding: num_items must be in [1, 2^31), got ",
           num_items);
  LL_CHECK(compressed_rows >= 2 && compressed_rows <= 2147483647,
           "BloomEmbedding: compressed rows must be in [2, 2^31), got ", compressed_rows);
  const std::int64_t H = num_hash_functions;
  std::vector<std::int32_t> table(static_cast<std::size_t>(num_items * H), 0);
  for (std::int64_t i = 1; i < num_items; ++i)
    for (std::int64_t h = 0; h < H; ++h) {
      const auto hash = static_cast<std::int32_t>(murmurhash3_32(static_cast<std::int32_t>(i), bloom_seeds[h]));
      std::int64_t row = static_cast<std::int64_t>(hash) % compressed_rows;
      if (row < 0) row += compressed_rows;
      table[static_cast<std::size_t>(i * H + h)] = static_cast<std::int32_t>(row);
    }
  return table;
}

}  // namespace limelight
