// Scores of the whole catalogue from a session's state, and its top-k, kept
// in the CPU backend's bounded heap (the catalogue top-k's order, ties included).
#include <algorithm>
#include <cstring>
#include <span>
#include <vector>

#include "backend/cpu/top_k_heap.hpp"
#include "limelight/error.hpp"
#include "limelight/session.hpp"
#include "model/session/kernels.hpp"
#include "model/session/plan.hpp"
#include "model/session/seen_set.hpp"

namespace limelight {
namespace detail {

void SessionPlan::score_all(const Session& s, float* out) const {
  const float* u = s.floats_.data() + state_offset(s.max_events_);
  const std::int64_t blocks = padded_v / kBlock;
  if (rep != Rep::mixture) {
    block_dots<1, 8>(blocked_E.data(), blocks, D, u, 1, padded_bias.data(), out, padded_v);
    return;
  }
  float* dots = work_buffer(static_cast<std::size_t>(2 * M * padded_v));
  if (2 * M == 8)
    block_dots<8, 1>(blocked_E.data(), blocks, D, u, 8, nullptr, dots, padded_v);
  else
    block_dots<0, 1>(blocked_E.data(), blocks, D, u, 2 * M, nullptr, dots, padded_v);
  mixture_mix(dots, padded_v, M, padded_bias.data(), 0, padded_v, out);
}

std::size_t SessionPlan::top_k(const Session& s, const float* scores, int k, bool exclude_seen,
                                Recommendation* out) const {
  cpu::BoundedHeap<Recommendation> heap(out, 0, static_cast<std::size_t>(std::min<std::int64_t>(k, V)));
  auto offer = [&](std::int32_t v) {
    const Recommendation r{v, scores[v]};
    // A full heap turns most items away before the seen set is looked up.
    if (heap.full() && !cpu::better(r, heap.items[0])) return;
    if (exclude_seen && seen_set::has(s.seen_, v)) return;
    heap.offer(r);
  };
  // Once the heap is full, most blocks of 16 hold no score above its worst
  // (an equal score cannot win: earlier ids are lower), and are skipped.
  std::int64_t v = 1;  // the padding id is never recommended
  while (v < V) {
    if (heap.full()) v = skip_blocks(scores, v, V, heap.items[0].score);
    const std::int64_t end = std::min<std::int64_t>(V, v + kBlock);
    for (; v < end; ++v) offer(static_cast<std::int32_t>(v));
  }
  heap.sort();
  return heap.size;
}

}  // namespace detail

using detail::plan_of;
using detail::SessionPlan;

void Session::scores_into(std::span<float> out) const {
  const SessionPlan& plan = plan_of(plan_);
  LL_CHECK(out.size() >= static_cast<std::size_t>(plan.V), "Session::scores_into: room for ", out.size(),
           " scores, the catalogue has ", plan.V);
  float* scores = detail::score_buffer(static_cast<std::size_t>(plan.padded_v));
  plan.score_all(*this, scores);
  std::memcpy(out.data(), scores, sizeof(float) * static_cast<std::size_t>(plan.V));
}

std::vector<float> Session::scores() const {
  const SessionPlan& plan = plan_of(plan_);
  std::vector<float> out(static_cast<std::size_t>(plan.V));
  scores_into(out);
  return out;
}

std::vector<Recommendation> Session::recommend(int k, bool exclude_seen) const {
  const SessionPlan& plan = plan_of(plan_);
  LL_CHECK(k >= 1, "Session::recommend: k must be >= 1, got ", k);
  std::vector<Recommendation> out(static_cast<std::size_t>(std::min<std::int64_t>(k, plan.V)));
  out.resize(recommend_into(k, exclude_seen, out));
  return out;
}

std::size_t Session::recommend_into(int k, bool exclude_seen, std::span<Recommendation> out) const {
  const SessionPlan& plan = plan_of(plan_);
  LL_CHECK(k >= 1, "Session::recommend: k must be >= 1, got ", k);
  LL_CHECK(out.size() >= static_cast<std::size_t>(std::min<std::int64_t>(k, plan.V)), "Session::recommend: room for ",
           out.size(), " results, k is ", k);
  float* scores = detail::score_buffer(static_cast<std::size_t>(plan.padded_v));
  plan.score_all(*this, scores);
  return plan.top_k(*this, scores, k, exclude_seen, out.data());
}

}  // namespace limelight
