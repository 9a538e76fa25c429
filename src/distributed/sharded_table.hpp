// An item table split by rows across ranks (fit --shard-items): rank r owns
// the contiguous block of ids [V r / N, V (r+1) / N) of the embeddings and
// biases, and Adam's moments of those rows. A step fetches the rows its slice
// of the batch needs from their owners and sends the rows' gradients back the
// same way; each owner sums what it receives in rank order and updates its
// rows. Contiguous blocks (TorchRec's row-wise sharding), not id mod N:
// a rank's rows are one range of the one-process table, so that it draws
// only its blocks of the initial values and writes or reads one range of
// the model file. A Bloom model shards its compressed table the same way,
// by compressed row [C r / N, C (r+1) / N), beside its biases by item id:
// a step fetches the compressed rows its items hash to.
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
// Rank `rank`'s block of the rows of a whole (rows, width) table: what a
// sharded model keeps of a saved one.
Tensor rows_of_rank(const Tensor& whole, int rank, int ranks);

class ShardedTable {
 public:
  // `columns`: this rank's blocks (rows, width) of parameters indexed by
  // the same `num_rows` ids, fetched and updated together, one row of each
  // an id: the item embeddings and biases; with Bloom embeddings, the
  // compressed table alone (its rows are the hashes' ids) and the biases
  // alone (the items' ids).
  ShardedTable(Communicator& comm, std::int64_t num_rows, std::vector<Parameter*> columns);

  // The rows of `ids` (n distinct ids, any owners), from their owners:
  // out[c] receives (n, width of column c). Every rank calls it once a
  // step, n = 0 included. Remembers the route for push_gradients.
  void fetch(const std::int32_t* ids, std::int64_t n, const std::vector<float*>& out);
  // The gradients grads[c] (n, width of column c) of the last fetch's ids
  // to their owners, added to this rank's parameters' gradients (row-sparse
  // or dense), each row's contributions in rank order. With row-sparse
  // parameters, only the rows the step's backward touched (touched[c]: n
  // flags, or null or absent for all) are touched at the owner, so that
  // lazy Adam moves the rows one process would move, no more.
  void push_gradients(const std::vector<const float*>& grads, const std::vector<const unsigned char*>& touched = {});

  // Bytes this rank sent in the last fetch and push (ids, rows, gradients).
  std::int64_t bytes_sent() const { return bytes_sent_; }
  std::int64_t num_rows() const { return num_rows_; }

 private:
  Communicator& comm_;
  std::int64_t num_rows_;
  std::vector<Parameter*> columns_;
  std::vector<std::int64_t> widths_;
  std::int64_t width_ = 0;  // the columns' widths summed
  RowBlock mine_;
  // The last fetch's route: the ids grouped by owner (request order), where
  // each came from in the caller's array, and the ids others asked of us.
  std::vector<std::int64_t> send_counts_, send_offsets_, recv_counts_, recv_offsets_;
  std::vector<std::int32_t> request_, position_, asked_;
  std::vector<float> send_rows_, recv_rows_;  // a row: each column's values in turn
  std::int64_t bytes_sent_ = 0;
};

}  // namespace limelight::distributed
