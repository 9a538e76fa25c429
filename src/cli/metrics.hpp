// Test metrics as the CLI reports them: evaluate_sequences when k is below the
// window length, otherwise MRR, NDCG@k and hit rate@k alone (precision and
// recall at k need k < max_sequence_length, and the default window 10 equals
// the default k 10), printed as text or added to a JSON object.
#pragma once

#include <string>

#include "io/json.hpp"
#include "limelight/evaluation.hpp"

namespace limelight::cli {

struct Metrics {
  RankingMetrics ranking;
  bool has_precision_recall = false;
};

Metrics evaluate_test_set(const SequenceScorer& scorer, const SequenceInteractions& test, int k,
                          bool exclude_preceding);

// Adds mrr, precision_at_k, recall_at_k (null when not computed), ndcg_at_k,
// hit_rate_at_k and k.
void add_metrics(json::Value& object, const Metrics& metrics);
// One metric a line, indented by two spaces.
std::string metrics_text(const Metrics& metrics);

}  // namespace limelight::cli
