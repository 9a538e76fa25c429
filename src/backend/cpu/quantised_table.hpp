// An int8 copy of an item table for serving, with exact re-ranking.
//
// Each item row e is stored as q = round(e / s) with one scale s = max|e| / 127
// per row, so the table is a quarter of its float32 size and a one-sequence
// catalogue pass reads a quarter of the bytes. The approximate score
// b + s (u . q) of any item is within a bound of the float32 path's score
// (the quantisation error times ||u||_1, plus float32 rounding of both, see
// QuantisedTable::score_bound), so every item of the exact top k has an
// approximate score within twice that bound of the k-th best approximate one.
// Those candidates are rescored by the float32 path's own block computation
// and the exact top k returned: the same items and the same scores as
// CpuBackend::top_k_catalogue, by construction. When the candidates would
// not fit (or rescoring them would cost more than a float32 pass), the call
// falls back to the float32 pass; it never returns an approximate answer.
// Plain dot-product scoring only (no mixture head), host memory only.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/backend.hpp"

namespace limelight::cpu {

struct QuantisedTable {
  // Items are stored in groups of `group` items, each group dimension-major
  // (for d: the group's `group` values of dimension d), so the scan's inner
  // loop runs over contiguous items with no horizontal sums. The last group
  // is padded with zero rows.
  static constexpr std::int64_t group = 16;
  std::int64_t V = 0, D = 0;
  std::vector<std::int8_t> values;  // (ceil(V / group), D, group)
  std::vector<float> scales;        // (V), padded to whole groups with 0
  // Per unit of ||u||_1: the largest rounding error of a row plus a float32
  // rounding allowance (see score_bound), and the allowance for the biases.
  double error_per_l1 = 0.0, bias_error = 0.0;

  // |float32 path's score - approximate score| <= score_bound(||u||_1) for
  // every item.
  double score_bound(double u_l1) const { return u_l1 * error_per_l1 + bias_error + 1e-30; }
};

// Quantises a row-major (V, D) table with its (V) biases (the biases stay
// float32 and are read from the caller's array when scoring).
QuantisedTable quantise_item_table(const float* table, const float* bias, std::int64_t V, std::int64_t D);

// The one-row scan uses AVX2 + FMA where the CPU has them (checked at run
// time; the build targets generic x86-64) and a portable loop otherwise.
// Tests force the portable loop to check both; the answers are the same.
void force_portable_int8_scan(bool portable);
// "avx2" or "portable": the one-row scan in use.
const char* int8_scan_kernel();

// What top_k_catalogue_int8 did, for tests and benchmarks.
struct QuantisedTopKStats {
  std::int64_t candidates = 0;      // rescored items, all rows together
  std::int64_t blocks_rescored = 0;  // float32 blocks recomputed
  int rescore_threads = 0;          // threads that rescored the blocks
  bool fell_back = false;           // answered by the float32 pass instead
  bool batch_direct = false;        // a batch of more than int8_scan_max_rows: the float32 pass, no scan
};

// Above this many rows the float32 pass is compute-bound (one sgemm), the
// int8 scan cannot beat it (it does the same multiply-adds on dequantised
// rows) and rescoring would redo much of it, so such batches go straight to
// the float32 pass: the same answer at the float32 speed.
inline constexpr std::int64_t int8_scan_max_rows = 8;

// The int8 table serves only item tables of more float32 bytes than this
// (default 32 MiB, the last-level cache of the machines measured; glibc's
// sysconf reports 256 MiB in some guests, so it is not asked). A smaller table
// stays in cache, where the float32 scan is memory-bound no longer and the
// int8 scan only adds work: at D = 32, 100K items ran 0.46x and 200K 0.93x
// of float32, 300K 1.78x (docs/benchmarks.md). Tests lower it to reach the
// int8 path on small models.
bool int8_table_pays(std::int64_t V, std::int64_t D);
void set_int8_min_table_bytes(std::int64_t bytes);
std::int64_t int8_min_table_bytes();

// CpuBackend::top_k_catalogue (M = 0) for `rows` states against the table
// `q` was built from: the same items and scores, best first.
void top_k_catalogue_int8(const QuantisedTable& q, const float* states, std::int64_t rows, const float* table,
                          const float* bias, const unsigned char* excluded, int k, backend::ScoredItem* out,
                          std::size_t* counts, Arena& scratch, QuantisedTopKStats* stats = nullptr);

}  // namespace limelight::cpu
