// Launchers of the embedding kernels (kernels/embedding.cu). Host-callable
// from plain C++; all pointers are device memory, all work is queued on
// `stream`. Ids outside [0, V) are skipped and set a bit of `fault`.
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

namespace limelight::cuda::kernels {

// out[i, :] = table[ids[i], :] for n ids, rows of width D. Row 0, the padding
// row, is read like any other (the table keeps it zero).
void gather_rows(const float* table, std::int64_t V, std::int64_t D, const std::int32_t* ids, std::int64_t n,
                 float* out, int* fault, cudaStream_t stream);

// table_grad[ids[i], :] += grad[i, :], skipping id 0. atomicAdd: the order of
// the additions into a row, and so its rounding, is not deterministic.
void scatter_add_rows(const float* grad, std::int64_t V, std::int64_t D, const std::int32_t* ids, std::int64_t n,
                      float* table_grad, int* fault, cudaStream_t stream);

// Ids outside [0, V) become 0 (padding) and set fault_scatter_id in *fault.
void drop_ids_outside(std::int32_t* ids, std::int64_t n, std::int64_t V, int* fault, cudaStream_t stream);

// table_grad[rows[i], :] += values[i, :] for the first *count (device) of
// max_rows distinct rows: sized for max_rows, so the host need not read the
// count; deterministic, with no atomics.
void add_distinct_rows(const float* values, std::int64_t V, std::int64_t D, const std::int32_t* rows,
                       const std::int32_t* count, std::int64_t max_rows, float* table_grad, int* fault,
                       cudaStream_t stream);

// Deterministic row-sparse gradient: the distinct non-zero ids in ascending
// order into rows[0, count), and values[j, :] = the sum of grad[i, :] over
// the i with ids[i] == rows[j], added in increasing i. *count (device) gets
// the row count. rows and values need room for n rows. `workspace` holds
// sparse_rows_workspace(n, D) bytes. Rows of up to 128 entries are summed
// in position order (the CPU's bits); longer ones in segments of 128, then
// the segment sums in order (deterministic, rounded per segment).
std::size_t sparse_rows_workspace(std::int64_t n, std::int64_t D);
void sparse_rows_sorted(const float* grad, std::int64_t V, std::int64_t D, const std::int32_t* ids, std::int64_t n,
                        std::int32_t* rows, float* values, std::int32_t* count, void* workspace,
                        std::size_t workspace_bytes, int* fault, cudaStream_t stream);

}  // namespace limelight::cuda::kernels
