// The collectives built on the communicator's primitives, and the
// one-process communicator.
#include <algorithm>
#include <cstring>

#include "limelight/distributed.hpp"
#include "limelight/error.hpp"

namespace limelight::distributed {

std::size_t element_size(Element e) {
  switch (e) {
    case Element::u8: return 1;
    case Element::i32: return 4;
    case Element::i64: return 8;
    case Element::f32: return 4;
    case Element::f64: return 8;
  }
  return 1;
}

namespace {

// Rank p's share of n items split as evenly as possible: [begin, end).
std::int64_t chunk_begin(std::int64_t n, int parts, int p) { return n * p / parts; }

}  // namespace

// A reduce-scatter by all-to-all (rank p receives every rank's chunk p and
// sums them in rank order), then an all-gather of the summed chunks: each
// element's sum is ((x0 + x1) + x2) + ... whatever the transport, and the
// bytes on the wire are about 2 n (N-1)/N per rank, as a ring's.
template <class T>
void Communicator::all_reduce_sum_impl(T* data, std::int64_t n, Element e) {
  const int N = size();
  if (N == 1 || n == 0) return;
  const int me = rank();
  std::vector<std::int64_t> send_counts(N), send_offsets(N), recv_counts(N), recv_offsets(N);
  const std::int64_t my_count = chunk_begin(n, N, me + 1) - chunk_begin(n, N, me);
  for (int p = 0; p < N; ++p) {
    send_offsets[p] = chunk_begin(n, N, p);
    send_counts[p] = chunk_begin(n, N, p + 1) - send_offsets[p];
    recv_counts[p] = my_count;
    recv_offsets[p] = my_count * p;
  }
  std::vector<T> gathered(static_cast<std::size_t>(my_count) * N);
  all_to_all_v(e, data, send_counts.data(), send_offsets.data(), gathered.data(), recv_counts.data(),
               recv_offsets.data());
  std::vector<T> sum(gathered.begin(), gathered.begin() + my_count);
  for (int p = 1; p < N; ++p) {
    const T* part = gathered.data() + static_cast<std::size_t>(my_count) * p;
    for (std::int64_t i = 0; i < my_count; ++i) sum[i] += part[i];
  }
  all_gather_v(e, sum.data(), my_count, data, send_counts.data(), send_offsets.data());
}

void Communicator::all_reduce_sum(float* data, std::int64_t n) { all_reduce_sum_impl(data, n, Element::f32); }
void Communicator::all_reduce_sum(double* data, std::int64_t n) { all_reduce_sum_impl(data, n, Element::f64); }
void Communicator::all_reduce_sum(std::int64_t* data, std::int64_t n) { all_reduce_sum_impl(data, n, Element::i64); }

std::vector<std::int64_t> Communicator::all_gather(std::int64_t value) {
  const int N = size();
  std::vector<std::int64_t> out(N), counts(N, 1), offsets(N);
  for (int p = 0; p < N; ++p) offsets[p] = p;
  all_gather_v(Element::i64, &value, 1, out.data(), counts.data(), offsets.data());
  return out;
}

std::int64_t Communicator::all_reduce_max(std::int64_t value) {
  const std::vector<std::int64_t> all = all_gather(value);
  return *std::max_element(all.begin(), all.end());
}

std::vector<std::string> Communicator::all_gather_strings(const std::string& mine) {
  const int N = size();
  const std::vector<std::int64_t> lengths = all_gather(static_cast<std::int64_t>(mine.size()));
  std::vector<std::int64_t> offsets(N);
  std::int64_t total = 0;
  for (int p = 0; p < N; ++p) {
    offsets[p] = total;
    total += lengths[p];
  }
  std::string bytes(static_cast<std::size_t>(total), '\0');
  all_gather_v(Element::u8, mine.data(), static_cast<std::int64_t>(mine.size()), bytes.data(), lengths.data(),
               offsets.data());
  std::vector<std::string> out(N);
  for (int p = 0; p < N; ++p) out[p] = bytes.substr(static_cast<std::size_t>(offsets[p]), lengths[p]);
  return out;
}

std::vector<std::int64_t> Communicator::exchange_counts(const std::vector<std::int64_t>& send_counts) {
  const int N = size();
  std::vector<std::int64_t> recv_counts(N), ones(N, 1), offsets(N);
  for (int p = 0; p < N; ++p) offsets[p] = p;
  all_to_all_v(Element::i64, send_counts.data(), ones.data(), offsets.data(), recv_counts.data(), ones.data(),
               offsets.data());
  return recv_counts;
}

void Communicator::all_to_all_rows(Element e, std::int64_t width, const void* send,
                                   const std::vector<std::int64_t>& send_counts,
                                   const std::vector<std::int64_t>& send_offsets, void* recv,
                                   const std::vector<std::int64_t>& recv_counts,
                                   const std::vector<std::int64_t>& recv_offsets) {
  const int N = size();
  std::vector<std::int64_t> sc(N), so(N), rc(N), ro(N);
  for (int p = 0; p < N; ++p) {
    sc[p] = send_counts[p] * width;
    so[p] = send_offsets[p] * width;
    rc[p] = recv_counts[p] * width;
    ro[p] = recv_offsets[p] * width;
  }
  all_to_all_v(e, send, sc.data(), so.data(), recv, rc.data(), ro.data());
}

std::vector<std::int64_t> offsets_of(const std::vector<std::int64_t>& counts) {
  std::vector<std::int64_t> out(counts.size());
  std::int64_t at = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    out[i] = at;
    at += counts[i];
  }
  return out;
}

AgreedError::AgreedError(int rank, const std::string& message) : Error(message), rank_(rank) {}

void detail::agree_on(Communicator& comm, const std::string& local_error) {
  if (comm.size() == 1) {
    if (!local_error.empty()) throw AgreedError(0, local_error);
    return;
  }
  // The failure flags first (one small all-gather), the messages only if any rank failed.
  const std::vector<std::int64_t> failed = comm.all_gather(local_error.empty() ? 0 : 1);
  if (std::find(failed.begin(), failed.end(), 1) == failed.end()) return;
  const std::vector<std::string> messages = comm.all_gather_strings(local_error);
  for (int p = 0; p < comm.size(); ++p)
    if (failed[p]) throw AgreedError(p, "rank " + std::to_string(p) + ": " + messages[p]);
}

namespace {

class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string runtime() const override { return "local"; }
  void all_to_all_v(Element e, const void* send, const std::int64_t* send_counts, const std::int64_t* send_offsets,
                    void* recv, const std::int64_t* recv_counts, const std::int64_t* recv_offsets) override {
    LL_CHECK(send_counts[0] == recv_counts[0], "all_to_all_v: rank 0 sends ", send_counts[0], " elements to itself ",
             "and expects ", recv_counts[0]);
    copy(e, send, send_offsets[0], recv, recv_offsets[0], send_counts[0]);
  }
  void all_gather_v(Element e, const void* send, std::int64_t count, void* recv, const std::int64_t* recv_counts,
                    const std::int64_t* recv_offsets) override {
    LL_CHECK(count == recv_counts[0], "all_gather_v: rank 0 sends ", count, " elements and expects ", recv_counts[0]);
    copy(e, send, 0, recv, recv_offsets[0], count);
  }
  void broadcast(Element, void*, std::int64_t, int root) override {
    LL_CHECK(root == 0, "broadcast: root ", root, " is not a rank of a one-process world");
  }
  void barrier() override {}
  [[noreturn]] void abort(int status) override { std::exit(status); }

 private:
  static void copy(Element e, const void* from, std::int64_t from_offset, void* to, std::int64_t to_offset,
                   std::int64_t count) {
    const std::size_t s = element_size(e);
    if (count > 0 && from != to)
      std::memmove(static_cast<char*>(to) + to_offset * s, static_cast<const char*>(from) + from_offset * s,
                   static_cast<std::size_t>(count) * s);
  }
};

}  // namespace

std::unique_ptr<Communicator> local_communicator() { return std::make_unique<LocalCommunicator>(); }

}  // namespace limelight::distributed
