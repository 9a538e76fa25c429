// Test metrics for `limelight fit` and `limelight evaluate` (see metrics.hpp).
#include "cli/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include "limelight/error.hpp"

namespace limelight::cli {

Metrics evaluate_test_set(const SequenceScorer& scorer, const SequenceInteractions& test, int k,
                          bool exclude_preceding) {
  LL_CHECK(test.num_sequences > 0, "the test set has no sequences (too few test users; raise --test-fraction ",
           "or lower --min-sequence-length)");
  LL_CHECK(test.max_sequence_length >= 2, "evaluation needs --max-sequence-length of at least 2, got ",
           test.max_sequence_length);
  Metrics out;
  out.has_precision_recall = k < test.max_sequence_length;
  out.ranking = evaluate_sequences(scorer, test, k, exclude_preceding);
  return out;
}

void add_metrics(json::Value& object, const Metrics& metrics) {
  const RankingMetrics& m = metrics.ranking;
  object.set("mrr", json::Value(m.mrr));
  object.set("precision_at_k", metrics.has_precision_recall ? json::Value(m.precision_at_k) : json::Value());
  object.set("recall_at_k", metrics.has_precision_recall ? json::Value(m.recall_at_k) : json::Value());
  object.set("ndcg_at_k", json::Value(m.ndcg_at_k));
  object.set("hit_rate_at_k", json::Value(m.hit_rate_at_k));
  object.set("k", json::Value(m.k));
}

std::string metrics_text(const Metrics& metrics) {
  const RankingMetrics& m = metrics.ranking;
  char buf[512];
  std::string out;
  auto line = [&](const char* name, double v) {
    std::snprintf(buf, sizeof buf, "  %-15s %.4f\n", name, v);
    out += buf;
  };
  const std::string k = std::to_string(m.k);
  line("mrr", m.mrr);
  if (metrics.has_precision_recall) {
    line(("precision@" + k).c_str(), m.precision_at_k);
    line(("recall@" + k).c_str(), m.recall_at_k);
  } else {
    for (const char* name : {"precision@", "recall@"}) {
      std::snprintf(buf, sizeof buf, "  %-15s n/a (needs k < max sequence length)\n", (name + k).c_str());
      out += buf;
    }
  }
  line(("ndcg@" + k).c_str(), m.ndcg_at_k);
  line(("hit_rate@" + k).c_str(), m.hit_rate_at_k);
  return out;
}

}  // namespace limelight::cli
