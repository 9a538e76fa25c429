// One configuration of the protocol, in its child process: trains on the
// train split and times the epochs after the first, scores MRR on the test
// split, times one-sequence predict, recommend and a streaming session at 199
// steps of history, and reads the peak resident memory.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>

#include "bench_common.hpp"
#include "limelight/evaluation.hpp"
#include "limelight_bench/limelight_bench.hpp"

namespace limelight::bench {
namespace {

// Milliseconds per call after 50 untimed calls, until `repetitions` calls or
// the time budget (but at least 100 calls).
template <class F>
std::vector<double> time_calls(F&& call, const Options& o) {
  for (int i = 0; i < 50; ++i) call();
  std::vector<double> ms;
  const auto begin = Clock::now();
  for (int i = 0; i < o.repetitions; ++i) {
    const auto t0 = Clock::now();
    call();
    const auto t1 = Clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    if (i >= 99 && std::chrono::duration<double>(t1 - begin).count() > o.latency_budget_s) break;
  }
  return ms;
}

// 199 steps of history: the first 199 items of the fullest training row (all
// real items on MovieLens; left padding included where no user has 200).
std::vector<std::int32_t> fullest_history(const SequenceInteractions& train) {
  std::int64_t best = 0, best_len = -1;
  for (std::int64_t i = 0; i < train.num_sequences; ++i) {
    const std::int32_t* r = train.row(i);
    std::int64_t len = 0;
    for (int t = 0; t < kMaxLength; ++t) len += r[t] != 0;
    if (len > best_len) best = i, best_len = len;
  }
  const std::int32_t* row = train.row(best);
  return std::vector<std::int32_t>(row, row + kMaxLength - 1);
}

}  // namespace

std::string run_configuration(const Options& o, const std::string& dataset_name, const std::string& representation,
                              const std::string& loss) {
  const auto load_start = Clock::now();
  Dataset data = load_dataset(dataset_name, o);
  const double load_s = std::chrono::duration<double>(Clock::now() - load_start).count();

  ImplicitSequenceModel model(model_config(o, representation, loss));

  std::vector<double> epoch_s;
  double last_loss = 0;
  FitCallbacks callbacks;
  callbacks.on_epoch = [&](const EpochReport& r) {
    epoch_s.push_back(r.seconds);
    last_loss = r.loss;
  };
  model.fit(data.train, callbacks);
  const std::vector<double> timed(epoch_s.begin() + 1, epoch_s.end());  // the first epoch is the warm-up
  const double median_epoch_s = percentile(timed, 0.5);
  const double seq_per_s = static_cast<double>(data.train.num_sequences) / median_epoch_s;

  const auto eval_start = Clock::now();
  const RankingMetrics metrics = evaluate_sequences(model, data.test, 10);
  const double eval_s = std::chrono::duration<double>(Clock::now() - eval_start).count();

  const std::vector<std::int32_t> history = fullest_history(data.train);
  const std::int64_t history_items = std::count_if(history.begin(), history.end(), [](std::int32_t x) { return x; });

  volatile float sink = 0;
  const std::vector<double> predict_ms = time_calls([&] { sink = sink + model.predict(history)[1]; }, o);
  const std::vector<double> recommend_ms = time_calls([&] { sink = sink + model.recommend(history, 10)[0].score; }, o);
  // The events that follow come from the test users' windows.
  std::vector<std::int32_t> next;
  for (std::int32_t v : data.test.sequences)
    if (v != 0) next.push_back(v);
  const StreamTimes stream = time_stream(model, history, next, o);

  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double peak_mib = static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux

  auto count = [](const std::vector<double>& v) { return static_cast<std::int64_t>(v.size()); };
  JsonLine line;
  line.text("tool", "limelight")
      .text("dataset", dataset_name)
      .text("representation", representation)
      .text("loss", loss)
      .integer("threads", o.model.threads)
      .integer("embedding_dim", o.model.embedding_dim)
      .integer("batch_size", o.model.batch_size)
      .number("learning_rate", o.model.learning_rate)
      .integer("epochs", o.model.n_iter)
      .integer("num_items", data.train.num_items)
      .integer("interactions", data.interactions)
      .integer("train_sequences", data.train.num_sequences)
      .integer("validation_sequences", data.validation_sequences)
      .integer("test_sequences", data.test.num_sequences)
      .number("load_s", load_s)
      .numbers("epoch_s", epoch_s)
      .number("median_epoch_s", median_epoch_s)
      .number("seq_per_s", seq_per_s)
      .number("final_loss", last_loss)
      .number("mrr", metrics.mrr)
      .number("hit_rate_at_10", metrics.hit_rate_at_k)
      .number("eval_s", eval_s)
      .integer("history_steps", static_cast<std::int64_t>(history.size()))
      .integer("history_items", history_items)
      .integer("predict_calls", count(predict_ms))
      .number("predict_ms_median", percentile(predict_ms, 0.5))
      .number("predict_ms_p99", percentile(predict_ms, 0.99))
      .integer("recommend_calls", count(recommend_ms))
      .number("recommend_ms_median", percentile(recommend_ms, 0.5))
      .number("recommend_ms_p99", percentile(recommend_ms, 0.99));
  add_stream_fields(line, stream);
  line.number("peak_rss_mib", peak_mib);
  return line.str();
}

}  // namespace limelight::bench
