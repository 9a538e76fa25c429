// Sequence evaluation metrics, numerically faithful to Spotlight's
// `sequence_mrr_score` and `sequence_precision_recall_score`, plus next-item
// NDCG@k and hit rate@k. Any model that can score the whole catalogue for a
// batch of sequences is evaluated through the SequenceScorer interface.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "limelight/data.hpp"

namespace limelight {

namespace distributed {
class Communicator;
}

// Anything that scores every item for a batch of sequences (the model implements it).
class SequenceScorer {
 public:
  virtual ~SequenceScorer() = default;
  virtual std::int32_t num_items() const = 0;
  // sequences: rows x length item ids (left-padded with 0), row-major;
  // scores: rows x num_items(), row-major. Higher scores rank first.
  virtual void score_batch(const std::int32_t* sequences, std::int64_t rows, std::int64_t length,
                           float* scores) const = 0;
};

// The metric functions below call score_batch with the test rows in order
// (0, 1, 2, ...), in batches of up to 256 rows (fewer for huge catalogues),
// once per row per metric pass. They throw Error when the test set is empty,
// a sequence holds an id outside [0, num_items), the scorer's num_items()
// differs from test.num_items, or the scorer returns NaN.

// Reciprocal rank of the last item of each sequence, scored from the items
// before it (row[:-1], padding included). Ties take their average rank
// (scipy's rankdata). With exclude_preceding, every id occurring in the input
// (0 too when padded, and the target itself if it occurs earlier) is ranked
// last. One value per sequence. Requires max_sequence_length >= 2.
std::vector<double> sequence_mrr_score(const SequenceScorer& scorer, const SequenceInteractions& test,
                                       bool exclude_preceding = false);

struct PrecisionRecall {
  std::vector<double> precision, recall;  // one value each per sequence
};

// Precision and recall at k, scoring from row[:-k] with targets row[-k:].
// hits = |set(top k) ∩ set(targets)|, precision = hits / min(k, num_items),
// recall = hits / k; padding zeros among the targets count, as in the
// reference. Ties are broken by lower item id; the reference uses numpy's
// unstable argsort, so the two can differ only when scores tie across the
// k-th place. Requires 1 <= k < max_sequence_length.
PrecisionRecall sequence_precision_recall_score(const SequenceScorer& scorer,
                                                const SequenceInteractions& test, int k = 10,
                                                bool exclude_preceding = false);

struct RankingMetrics {
  int k = 10;
  std::int64_t num_sequences = 0;
  double mrr = 0;             // mean of sequence_mrr_score
  double precision_at_k = 0;  // mean of sequence_precision_recall_score's precision
  double recall_at_k = 0;     // mean of sequence_precision_recall_score's recall
  // Next item (last item from the rest), rank = 1 + #items scored strictly
  // higher after exclusion: 1 / log2(1 + rank) if rank <= k, else 0.
  double ndcg_at_k = 0;
  double hit_rate_at_k = 0;  // next item: fraction of sequences with rank <= k
};

// All of the above in two scoring passes: first row[:-1] (MRR, NDCG, hit
// rate), then row[:-k] (precision, recall). Requires 1 <= k <
// max_sequence_length (Error otherwise), as precision and recall do: every
// metric it returns is defined.
RankingMetrics evaluate_sequences(const SequenceScorer& scorer, const SequenceInteractions& test,
                                  int k = 10, bool exclude_preceding = false);
// A scorer of one block of the catalogue, as each rank of a model whose item
// table is sharded across ranks is (ImplicitSequenceModel::score_own_items).
class BlockScorer {
 public:
  virtual ~BlockScorer() = default;
  virtual std::int32_t num_items() const = 0;  // the whole catalogue
  // The ids [first, second) that score_block scores.
  virtual std::pair<std::int64_t, std::int64_t> block() const = 0;
  // scores: rows x (block size). Every rank calls it in step.
  virtual void score_block(const std::int32_t* sequences, std::int64_t rows, std::int64_t length,
                           float* scores) const = 0;
};

// evaluate_sequences over a catalogue sharded across the ranks of `comm`:
// every rank scores every test row against its own block; for MRR, NDCG
// and the hit rate the counts of items ranked before and tied with the
// target are summed across ranks (the reference's average rank for ties),
// and precision and recall at k merge the ranks' own top k. The one-process
// metrics, on every rank.
RankingMetrics evaluate_sequences(const BlockScorer& scorer, const SequenceInteractions& test, int k,
                                  bool exclude_preceding, distributed::Communicator& comm);

// The same on every rank of `comm`, each scoring a contiguous share of the
// rows and the sums added across ranks: one process's metrics up to the
// order of the double sums. Every rank calls it with the same arguments.
RankingMetrics evaluate_sequences(const SequenceScorer& scorer, const SequenceInteractions& test, int k,
                                  bool exclude_preceding, distributed::Communicator& comm);

}  // namespace limelight
