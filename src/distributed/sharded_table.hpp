// An item table split by rows across ranks (fit --shard-items): rank r owns
// the contiguous block of ids [V r / N, V (r+1) / N) of the embeddings and
// biases, and Adam's moments of those rows. A step fetches the rows its slice
// of the batch needs from their owners and sends the rows' gradients back the
// same way; each owner sums what it receives in rank order and updates its
// rows. Contiguous blocks (TorchRec's row-wise sharding), not id mod N:
// a rank's rows are one range of the one-process table, so that it draws
// only its blocks of the initial values and writes or reads one range of
// the model file.
#pragma once

#include <cstdint>
#include <vector>

#include "limelight/distributed.hpp"
#include "limelight/tape.hpp"

namespace limelight::distributed {

// The ids rank r of `ranks` owns in a catalogue of `num_items`.
struct RowBlock {
  std::int64_t begin = 0, end = 0;
};
RowBlock owned_rows(std::int64_t num_items, int rank, int ranks);
// The owner of `id`.
int owner_of(std::int64_t id, std::int64_t num_items, int ranks);

class ShardedTable {
 public:
  // `embeddings` (rows, D) and `biases` (rows, 1): this rank's block of a
  // catalogue of `num_items`.
  ShardedTable(Communicator& comm, std::int64_t num_items, Parameter& embeddings, Parameter& biases);

  // The embeddings (n, D) and biases (n) of `ids` (n distinct ids, any
  // owners), from their owners. Every rank calls it once a step, n = 0
  // included. Remembers the route for push_gradients.
  void fetch(const std::int32_t* ids, std::int64_t n, float* embeddings, float* biases);
  // The gradients (n, D) and (n) of the last fetch's ids to their owners,
  // added to this rank's parameters' gradients (row-sparse or dense), each
  // row's contributions in rank order. With row-sparse parameters, only the
  // rows the step's backward touched (`embedding_touched`, `bias_touched`:
  // n flags each, or null for all) are touched at the owner, so that lazy
  // Adam moves the rows one process would move, no more.
  void push_gradients(const float* embedding_grads, const float* bias_grads,
                      const unsigned char* embedding_touched = nullptr, const unsigned char* bias_touched = nullptr);

  // Bytes this rank sent in the last fetch and push (ids, rows, gradients).
  std::int64_t bytes_sent() const { return bytes_sent_; }

 private:
  Communicator& comm_;
  std::int64_t num_items_, D_;
  Parameter& embeddings_;
  Parameter& biases_;
  RowBlock mine_;
  // The last fetch's route: the ids grouped by owner (request order), where
  // each came from in the caller's array, and the ids others asked of us.
  std::vector<std::int64_t> send_counts_, send_offsets_, recv_counts_, recv_offsets_;
  std::vector<std::int32_t> request_, position_, asked_;
  std::vector<float> send_rows_, recv_rows_;  // D + 1 floats a row: embedding then bias
  std::int64_t bytes_sent_ = 0;
};

}  // namespace limelight::distributed
