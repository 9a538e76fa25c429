// The gradient exchange of data-parallel training: see data_parallel.hpp.
#include "distributed/data_parallel.hpp"

#include <cstring>

#include "limelight/error.hpp"

namespace limelight::distributed {

Slice batch_slice(std::int64_t rows, int rank, int size) {
  return {rows * rank / size, rows * (rank + 1) / size};
}

void GradientExchange::sum(const std::vector<Parameter*>& params, float* extra, std::int64_t n_extra) {
  bytes_ = {};
  if (comm_.size() == 1) return;
  // The dense gradients, staged through one host buffer (device gradients
  // are copied down and back: the collectives read host memory).
  std::int64_t total = n_extra;
  for (const Parameter* p : params)
    if (!p->sparse) total += p->grad.numel();
  dense_.resize(static_cast<std::size_t>(total));
  std::int64_t at = 0;
  for (const Parameter* p : params) {
    if (p->sparse || p->grad.numel() == 0) continue;
    const std::size_t bytes = sizeof(float) * static_cast<std::size_t>(p->grad.numel());
    allocator_for(p->grad.device()).copy(dense_.data() + at, Device::cpu, p->grad.raw(), p->grad.device(), bytes);
    at += p->grad.numel();
  }
  if (n_extra > 0) std::memcpy(dense_.data() + at, extra, sizeof(float) * static_cast<std::size_t>(n_extra));
  comm_.all_reduce_sum(dense_.data(), total);
  const int N = comm_.size();
  bytes_.dense = 2 * static_cast<std::int64_t>(sizeof(float)) * (total - total / N);
  at = 0;
  for (Parameter* p : params) {
    if (p->sparse || p->grad.numel() == 0) continue;
    const std::size_t bytes = sizeof(float) * static_cast<std::size_t>(p->grad.numel());
    allocator_for(p->grad.device()).copy(p->grad.raw(), p->grad.device(), dense_.data() + at, Device::cpu, bytes);
    at += p->grad.numel();
  }
  if (n_extra > 0) std::memcpy(extra, dense_.data() + at, sizeof(float) * static_cast<std::size_t>(n_extra));
  for (Parameter* p : params)
    if (p->sparse) sum_sparse(*p);
}

void GradientExchange::sum_sparse(Parameter& p) {
  LL_CHECK(p.value.device() == Device::cpu, "distributed training: the row-sparse gradient of '", p.name,
           "' is on the device; --sparse with --device cuda trains in one process only");
  const int N = comm_.size(), me = comm_.rank();
  SparseRows& g = p.sparse_grad;
  const std::int64_t D = g.row_size();
  const std::vector<std::int32_t>& rows = g.rows();
  const std::int64_t n = static_cast<std::int64_t>(rows.size());

  // Each row to its owner, grouped by owner in the order the rows are held.
  std::vector<std::int64_t> send_counts(N, 0);
  for (std::int32_t id : rows) ++send_counts[id % N];
  const std::vector<std::int64_t> send_offsets = offsets_of(send_counts);
  send_ids_.resize(static_cast<std::size_t>(n));
  send_values_.resize(static_cast<std::size_t>(n * D));
  {
    std::vector<std::int64_t> next(send_offsets);
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t slot = next[rows[i] % N]++;
      send_ids_[slot] = rows[i];
      std::memcpy(send_values_.data() + slot * D, g.values() + i * D, sizeof(float) * D);
    }
  }
  // How many rows each rank sends to each.
  const std::vector<std::int64_t> recv_counts = comm_.exchange_counts(send_counts);
  const std::vector<std::int64_t> recv_offsets = offsets_of(recv_counts);
  const std::int64_t received = recv_offsets[N - 1] + recv_counts[N - 1];
  recv_ids_.resize(static_cast<std::size_t>(received));
  recv_values_.resize(static_cast<std::size_t>(received * D));
  comm_.all_to_all_rows(Element::i32, 1, send_ids_.data(), send_counts, send_offsets, recv_ids_.data(), recv_counts,
                        recv_offsets);
  comm_.all_to_all_rows(Element::f32, D, send_values_.data(), send_counts, send_offsets, recv_values_.data(),
                        recv_counts, recv_offsets);
  bytes_.sparse += (n - send_counts[me]) * static_cast<std::int64_t>(sizeof(std::int32_t) + sizeof(float) * D);

  // The owner's sums: rank 0's rows first, then rank 1's, ... (the receive
  // buffer is in rank order), each id's sum in that order.
  const std::int64_t V = p.value.dim(0), local_rows = (V + N - 1) / N;
  if (static_cast<std::int64_t>(slot_of_.size()) < local_rows) slot_of_.assign(static_cast<std::size_t>(local_rows), -1);
  merged_ids_.clear();
  merged_values_.clear();
  for (std::int64_t i = 0; i < received; ++i) {
    const std::int32_t id = recv_ids_[i];
    std::int32_t& slot = slot_of_[static_cast<std::size_t>(id / N)];
    const float* src = recv_values_.data() + i * D;
    if (slot < 0) {
      slot = static_cast<std::int32_t>(merged_ids_.size());
      merged_ids_.push_back(id);
      merged_values_.insert(merged_values_.end(), src, src + D);
    } else {
      float* dst = merged_values_.data() + static_cast<std::int64_t>(slot) * D;
      for (std::int64_t j = 0; j < D; ++j) dst[j] += src[j];
    }
  }
  for (std::int32_t id : merged_ids_) slot_of_[static_cast<std::size_t>(id / N)] = -1;

  // Every owner's merged rows to every rank.
  const std::int64_t mine = static_cast<std::int64_t>(merged_ids_.size());
  const std::vector<std::int64_t> counts = comm_.all_gather(mine);
  const std::vector<std::int64_t> offsets = offsets_of(counts);
  const std::int64_t union_rows = offsets[N - 1] + counts[N - 1];
  all_ids_.resize(static_cast<std::size_t>(union_rows));
  comm_.all_gather_v(Element::i32, merged_ids_.data(), mine, all_ids_.data(), counts.data(), offsets.data());
  g.clear();
  float* values = g.assign_rows_unset(all_ids_.data(), union_rows);
  std::vector<std::int64_t> value_counts(N), value_offsets(N);
  for (int q = 0; q < N; ++q) {
    value_counts[q] = counts[q] * D;
    value_offsets[q] = offsets[q] * D;
  }
  comm_.all_gather_v(Element::f32, merged_values_.data(), mine * D, values, value_counts.data(), value_offsets.data());
  bytes_.sparse += (N - 1) * mine * static_cast<std::int64_t>(sizeof(std::int32_t) + sizeof(float) * D);
}

}  // namespace limelight::distributed
