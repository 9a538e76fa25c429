// The communicator's collectives on the job's world (MPI under mpirun): the
// fixed-order all-reduce against the rank-order sum computed locally, the
// primitives with uneven and empty counts, and agree().
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "distributed_helpers.hpp"

using namespace dist_test;
namespace distributed = limelight::distributed;

namespace {

// The reference: ((x0 + x1) + x2) + ..., element by element.
template <class T>
std::vector<T> rank_order_sum(std::uint64_t seed, int ranks, std::int64_t n) {
  std::vector<T> sum = values_of<T>(seed, 0, n);
  for (int r = 1; r < ranks; ++r) {
    const std::vector<T> part = values_of<T>(seed, r, n);
    for (std::int64_t i = 0; i < n; ++i) sum[i] += part[i];
  }
  return sum;
}

template <class T>
void check_all_reduce_sum(std::uint64_t seed) {
  distributed::Communicator& comm = world();
  const int N = comm.size();
  // Fewer values than ranks, none, one, and counts that do not divide evenly.
  for (const std::int64_t n : {std::int64_t{0}, std::int64_t{1}, std::int64_t{2}, std::int64_t{5},
                               std::int64_t{N - 1}, std::int64_t{N + 1}, std::int64_t{1001}}) {
    CAPTURE(n);
    std::vector<T> data = values_of<T>(seed + static_cast<std::uint64_t>(n), comm.rank(), n);
    comm.all_reduce_sum(data.data(), n);
    const std::vector<T> expected = rank_order_sum<T>(seed + static_cast<std::uint64_t>(n), N, n);
    CHECK(bytes_of(data) == bytes_of(expected));
    CHECK(ranks_differing_from_rank0(bytes_of(data)) == 0);
  }
}

}  // namespace

TEST_CASE("collectives: the world is the launcher's") {
  distributed::Communicator& comm = world();
  CHECK(comm.size() >= 1);
  CHECK(comm.rank() >= 0);
  CHECK(comm.rank() < comm.size());
  CHECK(distributed::world_is_mpi() == distributed::under_launcher());
  CHECK(comm.runtime() == (distributed::world_is_mpi() ? "mpi" : "local"));
  const std::vector<std::int64_t> ranks = comm.all_gather(comm.rank());
  REQUIRE(static_cast<int>(ranks.size()) == comm.size());
  for (int p = 0; p < comm.size(); ++p) CHECK(ranks[p] == p);
  CHECK(comm.all_reduce_max(comm.rank() == 0 ? -5 : -comm.rank()) == (comm.size() == 1 ? -5 : -1));
  comm.barrier();
}

TEST_CASE("collectives: all_reduce_sum is the rank-order sum, the same bits on every rank") {
  check_all_reduce_sum<float>(11);
  check_all_reduce_sum<double>(12);
  check_all_reduce_sum<std::int64_t>(13);
}

TEST_CASE("collectives: all_reduce_sum of the local communicator leaves the values") {
  const auto local = distributed::local_communicator();
  CHECK(local->size() == 1);
  CHECK(local->rank() == 0);
  std::vector<float> data = values_of<float>(3, 0, 17);
  const std::vector<float> before = data;
  local->all_reduce_sum(data.data(), 17);
  CHECK(bytes_of(data) == bytes_of(before));
}

TEST_CASE("collectives: all_to_all_v with uneven and empty counts") {
  distributed::Communicator& comm = world();
  const int N = comm.size(), me = comm.rank();
  // Rank r sends (r + 2p) % 3 values to rank p, some of them none; value k
  // of the message from r to p is r * 10000 + p * 100 + k. The receive
  // buffer leaves one unwritten slot before each message.
  const auto count = [](int from, int to) { return static_cast<std::int64_t>((from + 2 * to) % 3); };
  std::vector<std::int64_t> send_counts(N), send_offsets(N), recv_counts(N), recv_offsets(N);
  std::vector<std::int32_t> send;
  std::int64_t received = 0;
  for (int p = 0; p < N; ++p) {
    send_counts[p] = count(me, p);
    send_offsets[p] = static_cast<std::int64_t>(send.size());
    for (std::int64_t k = 0; k < send_counts[p]; ++k) send.push_back(me * 10000 + p * 100 + static_cast<int>(k));
    recv_counts[p] = count(p, me);
    recv_offsets[p] = received + 1;
    received += recv_counts[p] + 1;
  }
  send.push_back(-7);  // never sent: keeps data() valid when nothing is
  std::vector<std::int32_t> recv(static_cast<std::size_t>(received) + 1, -1);
  comm.all_to_all_v(distributed::Element::i32, send.data(), send_counts.data(), send_offsets.data(), recv.data(),
                    recv_counts.data(), recv_offsets.data());
  std::vector<std::int32_t> expected(recv.size(), -1);
  for (int p = 0; p < N; ++p)
    for (std::int64_t k = 0; k < recv_counts[p]; ++k)
      expected[recv_offsets[p] + k] = p * 10000 + me * 100 + static_cast<int>(k);
  CHECK(recv == expected);

  // Doubles, and every count zero.
  std::vector<std::int64_t> zeros(N, 0), offsets(N, 0);
  double sent = 1.5, got = -2.5;
  comm.all_to_all_v(distributed::Element::f64, &sent, zeros.data(), offsets.data(), &got, zeros.data(),
                    offsets.data());
  CHECK(got == -2.5);
}

TEST_CASE("collectives: all_gather_v with uneven, empty and gapped pieces") {
  distributed::Communicator& comm = world();
  const int N = comm.size(), me = comm.rank();
  // Rank 1 sends nothing; rank r otherwise r + 2 doubles; one gap slot before each piece.
  const auto count = [](int r) { return static_cast<std::int64_t>(r == 1 ? 0 : r + 2); };
  std::vector<std::int64_t> counts(N), offsets(N);
  std::int64_t total = 0;
  for (int p = 0; p < N; ++p) {
    counts[p] = count(p);
    offsets[p] = total + 1;
    total += counts[p] + 1;
  }
  std::vector<double> mine = values_of<double>(21, me, count(me));
  mine.push_back(0.0);  // keeps data() valid for an empty piece
  std::vector<double> all(static_cast<std::size_t>(total), -99.0);
  comm.all_gather_v(distributed::Element::f64, mine.data(), count(me), all.data(), counts.data(), offsets.data());
  std::vector<double> expected(all.size(), -99.0);
  for (int p = 0; p < N; ++p) {
    const std::vector<double> theirs = values_of<double>(21, p, count(p));
    for (std::int64_t k = 0; k < counts[p]; ++k) expected[offsets[p] + k] = theirs[k];
  }
  CHECK(bytes_of(all) == bytes_of(expected));

  // Bytes (u8) too.
  std::vector<std::int64_t> byte_counts(N), byte_offsets(N);
  for (int p = 0; p < N; ++p) {
    byte_counts[p] = p + 1;
    byte_offsets[p] = p * (p + 1) / 2;
  }
  const std::string my_bytes(static_cast<std::size_t>(me + 1), static_cast<char>('A' + me));
  std::string gathered(static_cast<std::size_t>(N * (N + 1) / 2), '?');
  comm.all_gather_v(distributed::Element::u8, my_bytes.data(), me + 1, gathered.data(), byte_counts.data(),
                    byte_offsets.data());
  std::string expected_bytes;
  for (int p = 0; p < N; ++p) expected_bytes += std::string(static_cast<std::size_t>(p + 1), static_cast<char>('A' + p));
  CHECK(gathered == expected_bytes);
}

TEST_CASE("collectives: broadcast from the last rank") {
  distributed::Communicator& comm = world();
  const int root = comm.size() - 1;  // a non-zero root whenever there are two ranks
  std::vector<double> data = comm.rank() == root ? values_of<double>(31, root, 40) : std::vector<double>(40, 0.0);
  comm.broadcast(distributed::Element::f64, data.data(), 40, root);
  CHECK(bytes_of(data) == bytes_of(values_of<double>(31, root, 40)));
  std::vector<std::int64_t> ints = comm.rank() == root ? values_of<std::int64_t>(32, root, 3)
                                                       : std::vector<std::int64_t>(3, 0);
  comm.broadcast(distributed::Element::i64, ints.data(), 3, root);
  CHECK(ints == values_of<std::int64_t>(32, root, 3));
  // Nothing to send is fine too.
  comm.broadcast(distributed::Element::u8, nullptr, 0, root);
  CHECK_THROWS_AS(comm.broadcast(distributed::Element::u8, nullptr, 0, comm.size()), limelight::Error);
}

TEST_CASE("collectives: all_gather_strings with empty, binary and uneven strings") {
  distributed::Communicator& comm = world();
  const auto text = [](int r) {
    std::string s(static_cast<std::size_t>(3 * r), static_cast<char>('a' + r));
    if (r % 2 == 1) s += std::string("\0\xff", 2);
    return s;
  };
  const std::vector<std::string> all = comm.all_gather_strings(text(comm.rank()));
  REQUIRE(static_cast<int>(all.size()) == comm.size());
  for (int p = 0; p < comm.size(); ++p) CHECK(all[p] == text(p));
  const std::vector<std::string> empties = comm.all_gather_strings("");
  CHECK(empties == std::vector<std::string>(static_cast<std::size_t>(comm.size())));
}

TEST_CASE("collectives: agree() turns one rank's failure into the same AgreedError on every rank") {
  distributed::Communicator& comm = world();
  const int N = comm.size(), me = comm.rank();
  const int failing = N - 1;
  std::string message;
  int failed_rank = -1;
  try {
    distributed::agree(comm, [&] {
      if (me == failing) throw limelight::Error("cannot open /no/such/file");
    });
  } catch (const distributed::AgreedError& e) {
    message = e.what();
    failed_rank = e.failed_rank();
  }
  CHECK(failed_rank == failing);
  CHECK(message == (N == 1 ? std::string("cannot open /no/such/file")
                           : "rank " + std::to_string(failing) + ": cannot open /no/such/file"));
  CHECK(ranks_differing_from_rank0(message) == 0);

  // Several failing ranks: the lowest one's message; an empty message is named.
  message.clear();
  failed_rank = -1;
  try {
    distributed::agree(comm, [&] {
      if (me >= 1 || N == 1) throw std::runtime_error(me == 1 ? "" : "later rank " + std::to_string(me));
    });
  } catch (const distributed::AgreedError& e) {
    message = e.what();
    failed_rank = e.failed_rank();
  }
  if (N == 1) {
    CHECK(failed_rank == 0);
    CHECK(message == "later rank 0");
  } else {
    CHECK(failed_rank == 1);
    CHECK(message == "rank 1: unknown error");
  }
  CHECK(ranks_differing_from_rank0(message) == 0);

  // No failure: no error, on any rank.
  bool threw = false;
  try {
    distributed::agree(comm, [] {});
  } catch (const distributed::AgreedError&) {
    threw = true;
  }
  CHECK_FALSE(threw);
  CHECK(comm.all_reduce_max(threw ? 1 : 0) == 0);
}
