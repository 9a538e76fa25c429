// Launchers of the whole-catalogue scoring kernels (kernels/scoring.cu).
// Host-callable from plain C++; pointers are device memory.
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

namespace limelight::cuda::kernels {

constexpr int max_top_k = 128;
// The widest embedding score_top_k takes: a tile of users' vectors (at
// least one) fits its shared memory.
constexpr int max_top_k_width = 6144;

// scores (B, V) += bias (V) broadcast over rows (after the cuBLAS GEMM
// scores = users . table^T of predict).
void add_column_bias(float* scores, std::int64_t B, std::int64_t V, const float* bias, cudaStream_t stream);

// The k (<= max_top_k) best items of each of B users (users (B, D)) over a
// table (V, D) with optional bias (V): score = table[i] . u + bias[i], best
// first, ties broken by the lower id. Id 0 (padding) never appears; with
// exclude_ids (B, X) (0 entries ignored) those ids are skipped per row, and
// with `excluded` (V flags, shared by the rows) the flagged ones.
// When fewer than k items are eligible the row ends with id -1, score -inf;
// NaN scores are never returned. B <= 65535, D <= max_top_k_width.
// `target_blocks` (about twice the multiprocessors) sets how finely the
// catalogue is cut; the workspace, top_k_workspace(B, V, D, k,
// target_blocks) bytes, grows with B x target_blocks x k, not with V.
std::size_t top_k_workspace(std::int64_t B, std::int64_t V, std::int64_t D, int k, int target_blocks);
void score_top_k(const float* users, std::int64_t B, const float* table, const float* bias, std::int64_t V,
                 std::int64_t D, int k, const std::int32_t* exclude_ids, std::int64_t X, std::int32_t* out_ids,
                 float* out_scores, void* workspace, std::size_t workspace_bytes, int target_blocks, int* fault,
                 cudaStream_t stream, const unsigned char* excluded = nullptr);

// The same over given scores (rows, V) (a mixture head's): the k best of
// each row, the rows in tiles of up to 8 side by side in one pass, with
// top_k_workspace(rows, V, 1, k, target_blocks) bytes.
void rows_top_k(const float* scores, std::int64_t rows, std::int64_t V, const unsigned char* excluded, int k,
                std::int32_t* out_ids, float* out_scores, void* workspace, std::size_t workspace_bytes,
                int target_blocks, int* fault, cudaStream_t stream);

// One (item, score) result, laid out as backend::ScoredItem.
struct ScoredPair {
  std::int32_t item;
  float score;
};
// out (rows, k) = the pairs of score_top_k's (ids, scores), and counts[r]
// the row's found items (ids >= 0; they come first).
void pack_top_k(const std::int32_t* ids, const float* scores, std::int64_t rows, int k, ScoredPair* out,
                unsigned long long* counts, cudaStream_t stream);

}  // namespace limelight::cuda::kernels
