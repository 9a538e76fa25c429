// Data-parallel training's pieces below fit: each rank's slice of a batch,
// and the gradient exchange's sums, dense and row-sparse, against sums
// computed locally from every rank's reproducible gradients.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "distributed/data_parallel.hpp"
#include "distributed_helpers.hpp"

using namespace dist_test;
namespace distributed = limelight::distributed;
using limelight::Parameter;
using limelight::Tensor;

TEST_CASE("batch_slice: every row once, in order, as even as can be") {
  for (int size = 1; size <= 5; ++size)
    for (std::int64_t rows = 0; rows <= 23; ++rows) {
      CAPTURE(size);
      CAPTURE(rows);
      std::int64_t next = 0, smallest = rows, largest = 0;
      for (int rank = 0; rank < size; ++rank) {
        const distributed::Slice s = distributed::batch_slice(rows, rank, size);
        CHECK(s.begin == next);
        CHECK(s.end >= s.begin);
        next = s.end;
        smallest = std::min(smallest, s.size());
        largest = std::max(largest, s.size());
      }
      CHECK(next == rows);
      CHECK(largest - smallest <= 1);
    }
  // A short last batch of 2 rows over 3 ranks: one rank has none.
  int empty = 0;
  for (int rank = 0; rank < 3; ++rank) empty += distributed::batch_slice(2, rank, 3).size() == 0;
  CHECK(empty == 1);
  CHECK(distributed::batch_slice(2, 0, 3).size() == 0);
}

TEST_CASE("batch_slice: the world's slices cover the batch") {
  distributed::Communicator& comm = world();
  for (const std::int64_t rows : {std::int64_t{1}, std::int64_t{2}, std::int64_t{7}, std::int64_t{64}}) {
    const distributed::Slice mine = distributed::batch_slice(rows, comm.rank(), comm.size());
    const std::vector<std::int64_t> sizes = comm.all_gather(mine.size());
    std::int64_t total = 0;
    for (const std::int64_t s : sizes) total += s;
    CHECK(total == rows);
  }
}

namespace {

constexpr std::int64_t kVocab = 13, kWidth = 3;  // 13 rows: not a multiple of 2 or 3

// Rank r's gradients for case `seed`: two dense parameters, one row-sparse
// table (a random subset of rows, none at all on rank 1, row 0 on every
// rank), and two extra values.
struct RankGradients {
  std::vector<float> dense_a, dense_b, extra;
  std::map<std::int32_t, std::vector<float>> rows;  // id -> row, in the order they are touched below
  std::vector<std::int32_t> touch_order;
};

RankGradients gradients_of(std::uint64_t seed, int rank) {
  RankGradients g;
  g.dense_a = values_of<float>(seed, rank, 6);
  g.dense_b = values_of<float>(seed + 100, rank, 35);
  g.extra = values_of<float>(seed + 200, rank, 2);
  if (rank == 1) return g;
  std::mt19937_64 gen(seed * 31 + static_cast<std::uint64_t>(rank));
  std::vector<std::int32_t> ids;
  for (std::int32_t id = 1; id < kVocab; ++id)
    if (gen() % 2 == 0) ids.push_back(id);
  ids.push_back(0);
  std::shuffle(ids.begin(), ids.end(), gen);  // touched out of order
  for (std::size_t k = 0; k < ids.size(); ++k) {
    g.touch_order.push_back(ids[k]);
    g.rows[ids[k]] = values_of<float>(seed + 300 + static_cast<std::uint64_t>(ids[k]), rank, kWidth);
  }
  return g;
}

}  // namespace

TEST_CASE("GradientExchange: every rank gets the exact rank-order sums, dense and row-sparse") {
  distributed::Communicator& comm = world();
  const int N = comm.size();
  for (const std::uint64_t seed : {std::uint64_t{1}, std::uint64_t{2}}) {
    CAPTURE(seed);
    Parameter a("a", Tensor::zeros({2, 3}));
    Parameter table("table", Tensor::zeros({kVocab, kWidth}), true);
    Parameter b("b", Tensor::zeros({5, 7}));
    const RankGradients mine = gradients_of(seed, comm.rank());
    std::copy(mine.dense_a.begin(), mine.dense_a.end(), a.grad.f32());
    std::copy(mine.dense_b.begin(), mine.dense_b.end(), b.grad.f32());
    for (const std::int32_t id : mine.touch_order) {
      const std::vector<float>& row = mine.rows.at(id);
      float* dst = table.sparse_grad.row(id);
      for (std::int64_t j = 0; j < kWidth; ++j) dst[j] += row[j];
    }
    std::vector<float> extra = mine.extra;

    distributed::GradientExchange exchange(comm);
    exchange.sum({&a, &table, &b}, extra.data(), 2);

    // The reference, from every rank's gradients: rank 0's, plus rank 1's, ...
    RankGradients sum = gradients_of(seed, 0);
    std::map<std::int32_t, std::vector<float>> rows = sum.rows;
    for (int r = 1; r < N; ++r) {
      const RankGradients g = gradients_of(seed, r);
      for (std::size_t i = 0; i < sum.dense_a.size(); ++i) sum.dense_a[i] += g.dense_a[i];
      for (std::size_t i = 0; i < sum.dense_b.size(); ++i) sum.dense_b[i] += g.dense_b[i];
      for (std::size_t i = 0; i < sum.extra.size(); ++i) sum.extra[i] += g.extra[i];
      for (const auto& [id, row] : g.rows) {
        auto it = rows.find(id);
        if (it == rows.end()) {
          rows[id] = row;
        } else {
          for (std::int64_t j = 0; j < kWidth; ++j) it->second[j] += row[j];
        }
      }
    }
    CHECK(bytes_of(a.grad.to_vector()) == bytes_of(sum.dense_a));
    CHECK(bytes_of(b.grad.to_vector()) == bytes_of(sum.dense_b));
    CHECK(bytes_of(extra) == bytes_of(sum.extra));
    // The exchanged table: each id once, the union of every rank's rows.
    const std::vector<std::int32_t>& ids = table.sparse_grad.rows();
    CHECK(std::set<std::int32_t>(ids.begin(), ids.end()).size() == ids.size());
    CHECK(ids.size() == rows.size());
    std::map<std::int32_t, std::vector<float>> got;
    for (std::size_t k = 0; k < ids.size(); ++k)
      got[ids[k]] = std::vector<float>(table.sparse_grad.values() + k * kWidth,
                                       table.sparse_grad.values() + (k + 1) * kWidth);
    CHECK(got == rows);  // float ==: the same sums exactly
    bool same_bits = got.size() == rows.size();
    for (const auto& [id, row] : rows) same_bits = same_bits && got.count(id) && bytes_of(got[id]) == bytes_of(row);
    CHECK(same_bits);
    // Every rank holds the same rows in the same order.
    std::string held = bytes_of(ids) + bytes_of(table.sparse_grad.values(), ids.size() * kWidth * sizeof(float));
    CHECK(ranks_differing_from_rank0(held) == 0);
    if (N > 1) CHECK(exchange.last_bytes().dense > 0);
    // The accumulator still works as one after the exchange.
    float* again = table.sparse_grad.row(static_cast<std::int32_t>(kVocab - 1));
    CHECK(again != nullptr);
  }
}

TEST_CASE("GradientExchange: a sparse table only one rank touched, and no dense parameter") {
  distributed::Communicator& comm = world();
  Parameter table("table", Tensor::zeros({kVocab, kWidth}), true);
  // Only the last rank touches a row.
  if (comm.rank() == comm.size() - 1) {
    float* row = table.sparse_grad.row(5);
    row[0] = 1.0f;
    row[1] = 2.0f;
    row[2] = 3.0f;
  }
  // One extra value (fit's loss), as fit always passes.
  float extra = static_cast<float>(comm.rank() + 1);
  distributed::GradientExchange exchange(comm);
  exchange.sum({&table}, &extra, 1);
  const int N = comm.size();
  CHECK(extra == static_cast<float>(N * (N + 1) / 2));
  REQUIRE(table.sparse_grad.rows().size() == 1);
  CHECK(table.sparse_grad.rows()[0] == 5);
  CHECK(std::vector<float>(table.sparse_grad.values(), table.sparse_grad.values() + 3) ==
        std::vector<float>{1.0f, 2.0f, 3.0f});
}
