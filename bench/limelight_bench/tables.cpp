// The tables limelight-bench prints without --json: one row from each child's
// JSON line.
#include <cmath>
#include <cstdio>
#include <string>

#include "io/json.hpp"
#include "limelight_bench/limelight_bench.hpp"

namespace limelight::bench {
namespace {

// A field of a child's line: a number (NaN where absent or null) or a string
// ("" where absent).
double number(const json::Value& row, std::string_view key) {
  const json::Value* v = row.find(key);
  return v == nullptr || v->is_null() ? NAN : v->as_double();
}

std::string text(const json::Value& row, std::string_view key) {
  const json::Value* v = row.find(key);
  return v != nullptr && v->is_string() ? v->as_string() : "";
}

}  // namespace

void print_training_header(const Options& o) {
  std::printf("limelight-bench: epochs %d (first untimed), embedding 32, batch 256, lr %g, threads %s, windows "
              "%d/%d/%d\n",
              o.model.n_iter, o.model.learning_rate,
              o.model.threads > 0 ? std::to_string(o.model.threads).c_str() : "default", kMaxLength, kMinLength,
              kStep);
  std::printf("%-9s %-8s %-14s %6s %9s %8s %7s %9s %9s %9s %9s %8s\n", "dataset", "model", "loss", "train",
              "seq/s", "epoch_s", "MRR", "pred_med", "pred_p99", "rec_med", "rec_p99", "peak_MiB");
  std::printf("%-9s %-8s %-14s %6s %9s %8s %7s %9s %9s %9s %9s %8s\n", "", "", "", "seqs", "(median)", "(median)",
              "(test)", "ms", "ms", "ms", "ms", "");
}

void print_training_row(const std::string& line) {
  const json::Value row = json::parse(line);
  std::printf("%-9s %-8s %-14s %6.0f %9.1f %8.3f %7.4f %9.3f %9.3f %9.3f %9.3f %8.1f\n", text(row, "dataset").c_str(),
              text(row, "representation").c_str(), text(row, "loss").c_str(), number(row, "train_sequences"),
              number(row, "seq_per_s"), number(row, "median_epoch_s"), number(row, "mrr"),
              number(row, "predict_ms_median"), number(row, "predict_ms_p99"), number(row, "recommend_ms_median"),
              number(row, "recommend_ms_p99"), number(row, "peak_rss_mib"));
}

void print_stream_header(const Options& o, const std::string& threads) {
  std::printf("limelight-bench --stream: embedding %d, threads %s, 200-event history, microseconds per event\n",
              o.model.embedding_dim, threads.c_str());
  std::printf("%-8s %8s %9s %9s %9s %9s %9s %9s %9s %7s\n", "model", "items", "event_med", "event_p99", "update",
              "top10", "full_med", "full_p99", "", "x");
  std::printf("%-8s %8s %9s %9s %9s %9s %9s %9s %9s %7s\n", "", "", "us", "us", "med us", "med us", "us", "us", "",
              "(med)");
}

void print_stream_row(const std::string& line, const std::string& representation, long items) {
  const json::Value row = json::parse(line);
  const double event = number(row, "stream_event_p50_us"), full = number(row, "full_recommend_p50_us");
  std::printf("%-8s %8ld %9.2f %9.2f %9.2f %9.2f %9.1f %9.1f %9s %7.1f\n", representation.c_str(), items, event,
              number(row, "stream_event_p99_us"), number(row, "stream_update_p50_us"),
              number(row, "stream_score_p50_us"), full, number(row, "full_recommend_p99_us"), "", full / event);
}

}  // namespace limelight::bench
