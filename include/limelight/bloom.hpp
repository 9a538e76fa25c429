// Bloom embeddings (Spotlight's BloomEmbedding): each item id is hashed with
// murmurhash3_32 under num_hash_functions seeds into a compressed table of
// int(compression_ratio * num_items) rows, and its embedding is the sum of the
// rows its hashes name. Row 0 of the compressed table is the padding row: it
// stays zero and gets no gradient, also when a real item hashes to it.
#pragma once

#include <cstdint>
#include <vector>

namespace limelight {

// The reference's seeds, in order (spotlight/layers.py SEEDS); at most this many hash functions.
extern const std::uint32_t bloom_seeds[24];
constexpr int bloom_max_hash_functions = 24;

// int(compression_ratio * num_items), as the reference computes it (double
// product, truncated). Error when it leaves fewer than 2 rows (the padding row
// and one more) or the ratio is not a finite positive number.
std::int64_t bloom_compressed_rows(double compression_ratio, std::int64_t num_items);

// The hash table (num_items, num_hash_functions), row-major: entry (i, h) is
// scikit-learn's signed murmurhash3_32(int32 i, seed = bloom_seeds[h]) modulo
// compressed_rows (non-negative, as Python's %), and row 0 (padding) is all 0.
std::vector<std::int32_t> bloom_hash_table(std::int64_t num_items, std::int64_t compressed_rows,
                                           int num_hash_functions);

}  // namespace limelight
