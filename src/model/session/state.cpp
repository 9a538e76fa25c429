// A session's state, per event and per representation (the layouts are in
// plan.hpp): a new session's state 0, one event's step, and the window, seen
// set and state accessors of Session.
#include <algorithm>
#include <cstring>
#include <span>
#include <vector>

#include "limelight/error.hpp"
#include "limelight/session.hpp"
#include "model/session/kernels.hpp"
#include "model/session/plan.hpp"
#include "model/session/seen_set.hpp"

namespace limelight {
namespace detail {

void SessionPlan::fresh(Session& s) const {
  const std::int64_t N = s.max_events_;
  s.events_ = 0;
  s.floats_.assign(static_cast<std::size_t>(float_count(N)), 0.0f);
  float* f = s.floats_.data();
  switch (rep) {
    case Rep::pooling:
      std::fill(f + (N > 0 ? 0 : D), f + (N > 0 ? D : 2 * D), 1.0f);  // counts start at 1
      s.sums_.assign(N > 0 ? static_cast<std::size_t>(D) : 0, 0.0);
      break;
    case Rep::lstm:
    case Rep::mixture:
      std::copy(h0.begin(), h0.end(), f + (N > 0 ? 2 * N * D : 0));
      if (N == 0) std::copy(c0.begin(), c0.end(), f + D);
      if (rep == Rep::mixture) std::copy(rep0.begin(), rep0.end(), f + state_offset(N));
      break;
    case Rep::cnn: std::copy(cnn_fresh.begin(), cnn_fresh.end(), f); break;
  }
  s.window_.assign(static_cast<std::size_t>(N), 0);
  // An unbounded session keeps its grown set (cleared); a bounded one needs 2N slots.
  const std::size_t slots = static_cast<std::size_t>(
      N > 0 ? seen_set::slots_for(N)
            : std::max<std::int64_t>(seen_set::kMinSlots, static_cast<std::int64_t>(s.seen_.size()) / 2));
  s.seen_.assign(2 * slots, 0);
  s.seen_size_ = 0;
}

void SessionPlan::mixture_project(const float* h, float* out) const {
  std::copy(proj_bias.begin(), proj_bias.end(), out);
  add_product(out, h, proj_t.data(), D, W);
}

// CNN: feeds event t (item; t = -1 computes state 0 without an event)
// through every layer. Layer 0's latest input index is t (the reference pads
// one step more than causality needs), layer i >= 1's is t + 1.
void SessionPlan::cnn_advance(float* f, std::int64_t t, std::int32_t item) const {
  const std::int64_t L = static_cast<std::int64_t>(layers.size());
  float* tmp = work_buffer(static_cast<std::size_t>(D));
  if (t >= 0) std::memcpy(f + layers[0].ring + (t % layers[0].span) * D, E + item * D, sizeof(float) * D);
  for (std::int64_t i = 0; i < L; ++i) {
    const CnnLayer& layer = layers[static_cast<std::size_t>(i)];
    const std::int64_t p = i == 0 ? t : t + 1;
    const float* ring = f + layer.ring;
    std::copy(layer.bias.begin(), layer.bias.end(), tmp);
    for (std::int64_t j = 0; j < layer.kernel; ++j) {
      const std::int64_t m = p - (layer.kernel - 1 - j) * layer.dilation;
      if (m < 0) continue;  // left padding: a zero input
      add_product(tmp, ring + (m % layer.span) * D, layer.taps.data() + j * D * D, D, D);
    }
    for (std::int64_t o = 0; o < D; ++o) tmp[o] = relu ? (tmp[o] > 0.0f ? tmp[o] : 0.0f) : cpu::fast_tanh(tmp[o]);
    if (residual && p >= 0) {
      const float* x = ring + (p % layer.span) * D;
      for (std::int64_t o = 0; o < D; ++o) tmp[o] += x[o];
    }
    float* out = i + 1 < L ? f + layers[static_cast<std::size_t>(i + 1)].ring +
                                 ((t + 1) % layers[static_cast<std::size_t>(i + 1)].span) * D
                           : f + cnn_state;
    std::memcpy(out, tmp, sizeof(float) * D);
  }
}

void SessionPlan::push(Session& s, std::int32_t item) const {
  LL_CHECK(item >= 0 && item < V, "Session::push: item id ", item, " is outside the model's catalogue [0, ", V, ")");
  const std::int64_t N = s.max_events_, n = s.events_;
  const float* e = E + static_cast<std::int64_t>(item) * D;
  std::int32_t leaving = -1;
  if (N > 0) {
    const std::size_t slot = static_cast<std::size_t>(n % N);
    if (n >= N) {
      leaving = s.window_[slot];
      seen_set::remove(s.seen_, s.seen_size_, leaving);
    }
    s.window_[slot] = item;
  }
  seen_set::add(s.seen_, s.seen_size_, s.max_events_ == 0, item);
  float* f = s.floats_.data();
  switch (rep) {
    case Rep::pooling: {
      if (N == 0) {
        float *sum = f, *count = f + D, *state = f + 2 * D;
        for (std::int64_t d = 0; d < D; ++d) {
          sum[d] += e[d];
          count[d] += e[d] != 0.0f ? 1.0f : 0.0f;
          state[d] = sum[d] / count[d];
        }
      } else {
        float *count = f, *state = f + D;
        double* sum = s.sums_.data();
        if (leaving >= 0) {
          const float* old = E + static_cast<std::int64_t>(leaving) * D;
          for (std::int64_t d = 0; d < D; ++d) {
            sum[d] -= old[d];
            count[d] -= old[d] != 0.0f ? 1.0f : 0.0f;
          }
        }
        for (std::int64_t d = 0; d < D; ++d) {
          sum[d] += e[d];
          count[d] += e[d] != 0.0f ? 1.0f : 0.0f;
          state[d] = static_cast<float>(sum[d]) / count[d];
        }
      }
      break;
    }
    case Rep::lstm:
    case Rep::mixture: {
      const std::int64_t G = 4 * D;
      float* xz = work_buffer(static_cast<std::size_t>(2 * G));
      float* z = xz + G;
      std::copy(gate_bias.begin(), gate_bias.end(), xz);
      add_product(xz, e, w_ih_t.data(), D, G);
      const float* h_state = f;
      if (N == 0) {
        lstm_step(xz, w_hh_t.data(), f, f + D, z, 1, D);
      } else {
        // A new chain starts in the slot of the one that has just seen N
        // events; the live chains (up to N) all take this event.
        float *chain_h = f, *chain_c = f + N * D, *state_h = f + 2 * N * D;
        const std::int64_t slot = n % N;
        std::copy(h0.begin(), h0.end(), chain_h + slot * D);
        std::copy(c0.begin(), c0.end(), chain_c + slot * D);
        const std::int64_t live = std::min(n + 1, N);
        lstm_step(xz, w_hh_t.data(), chain_h, chain_c, z, live, D);
        const std::int64_t oldest = n + 1 <= N ? 0 : (n + 1) % N;
        std::memcpy(state_h, chain_h + oldest * D, sizeof(float) * D);
        h_state = state_h;
      }
      if (rep == Rep::mixture) mixture_project(h_state, f + state_offset(N));
      break;
    }
    case Rep::cnn:
      if (!bounded_replay(N)) {
        cnn_advance(f, n, item);
      } else {
        // The window is shorter than the receptive field: the state is the
        // window's own, from state 0 (its first events see left padding).
        std::copy(cnn_fresh.begin(), cnn_fresh.end(), f);
        const std::int64_t count = std::min(n + 1, N), first = n + 1 - count;
        for (std::int64_t j = 0; j < count; ++j)
          cnn_advance(f, j, s.window_[static_cast<std::size_t>((first + j) % N)]);
      }
      break;
  }
  s.events_ = n + 1;
}

}  // namespace detail

using detail::plan_of;
using detail::SessionPlan;
namespace seen_set = detail::seen_set;

Session::Session() = default;
Session::~Session() = default;
Session::Session(const Session&) = default;
Session& Session::operator=(const Session&) = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

void Session::push(std::int32_t item) { plan_of(plan_).push(*this, item); }

void Session::push(std::span<const std::int32_t> items) {
  const SessionPlan& plan = plan_of(plan_);
  for (std::int32_t item : items) plan.push(*this, item);
}

void Session::reset() { plan_of(plan_).fresh(*this); }

std::int64_t Session::window_events() const {
  plan_of(plan_);
  return max_events_ > 0 ? std::min(events_, max_events_) : events_;
}

std::vector<std::int32_t> Session::window() const {
  plan_of(plan_);
  LL_CHECK(max_events_ > 0, "Session::window: an unbounded session keeps its state and the items it has seen, not ",
           "its events (start it with SessionOptions::max_events to keep a window)");
  const std::int64_t count = window_events(), first = events_ - count;
  std::vector<std::int32_t> out(static_cast<std::size_t>(count));
  for (std::int64_t j = 0; j < count; ++j)
    out[static_cast<std::size_t>(j)] = window_[static_cast<std::size_t>((first + j) % max_events_)];
  return out;
}

bool Session::excludes(std::int32_t item) const {
  const SessionPlan& plan = plan_of(plan_);
  return item >= 0 && item < plan.V && seen_set::has(seen_, item);
}

std::span<const float> Session::state() const {
  const SessionPlan& plan = plan_of(plan_);
  return {floats_.data() + plan.state_offset(max_events_), static_cast<std::size_t>(plan.W)};
}

}  // namespace limelight
