// A SessionPlan: what a SessionModel keeps of its model for streaming
// sessions (include/limelight/session.hpp), the parameters laid out for one
// event's step and for scoring, and the operations on a session's state.
// Its parts live beside it: construction.cpp builds it, state.cpp updates a
// session per event, scoring.cpp scores and ranks from a session's state,
// format.cpp writes and restores the session bytes; seen_set.hpp is the
// seen-item set and kernels.hpp the loops on raw arrays they all run.
//
// Session::floats_ layouts (D = embedding_dim, N = max_events, M = mixtures):
//   pooling   unbounded [sum D | count D | state D]; bounded [count D | state D], sums_ = window sums (double)
//   lstm      unbounded [h D | c D];                  bounded [chain h N*D | chain c N*D | state h D]
//   mixture   as lstm, then [representation 2*M*D]
//   cnn       [ring of layer 0's input S_0*D | ... | ring of the last layer's input | state D],
//             S_i = (k_i - 1) d_i + 1; input index m lives in slot m mod S_i
// Counts are floats starting at 1, as the model's running_pool divides.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "limelight/error.hpp"
#include "limelight/model.hpp"
#include "limelight/session.hpp"

namespace limelight::detail {

enum class Rep : std::uint32_t { pooling = 0, cnn = 1, lstm = 2, mixture = 3 };

// Rep is the representation as the session bytes number it (the format's
// code, fixed); the model's enum may be reordered without changing it.
inline Rep session_rep(Representation r) {
  switch (r) {
    case Representation::pooling: return Rep::pooling;
    case Representation::cnn: return Rep::cnn;
    case Representation::lstm: return Rep::lstm;
    case Representation::mixture: return Rep::mixture;
  }
  return Rep::mixture;
}

inline const char* rep_name(Rep r) {
  switch (r) {
    case Rep::pooling: return "pooling";
    case Rep::cnn: return "cnn";
    case Rep::lstm: return "lstm";
    case Rep::mixture: return "mixture";
  }
  return "?";
}

inline constexpr std::int64_t kMaxEvents = std::int64_t{1} << 24;

struct CnnLayer {
  std::int64_t kernel = 1, dilation = 1, span = 1;
  std::vector<float> taps;  // (K, D, D): taps[(j * D + c) * D + o] = W[o, c, j]
  std::vector<float> bias;
  std::int64_t ring = 0;    // offset of this layer's input ring in Session::floats_
};

struct SessionPlan {
  const ImplicitSequenceModel* model = nullptr;
  Rep rep = Rep::pooling;
  std::int64_t V = 0, D = 0, M = 0, W = 0;
  const float* E = nullptr;
  const float* bias = nullptr;
  std::int64_t padded_v = 0;        // V rounded up to whole blocks of 16
  std::vector<float> blocked_E;     // E laid out for scoring (see block_dots in kernels.hpp)
  std::vector<float> padded_bias;   // bias, zero past V
  std::int64_t trained_steps = 0;
  std::uint64_t fingerprint = 0;
  // lstm, mixture: W_ih^T and W_hh^T (D, 4D), b_ih + b_hh, the state after the zero step.
  std::vector<float> w_ih_t, w_hh_t, gate_bias, h0, c0;
  // mixture: projection^T (D, 2MD), its bias, the representation of h0.
  std::vector<float> proj_t, proj_bias, rep0;
  // cnn
  std::vector<CnnLayer> layers;
  bool relu = false, residual = false;
  std::int64_t field = 1;        // receptive field in events
  std::int64_t cnn_state = 0;    // offset of the state in floats_
  std::vector<float> cnn_fresh;  // floats_ of a new session

  bool bounded_replay(std::int64_t N) const { return rep == Rep::cnn && N > 0 && N < field; }

  std::int64_t float_count(std::int64_t N) const {
    switch (rep) {
      case Rep::pooling: return N > 0 ? 2 * D : 3 * D;
      case Rep::lstm: return N > 0 ? 2 * N * D + D : 2 * D;
      case Rep::mixture: return (N > 0 ? 2 * N * D + D : 2 * D) + W;
      case Rep::cnn: return cnn_state + D;
    }
    return 0;
  }
  std::int64_t state_offset(std::int64_t N) const {
    switch (rep) {
      case Rep::pooling: return N > 0 ? D : 2 * D;
      case Rep::lstm: return N > 0 ? 2 * N * D : 0;
      case Rep::mixture: return N > 0 ? 2 * N * D + D : 2 * D;
      case Rep::cnn: return cnn_state;
    }
    return 0;
  }

  // ---- state updates (state.cpp) ----
  // A session's state before any event: the reference's state 0.
  void fresh(Session& s) const;
  void mixture_project(const float* h, float* out) const;
  // CNN: feeds event t (item; t = -1 computes state 0 without an event)
  // through every layer.
  void cnn_advance(float* f, std::int64_t t, std::int32_t item) const;
  void push(Session& s, std::int32_t item) const;

  // ---- scoring (scoring.cpp) ----
  // Scores of ids 0..padded_v-1 into out (padded_v floats; past V they are junk).
  void score_all(const Session& s, float* out) const;
  // The k best of ids 1..V-1 by `scores`, best first, into out; returns how many.
  std::size_t top_k(const Session& s, const float* scores, int k, bool exclude_seen, Recommendation* out) const;
};

inline const SessionPlan& plan_of(const SessionPlan* plan) {
  LL_CHECK(plan != nullptr, "Session: this session was not started from a SessionModel (default-constructed)");
  return *plan;
}

// Per-thread buffers that only grow: the scores of one scoring call, and
// step and scoring scratch (two, as scoring writes one while using the other).
inline float* thread_buffer(std::vector<float>& buffer, std::size_t n) {
  if (buffer.size() < n) buffer.resize(n);
  return buffer.data();
}
inline float* score_buffer(std::size_t n) {
  thread_local std::vector<float> buffer;
  return thread_buffer(buffer, n);
}
inline float* work_buffer(std::size_t n) {
  thread_local std::vector<float> buffer;
  return thread_buffer(buffer, n);
}

}  // namespace limelight::detail
