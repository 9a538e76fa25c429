// Streaming sessions (include/limelight/session.hpp): one new event's state
// update plus top 10, against a full recommend on the same 200-event history.
#include <chrono>

#include "bench_common.hpp"
#include "limelight/random.hpp"
#include "limelight/session.hpp"
#include "limelight_bench/limelight_bench.hpp"

namespace limelight::bench {

// Each timed call starts from a copy of the same session (the copy is not
// timed), so both sides always see 200 events.
StreamTimes time_stream(const ImplicitSequenceModel& model, const std::vector<std::int32_t>& history,
                        const std::vector<std::int32_t>& next_items, const Options& o) {
  const SessionModel serving(model);
  const Session start = serving.start(history);
  Session s = start;
  std::vector<std::int32_t> full(history);
  full.push_back(0);
  Recommendation top[10];
  volatile float sink = 0;
  StreamTimes t;
  const auto begin = Clock::now();
  const int warmup = 50;
  for (int i = 0; i < warmup + o.repetitions; ++i) {
    const std::int32_t item = next_items[static_cast<std::size_t>(i) % next_items.size()];
    s = start;
    const auto t0 = Clock::now();
    s.push(item);
    const auto t1 = Clock::now();
    s.recommend_into(10, false, top);
    const auto t2 = Clock::now();
    sink = sink + top[0].score;
    full.back() = item;
    const auto t3 = Clock::now();
    model.recommend_into(full, 10, false, top);
    const auto t4 = Clock::now();
    sink = sink + top[0].score;
    if (i < warmup) continue;
    auto us = [](auto a, auto b) { return std::chrono::duration<double, std::micro>(b - a).count(); };
    t.update_us.push_back(us(t0, t1));
    t.score_us.push_back(us(t1, t2));
    t.event_us.push_back(us(t0, t2));
    t.full_us.push_back(us(t3, t4));
    if (i - warmup >= 99 && std::chrono::duration<double>(t4 - begin).count() > 2 * o.latency_budget_s) break;
  }
  return t;
}

void add_stream_fields(JsonLine& line, const StreamTimes& t) {
  line.integer("stream_events", static_cast<std::int64_t>(t.event_us.size()))
      .number("stream_event_p50_us", percentile(t.event_us, 0.5))
      .number("stream_event_p99_us", percentile(t.event_us, 0.99))
      .number("stream_update_p50_us", percentile(t.update_us, 0.5))
      .number("stream_update_p99_us", percentile(t.update_us, 0.99))
      .number("stream_score_p50_us", percentile(t.score_us, 0.5))
      .number("stream_score_p99_us", percentile(t.score_us, 0.99))
      .number("full_recommend_p50_us", percentile(t.full_us, 0.5))
      .number("full_recommend_p99_us", percentile(t.full_us, 0.99));
}

// In the child process: an initialised (untrained) model of `items` ids;
// latency does not depend on the weights' values.
std::string run_stream_configuration(const Options& o, const std::string& representation, long items) {
  ImplicitSequenceModel model(model_config(o, representation, "bpr"));
  model.initialize(static_cast<std::int32_t>(items));
  Rng rng(o.model.seed);
  std::vector<std::int32_t> history(kMaxLength - 1), next(4096);
  for (std::int32_t& v : history) v = static_cast<std::int32_t>(1 + rng.uniform_int(items - 1));
  for (std::int32_t& v : next) v = static_cast<std::int32_t>(1 + rng.uniform_int(items - 1));
  const StreamTimes t = time_stream(model, history, next, o);
  JsonLine line;
  line.text("tool", "limelight")
      .text("mode", "stream")
      .text("representation", representation)
      .integer("num_items", items)
      .integer("embedding_dim", o.model.embedding_dim)
      .integer("threads", o.model.threads > 0 ? o.model.threads : 1)
      .integer("history_events", static_cast<std::int64_t>(history.size() + 1));
  add_stream_fields(line, t);
  return line.str();
}

}  // namespace limelight::bench
