// The session byte format: a header (magic, version, representation, the
// model's fingerprint, max_events, events, the four array lengths), the
// arrays of Session (floats_, sums_, window_, and an unbounded session's seen
// items, sorted), then a checksum of all that precedes it. Restoring checks
// each in turn and rebuilds the seen set.
#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <span>
#include <vector>

#include "limelight/error.hpp"
#include "limelight/session.hpp"
#include "model/session/hasher.hpp"
#include "model/session/plan.hpp"
#include "model/session/seen_set.hpp"

static_assert(std::endian::native == std::endian::little, "the session format is written little-endian");

namespace limelight {
namespace detail {
namespace {

// Writes into a buffer sized once up front.
class ByteWriter {
 public:
  explicit ByteWriter(std::size_t size) : bytes_(size) {}
  void raw(const void* data, std::size_t n) {
    if (n > 0) std::memcpy(bytes_.data() + at_, data, n);
    at_ += n;
  }
  template <class T>
  void value(const T& v) {
    raw(&v, sizeof v);
  }
  template <class T>
  void array(const std::vector<T>& v) {
    raw(v.data(), v.size() * sizeof(T));
  }
  std::size_t written() const { return at_; }
  std::vector<std::uint8_t>& bytes() { return bytes_; }

 private:
  std::vector<std::uint8_t> bytes_;
  std::size_t at_ = 0;
};

constexpr char kMagic[8] = {'L', 'L', 'S', 'E', 'S', 'S', 'N', '\x1a'};
constexpr std::uint32_t kFormatVersion = 1;
// magic, version, representation, fingerprint, max_events, events, four counts.
constexpr std::size_t kHeaderBytes = 8 + 4 + 4 + 8 + 8 + 8 + 4 * 8;

}  // namespace
}  // namespace detail

using detail::plan_of;
using detail::Rep;
using detail::SessionPlan;
namespace seen_set = detail::seen_set;

std::vector<std::uint8_t> Session::serialize() const {
  const SessionPlan& plan = plan_of(plan_);
  // An unbounded session stores its seen items; a bounded one rebuilds them from its window.
  std::vector<std::int32_t> seen_items;
  if (max_events_ == 0) {
    seen_items.reserve(static_cast<std::size_t>(seen_size_));
    for (std::size_t i = 0; i < seen_.size(); i += 2)
      if (seen_[i] != 0) seen_items.push_back(seen_[i] - 1);
    std::sort(seen_items.begin(), seen_items.end());
  }
  detail::ByteWriter out(detail::kHeaderBytes + floats_.size() * 4 + sums_.size() * 8 + window_.size() * 4 +
                         seen_items.size() * 4 + 8);
  out.raw(detail::kMagic, 8);
  out.value(detail::kFormatVersion);
  out.value(static_cast<std::uint32_t>(plan.rep));
  out.value(plan.fingerprint);
  out.value(max_events_);
  out.value(events_);
  out.value(static_cast<std::uint64_t>(floats_.size()));
  out.value(static_cast<std::uint64_t>(sums_.size()));
  out.value(static_cast<std::uint64_t>(window_.size()));
  out.value(static_cast<std::uint64_t>(seen_items.size()));
  out.array(floats_);
  out.array(sums_);
  out.array(window_);
  out.array(seen_items);
  detail::Hasher h;
  h.bytes(out.bytes().data(), out.written());
  out.value(h.digest());
  return std::move(out.bytes());
}

Session SessionModel::restore(std::span<const std::uint8_t> bytes) const {
  const SessionPlan& p = *plan_;
  const std::size_t size = bytes.size();
  LL_CHECK(size >= detail::kHeaderBytes + 8, "Session::restore: ", size, " bytes is too short for a session (",
           "at least ", detail::kHeaderBytes + 8, "): truncated");
  LL_CHECK(std::memcmp(bytes.data(), detail::kMagic, 8) == 0,
           "Session::restore: these bytes are not a limelight session (bad magic)");
  std::size_t at = 8;
  auto read = [&](auto& v) {
    std::memcpy(&v, bytes.data() + at, sizeof v);
    at += sizeof v;
  };
  std::uint32_t version = 0, rep = 0;
  std::uint64_t fingerprint = 0, n_floats = 0, n_sums = 0, n_window = 0, n_seen = 0;
  std::int64_t max_events = 0, events = 0;
  read(version);
  LL_CHECK(version == detail::kFormatVersion, "Session::restore: session format version ", version,
           "; this build reads version ", detail::kFormatVersion);
  read(rep);
  read(fingerprint);
  read(max_events);
  read(events);
  read(n_floats);
  read(n_sums);
  read(n_window);
  read(n_seen);
  // Each count is bounded by the size before the products, so nothing overflows.
  const std::uint64_t limit = size;
  LL_CHECK(n_floats <= limit && n_sums <= limit && n_window <= limit && n_seen <= limit &&
               detail::kHeaderBytes + 4 * n_floats + 8 * n_sums + 4 * n_window + 4 * n_seen + 8 == size,
           "Session::restore: ", size, " bytes do not match the sizes in the header (truncated or corrupted)");
  detail::Hasher h;
  h.bytes(bytes.data(), size - 8);
  std::uint64_t checksum = 0;
  std::memcpy(&checksum, bytes.data() + size - 8, 8);
  LL_CHECK(checksum == h.digest(), "Session::restore: the session bytes are corrupted (checksum mismatch)");
  char mine[17], theirs[17];
  std::snprintf(mine, sizeof mine, "%016llx", static_cast<unsigned long long>(p.fingerprint));
  std::snprintf(theirs, sizeof theirs, "%016llx", static_cast<unsigned long long>(fingerprint));
  LL_CHECK(fingerprint == p.fingerprint, "Session::restore: this session was made by another model (fingerprint ",
           theirs, ", this ", detail::rep_name(p.rep), " model's is ", mine, ")");
  // From here on a mismatch is a blob written by a buggy or hostile writer.
  LL_CHECK(rep == static_cast<std::uint32_t>(p.rep) && max_events >= 0 && max_events <= detail::kMaxEvents &&
               events >= 0 && n_floats == static_cast<std::uint64_t>(p.float_count(max_events)) &&
               n_sums == (p.rep == Rep::pooling && max_events > 0 ? static_cast<std::uint64_t>(p.D) : 0) &&
               n_window == static_cast<std::uint64_t>(max_events) &&
               (max_events > 0 ? n_seen == 0 : n_seen <= static_cast<std::uint64_t>(events)),
           "Session::restore: the session's layout does not fit this model (corrupted)");
  Session s = start(SessionOptions{max_events});
  s.events_ = events;
  auto read_array = [&](void* to, std::size_t n) {
    if (n > 0) std::memcpy(to, bytes.data() + at, n);  // an empty vector's data() may be null
    at += n;
  };
  read_array(s.floats_.data(), 4 * n_floats);
  read_array(s.sums_.data(), 8 * n_sums);
  read_array(s.window_.data(), 4 * n_window);
  auto check_item = [&](std::int32_t item) {
    LL_CHECK(item >= 0 && item < p.V, "Session::restore: item id ", item, " is outside the model's catalogue [0, ",
             p.V, ") (corrupted)");
  };
  if (max_events > 0) {
    const std::int64_t count = std::min(events, max_events);
    for (std::int64_t j = events - count; j < events; ++j) {
      const std::int32_t item = s.window_[static_cast<std::size_t>(j % max_events)];
      check_item(item);
      seen_set::add(s.seen_, s.seen_size_, s.max_events_ == 0, item);
    }
  } else {
    s.seen_.assign(2 * static_cast<std::size_t>(detail::seen_set::slots_for(static_cast<std::int64_t>(n_seen))), 0);
    for (std::uint64_t i = 0; i < n_seen; ++i) {
      std::int32_t item = 0;
      read(item);
      check_item(item);
      LL_CHECK(!seen_set::has(s.seen_, item), "Session::restore: item ", item, " is listed twice (corrupted)");
      seen_set::add(s.seen_, s.seen_size_, s.max_events_ == 0, item);
    }
  }
  return s;
}

}  // namespace limelight
