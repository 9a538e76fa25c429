// Test metrics for `limelight fit` and `limelight evaluate` (see metrics.hpp).
#include "cli/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include "limelight/error.hpp"

namespace limelight::cli {

namespace {

// The next-item pass of evaluate_sequences (row[:-1] scored, row[-1] the
// target), for k >= max_sequence_length where evaluate_sequences refuses.
RankingMetrics next_item_metrics(const SequenceScorer& scorer, const SequenceInteractions& test, int k,
                                 bool exclude_preceding) {
  RankingMetrics m;
  m.k = k;
  m.num_sequences = test.num_sequences;
  const std::vector<double> rr = sequence_mrr_score(scorer, test, exclude_preceding);
  for (double v : rr) m.mrr += v;
  m.mrr /= static_cast<double>(rr.size());
  const std::int64_t n = test.num_items, L = test.max_sequence_length;
  const std::int64_t batch = std::clamp<std::int64_t>((std::int64_t{1} << 24) / n, 1, 256);
  std::vector<float> scores(static_cast<std::size_t>(batch * n));
  std::vector<std::int32_t> inputs(static_cast<std::size_t>(batch * (L - 1)));
  std::vector<unsigned char> excluded(static_cast<std::size_t>(n), 0);
  double ndcg = 0, hits = 0;
  for (std::int64_t first = 0; first < test.num_sequences; first += batch) {
    const std::int64_t rows = std::min(batch, test.num_sequences - first);
    for (std::int64_t r = 0; r < rows; ++r)
      std::copy_n(test.row(first + r), L - 1, inputs.data() + r * (L - 1));
    scorer.score_batch(inputs.data(), rows, L - 1, scores.data());
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::int32_t* input = inputs.data() + r * (L - 1);
      const float* s = scores.data() + r * n;
      if (exclude_preceding)
        for (std::int64_t t = 0; t < L - 1; ++t) excluded[static_cast<std::size_t>(input[t])] = 1;
      // Excluded items rank last, as float max does in the reference's negated scores.
      auto value = [&](std::int64_t j) {
        return excluded[static_cast<std::size_t>(j)] ? std::numeric_limits<float>::max() : -s[j];
      };
      const float target = value(test.row(first + r)[L - 1]);
      std::int64_t rank = 1;
      for (std::int64_t j = 0; j < n; ++j) rank += value(j) < target;
      if (rank <= k) {
        ndcg += 1.0 / std::log2(1.0 + static_cast<double>(rank));
        hits += 1.0;
      }
      if (exclude_preceding)
        for (std::int64_t t = 0; t < L - 1; ++t) excluded[static_cast<std::size_t>(input[t])] = 0;
    }
  }
  m.ndcg_at_k = ndcg / static_cast<double>(test.num_sequences);
  m.hit_rate_at_k = hits / static_cast<double>(test.num_sequences);
  return m;
}

}  // namespace

Metrics evaluate_test_set(const SequenceScorer& scorer, const SequenceInteractions& test, int k,
                          bool exclude_preceding) {
  LL_CHECK(test.num_sequences > 0, "the test set has no sequences (too few test users; raise --test-fraction ",
           "or lower --min-sequence-length)");
  LL_CHECK(test.max_sequence_length >= 2, "evaluation needs --max-sequence-length of at least 2, got ",
           test.max_sequence_length);
  Metrics out;
  out.has_precision_recall = k < test.max_sequence_length;
  out.ranking = out.has_precision_recall ? evaluate_sequences(scorer, test, k, exclude_preceding)
                                         : next_item_metrics(scorer, test, k, exclude_preceding);
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
