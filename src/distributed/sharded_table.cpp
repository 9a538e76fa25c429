// The row exchange of a sharded item table: see sharded_table.hpp.
#include "distributed/sharded_table.hpp"

#include <algorithm>
#include <cstring>

#include "limelight/error.hpp"

namespace limelight::distributed {

RowBlock owned_rows(std::int64_t num_items, int rank, int ranks) {
  return {num_items * rank / ranks, num_items * (rank + 1) / ranks};
}

int owner_of(std::int64_t id, std::int64_t num_items, int ranks) {
  // The largest r with V r / N <= id, from the estimate id N / V.
  int r = static_cast<int>(std::min<std::int64_t>(ranks - 1, id * ranks / num_items));
  while (r + 1 < ranks && owned_rows(num_items, r + 1, ranks).begin <= id) ++r;
  while (r > 0 && owned_rows(num_items, r, ranks).begin > id) --r;
  return r;
}

ShardedTable::ShardedTable(Communicator& comm, std::int64_t num_items, Parameter& embeddings, Parameter& biases)
    : comm_(comm),
      num_items_(num_items),
      D_(embeddings.value.dim(1)),
      embeddings_(embeddings),
      biases_(biases),
      mine_(owned_rows(num_items, comm.rank(), comm.size())) {
  LL_CHECK(embeddings.value.dim(0) == mine_.end - mine_.begin && biases.value.dim(0) == mine_.end - mine_.begin,
           "ShardedTable: rank ", comm.rank(), " holds ", embeddings.value.dim(0), " item rows, its block [",
           mine_.begin, ", ", mine_.end, ") has ", mine_.end - mine_.begin);
  LL_CHECK(embeddings.value.device() == Device::cpu, "--shard-items: the item table must be on the host ",
           "(a sharded table with --device cuda is not supported yet)");
  const int N = comm.size();
  for (auto* v : {&send_counts_, &send_offsets_, &recv_counts_, &recv_offsets_}) v->assign(N, 0);
}

void ShardedTable::fetch(const std::int32_t* ids, std::int64_t n, float* embeddings, float* biases) {
  const int N = comm_.size();
  const std::int64_t W = D_ + 1;
  // Group the ids by owner; with blocks, sorting by id groups them.
  position_.resize(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) position_[i] = static_cast<std::int32_t>(i);
  std::sort(position_.begin(), position_.end(), [&](std::int32_t a, std::int32_t b) { return ids[a] < ids[b]; });
  request_.resize(static_cast<std::size_t>(n));
  std::fill(send_counts_.begin(), send_counts_.end(), 0);
  for (std::int64_t i = 0; i < n; ++i) {
    request_[i] = ids[position_[i]];
    LL_CHECK(request_[i] >= 0 && request_[i] < num_items_, "sharded table: item id ", request_[i],
             " is outside the catalogue [0, ", num_items_, ")");
    ++send_counts_[owner_of(request_[i], num_items_, N)];
  }
  send_offsets_ = offsets_of(send_counts_);
  recv_counts_ = comm_.exchange_counts(send_counts_);
  recv_offsets_ = offsets_of(recv_counts_);
  const std::int64_t asked = recv_offsets_[N - 1] + recv_counts_[N - 1];
  asked_.resize(static_cast<std::size_t>(asked));
  comm_.all_to_all_v(Element::i32, request_.data(), send_counts_.data(), send_offsets_.data(), asked_.data(),
                     recv_counts_.data(), recv_offsets_.data());
  // Our rows for what others asked, D + 1 floats each.
  send_rows_.resize(static_cast<std::size_t>(asked * W));
  const float* table = embeddings_.value.f32();
  const float* bias = biases_.value.f32();
  for (std::int64_t i = 0; i < asked; ++i) {
    const std::int64_t local = asked_[i] - mine_.begin;
    LL_CHECK(local >= 0 && local < mine_.end - mine_.begin, "sharded table: rank ", comm_.rank(), " was asked for ",
             "item ", asked_[i], " outside its rows [", mine_.begin, ", ", mine_.end, ")");
    std::memcpy(send_rows_.data() + i * W, table + local * D_, sizeof(float) * D_);
    send_rows_[i * W + D_] = bias[local];
  }
  recv_rows_.resize(static_cast<std::size_t>(n * W));
  comm_.all_to_all_rows(Element::f32, W, send_rows_.data(), recv_counts_, recv_offsets_, recv_rows_.data(),
                        send_counts_, send_offsets_);
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t to = position_[i];
    std::memcpy(embeddings + to * D_, recv_rows_.data() + i * W, sizeof(float) * D_);
    biases[to] = recv_rows_[i * W + D_];
  }
  const int me = comm_.rank();
  bytes_sent_ = static_cast<std::int64_t>(sizeof(std::int32_t)) * (n - send_counts_[me]) +
                static_cast<std::int64_t>(sizeof(float)) * W * (asked - recv_counts_[me]);
}

void ShardedTable::push_gradients(const float* embedding_grads, const float* bias_grads,
                                  const unsigned char* embedding_touched, const unsigned char* bias_touched) {
  // D + 3 floats a row: the embedding's gradient, the bias's, and whether
  // each was touched (1 or 0).
  const std::int64_t W = D_ + 3, n = static_cast<std::int64_t>(request_.size());
  const std::int64_t asked = static_cast<std::int64_t>(asked_.size());
  // The route reversed: our gradients in request order, the owners' in rank order.
  recv_rows_.resize(static_cast<std::size_t>(n * W));
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t from = position_[i];
    float* row = recv_rows_.data() + i * W;
    std::memcpy(row, embedding_grads + from * D_, sizeof(float) * D_);
    row[D_] = bias_grads[from];
    row[D_ + 1] = embedding_touched == nullptr || embedding_touched[from] ? 1.0f : 0.0f;
    row[D_ + 2] = bias_touched == nullptr || bias_touched[from] ? 1.0f : 0.0f;
  }
  send_rows_.resize(static_cast<std::size_t>(asked * W));
  comm_.all_to_all_rows(Element::f32, W, recv_rows_.data(), send_counts_, send_offsets_, send_rows_.data(),
                        recv_counts_, recv_offsets_);
  const int me = comm_.rank();
  bytes_sent_ += static_cast<std::int64_t>(sizeof(float)) * W * (n - send_counts_[me]);
  // Rank 0's gradients first, then rank 1's, ...: each row's sum in rank order.
  for (std::int64_t i = 0; i < asked; ++i) {
    const std::int32_t local = static_cast<std::int32_t>(asked_[i] - mine_.begin);
    const float* g = send_rows_.data() + i * W;
    if (g[D_ + 1] != 0.0f) {
      float* e = embeddings_.sparse ? embeddings_.sparse_grad.row(local) : embeddings_.grad.f32() + local * D_;
      for (std::int64_t j = 0; j < D_; ++j) e[j] += g[j];
    }
    if (g[D_ + 2] != 0.0f) {
      float* b = biases_.sparse ? biases_.sparse_grad.row(local) : biases_.grad.f32() + local;
      b[0] += g[D_];
    }
  }
}

}  // namespace limelight::distributed
