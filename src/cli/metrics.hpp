// Test metrics as the CLI reports them: evaluate_sequences (MRR, precision,
// recall, NDCG and hit rate at k), printed as text or added to a JSON object;
// and their cutoff, --k, which fit and evaluate take alike. k must be below
// the window length, so that every metric is defined.
#pragma once

#include <string>

#include "cli/args.hpp"
#include "io/json.hpp"
#include "limelight/evaluation.hpp"

namespace limelight::distributed {
class Communicator;
}

namespace limelight::cli {

struct Metrics {
  RankingMetrics ranking;
};

// --k, the cutoff of the ranking metrics.
Option metrics_k_option();
// --k, by default 5 or the window length minus one if smaller; when the run
// evaluates, Error unless it is below the window length `max_length`.
int metrics_cutoff(const Args& args, int max_length, bool evaluates);

// Error naming --k and --max-sequence-length when k >= the window length.
// Under mpirun every rank calls it and scores its share of the sequences.
Metrics evaluate_test_set(const SequenceScorer& scorer, const SequenceInteractions& test, int k,
                          bool exclude_preceding, distributed::Communicator& comm);

// Adds mrr, precision_at_k, recall_at_k, ndcg_at_k, hit_rate_at_k and k.
void add_metrics(json::Value& object, const Metrics& metrics);
// One metric a line, indented by two spaces.
std::string metrics_text(const Metrics& metrics);

}  // namespace limelight::cli
