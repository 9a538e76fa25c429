// Test metrics for `limelight fit` and `limelight evaluate` (see metrics.hpp).
#include "cli/metrics.hpp"

#include <algorithm>
#include <cstdio>

#include "limelight/distributed.hpp"
#include "limelight/error.hpp"
#include "limelight/model.hpp"

namespace limelight::cli {

Option metrics_k_option() {
  return {"k", "N", opt::integer(1, 1 << 20), "cutoff of the ranking metrics (default 5, below the window length)"};
}

int metrics_cutoff(const Args& args, int max_length, bool evaluates) {
  // Precision and recall at k score row[:-k]: k must leave an input.
  const int k = static_cast<int>(args.integer("k", std::min(5, std::max(1, max_length - 1))));
  LL_CHECK(!evaluates || k < max_length, "--k ", k, " must be below --max-sequence-length ", max_length,
           " (precision and recall at k score all but the last k items of each window)");
  return k;
}

Metrics evaluate_test_set(const SequenceScorer& scorer, const SequenceInteractions& test, int k,
                          bool exclude_preceding, distributed::Communicator& comm) {
  LL_CHECK(test.num_sequences > 0, "the test set has no sequences (too few test users; raise --test-fraction ",
           "or lower --min-sequence-length)");
  LL_CHECK(test.max_sequence_length >= 2, "evaluation needs --max-sequence-length of at least 2, got ",
           test.max_sequence_length);
  LL_CHECK(k < test.max_sequence_length, "--k ", k, " must be below --max-sequence-length ",
           test.max_sequence_length, " (precision and recall at k score all but the last k items of each window)");
  Metrics out;
  const auto* model = dynamic_cast<const ImplicitSequenceModel*>(&scorer);
  if (model != nullptr && model->items_sharded()) {
    // Each rank scores its own block of the catalogue.
    out.ranking = evaluate_sequences(OwnItemsScorer(*model), test, k, exclude_preceding, comm);
  } else {
    out.ranking = evaluate_sequences(scorer, test, k, exclude_preceding, comm);
  }
  return out;
}

void add_metrics(json::Value& object, const Metrics& metrics) {
  const RankingMetrics& m = metrics.ranking;
  object.set("mrr", json::Value(m.mrr));
  object.set("precision_at_k", json::Value(m.precision_at_k));
  object.set("recall_at_k", json::Value(m.recall_at_k));
  object.set("ndcg_at_k", json::Value(m.ndcg_at_k));
  object.set("hit_rate_at_k", json::Value(m.hit_rate_at_k));
  object.set("k", json::Value(m.k));
}

std::string metrics_text(const Metrics& metrics) {
  const RankingMetrics& m = metrics.ranking;
  char buf[512];
  std::string out;
  auto line = [&](const std::string& name, double v) {
    std::snprintf(buf, sizeof buf, "  %-15s %.4f\n", name.c_str(), v);
    out += buf;
  };
  const std::string k = std::to_string(m.k);
  line("mrr", m.mrr);
  line("precision@" + k, m.precision_at_k);
  line("recall@" + k, m.recall_at_k);
  line("ndcg@" + k, m.ndcg_at_k);
  line("hit_rate@" + k, m.hit_rate_at_k);
  return out;
}

}  // namespace limelight::cli
