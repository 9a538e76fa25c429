// Streaming sessions: a user's state advanced by one event at a time, so that
// recommending after a new item costs one step of the representation instead
// of a pass over the whole history.
//
//   limelight::SessionModel serving(model);      // once per model; shared by threads
//   limelight::Session s = serving.start();      // or serving.start(history)
//   s.push(42);                                  // O(1): one LSTM step, one pooling update, ...
//   auto top = s.recommend(10, /*exclude_seen=*/true);
//
// The state after pushing items i1..in equals the model's predict on the
// sequence [i1..in] (float32 rounding aside): the LSTM and the mixture carry
// (h, c), pooling a running sum and per-component count, the CNN a ring buffer
// of its receptive field per layer. Before any push the state is the
// reference's state 0 (the one that scores a sequence's first item).
//
// A session may be bounded to its last N events (SessionOptions::max_events);
// its state then equals predict on those N events, for every representation:
//   - pooling: the running sum (kept in double) and count drop the event that
//     leaves the window; O(D) per push;
//   - cnn: N >= the receptive field (1 + sum of (kernel width - 1) x dilation)
//     changes nothing (the state never reads further back); a smaller N
//     replays the N events through the layers on each push, O(N) steps;
//   - lstm and mixture: an RNN cannot forget, so the session runs N chains
//     started one event apart (batched into one product with W_hh per push);
//     the oldest has seen exactly the last N events. O(N D^2) per push and
//     2 N D floats of state: exact, but N times an unbounded session's cost.
// exclude_seen excludes every item pushed since start (or reset) for an
// unbounded session, and the items of the last N events for a bounded one
// (what recommend(window, k, true) on the model excludes).
//
// Sessions are values the caller owns: copyable, movable, small (a few D
// floats, plus the window and the set of items seen). push allocates nothing
// after a thread's first push, except that an unbounded session's set of
// distinct items seen doubles its capacity when it fills (amortised: at most
// log2(distinct items) times over a session's life; bounded sessions never).
// Sessions serialise to a versioned, checksummed byte string bound to the
// model's fingerprint; restore rejects a blob from another model, of another
// version, truncated or corrupted, with an Error saying which.
//
// Threads: a SessionModel is immutable and may serve sessions on any number
// of threads at once; one Session is used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "limelight/model.hpp"

namespace limelight {

namespace detail {
struct SessionPlan;
}

struct SessionOptions {
  // 0: the state represents the whole history. N > 0 (at most 2^24): only the
  // last N events (see the header comment for what each representation does).
  std::int64_t max_events = 0;
};

class Session {
 public:
  // A session bound to no model; every call but assignment and valid() is an Error.
  Session();
  ~Session();
  Session(const Session&);
  Session& operator=(const Session&);  // reuses this session's buffers where they fit
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;

  bool valid() const { return plan_ != nullptr; }

  // Advances the state by one event (item id in [0, num_items); 0 is the
  // padding id, a zero input step as in predict). Error for an id outside the catalogue.
  void push(std::int32_t item);
  void push(std::span<const std::int32_t> items);
  // Back to the state of a new session, keeping the options and the buffers.
  void reset();

  std::int64_t events() const { return events_; }          // pushed since start or reset
  std::int64_t max_events() const { return max_events_; }  // 0: unbounded
  // Events the state represents: events(), or min(events(), max_events()).
  std::int64_t window_events() const;
  // The represented events, oldest first; bounded sessions only (an unbounded
  // one keeps its state and the set of items seen, not its events).
  std::vector<std::int32_t> window() const;
  // Whether recommend(k, true) excludes this item.
  bool excludes(std::int32_t item) const;

  // The user representation, as the last row of the model's
  // user_representation: embedding_dim floats (2 * num_mixtures *
  // embedding_dim for mixture, tastes then attentions).
  std::span<const float> state() const;

  // Scores of every item id 0..num_items-1, as the model's predict.
  std::vector<float> scores() const;
  void scores_into(std::span<float> out) const;  // out.size() >= num_items
  // The k best items, best first, ties by lower id, never the padding id;
  // with exclude_seen, not the items seen (see above).
  std::vector<Recommendation> recommend(int k, bool exclude_seen = false) const;
  // The same into caller memory (out.size() >= min(k, num_items)); returns how
  // many were written. Allocation-free after a thread's first call.
  std::size_t recommend_into(int k, bool exclude_seen, std::span<Recommendation> out) const;

  std::vector<std::uint8_t> serialize() const;

 private:
  friend class SessionModel;
  friend struct detail::SessionPlan;

  const detail::SessionPlan* plan_ = nullptr;
  std::int64_t max_events_ = 0;
  std::int64_t events_ = 0;
  std::vector<float> floats_;         // the representation's state; layout in src/model/session/plan.hpp
  std::vector<double> sums_;          // a bounded pooling session's window sums
  std::vector<std::int32_t> window_;  // bounded sessions: the last max_events items, a ring
  std::vector<std::int32_t> seen_;    // open-addressing set: (item + 1, count) pairs, 0 = empty
  std::int64_t seen_size_ = 0;        // distinct items in seen_
};

// What sessions of one model share: the model's tables (borrowed, not
// copied), its small weights laid out for one-step updates, the state-0
// values and the model's fingerprint. The model must outlive the
// SessionModel and every session started from it, and must not be trained
// or have its parameters changed meanwhile (build a new SessionModel after
// training; start and restore refuse a model trained since).
class SessionModel {
 public:
  explicit SessionModel(const ImplicitSequenceModel& model);
  ~SessionModel();
  SessionModel(SessionModel&&) noexcept;
  SessionModel& operator=(SessionModel&&) noexcept;

  Session start(SessionOptions options = {}) const;
  // A session that has pushed `history` (oldest first).
  Session start(std::span<const std::int32_t> history, SessionOptions options = {}) const;
  // A session from Session::serialize(). Error for bytes from another model,
  // another format version, truncated or corrupted bytes.
  Session restore(std::span<const std::uint8_t> bytes) const;

  const ImplicitSequenceModel& model() const;
  // A 64-bit hash of the configuration, the catalogue size and every
  // parameter's bytes: serialized sessions carry it.
  std::uint64_t fingerprint() const;

 private:
  std::unique_ptr<detail::SessionPlan> plan_;
};

}  // namespace limelight
