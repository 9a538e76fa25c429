// Data-parallel training's gradient exchange: after each rank's backward over
// its slice of the global batch, the gradients of every parameter summed
// across ranks, so that every rank takes the same Adam step.
#pragma once

#include <cstdint>
#include <vector>

#include "limelight/distributed.hpp"
#include "limelight/tape.hpp"

namespace limelight::distributed {

// Rank `rank`'s rows of a batch of `rows`: [begin, end), as even as possible
// (the last ranks' slices of a short batch may be empty).
struct Slice {
  std::int64_t begin = 0, end = 0;
  std::int64_t size() const { return end - begin; }
};
Slice batch_slice(std::int64_t rows, int rank, int size);

// The bytes one exchange() sent from this rank, by kind (for benchmarks).
struct ExchangeBytes {
  std::int64_t dense = 0, sparse = 0;
};

class GradientExchange {
 public:
  explicit GradientExchange(Communicator& comm) : comm_(comm) {}

  // Sums the gradients of `params` across ranks, in place, identically on
  // every rank. Dense gradients (and the `extra` values, such as the loss)
  // travel in one fixed-order all-reduce. A row-sparse gradient, already
  // one row per id on each rank, goes to the rows' owners (id mod N), which
  // sum each id's rows in rank order, and the merged rows are then gathered
  // by every rank: no id travels twice in the gather, and lazy Adam then
  // updates the union of the rows any rank touched.
  void sum(const std::vector<Parameter*>& params, float* extra, std::int64_t n_extra);

  const ExchangeBytes& last_bytes() const { return bytes_; }

 private:
  void sum_sparse(Parameter& p);

  Communicator& comm_;
  ExchangeBytes bytes_;
  std::vector<float> dense_;
  // The sparse exchange's buffers, kept across steps.
  std::vector<std::int32_t> send_ids_, recv_ids_, merged_ids_, all_ids_;
  std::vector<float> send_values_, recv_values_, merged_values_;
  std::vector<std::int32_t> slot_of_;  // owner-local id -> merged row, -1 when none
};

}  // namespace limelight::distributed
