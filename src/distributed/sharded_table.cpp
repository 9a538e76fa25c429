// The row exchange of a sharded item table: see sharded_table.hpp.
#include "distributed/sharded_table.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

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

Tensor rows_of_rank(const Tensor& whole, int rank, int ranks) {
  const RowBlock block = owned_rows(whole.dim(0), rank, ranks);
  const std::int64_t width = whole.numel() / std::max<std::int64_t>(whole.dim(0), 1);
  Shape shape = whole.shape();
  shape[0] = block.end - block.begin;
  Tensor out = Tensor::empty(shape);
  std::copy_n(whole.f32() + block.begin * width, (block.end - block.begin) * width, out.f32());
  return out;
}

ShardedTable::ShardedTable(Communicator& comm, std::int64_t num_rows, std::vector<Parameter*> columns)
    : comm_(comm), num_rows_(num_rows), columns_(std::move(columns)), mine_(owned_rows(num_rows, comm.rank(), comm.size())) {
  for (const Parameter* p : columns_) {
    LL_CHECK(p->value.dim(0) == mine_.end - mine_.begin, "ShardedTable: rank ", comm.rank(), " holds ",
             p->value.dim(0), " rows of ", p->name, ", its block [", mine_.begin, ", ", mine_.end, ") has ",
             mine_.end - mine_.begin);
    LL_CHECK(p->value.device() == Device::cpu, "--shard-items: the item table must be on the host ",
             "(a sharded table with --device cuda is not supported yet)");
    widths_.push_back(p->value.rank() > 1 ? p->value.dim(1) : 1);  // (rows, D) or (rows, 1)
    width_ += widths_.back();
  }
  const int N = comm.size();
  for (auto* v : {&send_counts_, &send_offsets_, &recv_counts_, &recv_offsets_}) v->assign(N, 0);
}

void ShardedTable::fetch(const std::int32_t* ids, std::int64_t n, const std::vector<float*>& out) {
  const int N = comm_.size();
  const std::int64_t W = width_;
  // Group the ids by owner; with blocks, sorting by id groups them.
  position_.resize(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) position_[i] = static_cast<std::int32_t>(i);
  std::sort(position_.begin(), position_.end(), [&](std::int32_t a, std::int32_t b) { return ids[a] < ids[b]; });
  request_.resize(static_cast<std::size_t>(n));
  std::fill(send_counts_.begin(), send_counts_.end(), 0);
  for (std::int64_t i = 0; i < n; ++i) {
    request_[i] = ids[position_[i]];
    LL_CHECK(request_[i] >= 0 && request_[i] < num_rows_, "sharded table: row id ", request_[i],
             " is outside the table [0, ", num_rows_, ")");
    ++send_counts_[owner_of(request_[i], num_rows_, N)];
  }
  send_offsets_ = offsets_of(send_counts_);
  recv_counts_ = comm_.exchange_counts(send_counts_);
  recv_offsets_ = offsets_of(recv_counts_);
  const std::int64_t asked = recv_offsets_[N - 1] + recv_counts_[N - 1];
  asked_.resize(static_cast<std::size_t>(asked));
  comm_.all_to_all_v(Element::i32, request_.data(), send_counts_.data(), send_offsets_.data(), asked_.data(),
                     recv_counts_.data(), recv_offsets_.data());
  // Our rows for what others asked, each column's values in turn.
  send_rows_.resize(static_cast<std::size_t>(asked * W));
  for (std::int64_t i = 0; i < asked; ++i) {
    const std::int64_t local = asked_[i] - mine_.begin;
    LL_CHECK(local >= 0 && local < mine_.end - mine_.begin, "sharded table: rank ", comm_.rank(), " was asked for ",
             "row ", asked_[i], " outside its rows [", mine_.begin, ", ", mine_.end, ")");
    float* row = send_rows_.data() + i * W;
    for (std::size_t c = 0; c < columns_.size(); ++c) {
      std::memcpy(row, columns_[c]->value.f32() + local * widths_[c], sizeof(float) * widths_[c]);
      row += widths_[c];
    }
  }
  recv_rows_.resize(static_cast<std::size_t>(n * W));
  comm_.all_to_all_rows(Element::f32, W, send_rows_.data(), recv_counts_, recv_offsets_, recv_rows_.data(),
                        send_counts_, send_offsets_);
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t to = position_[i];
    const float* row = recv_rows_.data() + i * W;
    for (std::size_t c = 0; c < columns_.size(); ++c) {
      std::memcpy(out[c] + to * widths_[c], row, sizeof(float) * widths_[c]);
      row += widths_[c];
    }
  }
  const int me = comm_.rank();
  bytes_sent_ = static_cast<std::int64_t>(sizeof(std::int32_t)) * (n - send_counts_[me]) +
                static_cast<std::int64_t>(sizeof(float)) * W * (asked - recv_counts_[me]);
}

void ShardedTable::push_gradients(const std::vector<const float*>& grads,
                                  const std::vector<const unsigned char*>& touched) {
  // A row: each column's gradient, then whether each column was touched (1 or 0).
  const std::size_t C = columns_.size();
  const std::int64_t W = width_ + static_cast<std::int64_t>(C), n = static_cast<std::int64_t>(request_.size());
  const std::int64_t asked = static_cast<std::int64_t>(asked_.size());
  // The route reversed: our gradients in request order, the owners' in rank order.
  recv_rows_.resize(static_cast<std::size_t>(n * W));
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t from = position_[i];
    float* row = recv_rows_.data() + i * W;
    for (std::size_t c = 0; c < C; ++c) {
      std::memcpy(row, grads[c] + from * widths_[c], sizeof(float) * widths_[c]);
      row += widths_[c];
    }
    for (std::size_t c = 0; c < C; ++c)
      row[c] = c >= touched.size() || touched[c] == nullptr || touched[c][from] ? 1.0f : 0.0f;
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
    const float* flags = g + width_;
    for (std::size_t c = 0; c < C; ++c) {
      Parameter& p = *columns_[c];
      if (flags[c] != 0.0f) {
        float* dst = p.sparse ? p.sparse_grad.row(local) : p.grad.f32() + local * widths_[c];
        for (std::int64_t j = 0; j < widths_[c]; ++j) dst[j] += g[j];
      }
      g += widths_[c];
    }
  }
}

}  // namespace limelight::distributed
