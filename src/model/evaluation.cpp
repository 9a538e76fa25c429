// Sequence evaluation metrics: Spotlight's sequence MRR and precision/recall
// at k, and next-item NDCG@k and hit rate@k. Rows are scored in batches
// through SequenceScorer, in test order; each metric then works on one row of
// float32 scores exactly as the reference does on its negated numpy array.
#include "limelight/evaluation.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numeric>

#include "limelight/distributed.hpp"
#include "limelight/error.hpp"

namespace limelight {
namespace {

// The reference writes np.finfo(np.float32).max into excluded slots.
constexpr float kFloatMax = std::numeric_limits<float>::max();
constexpr std::int64_t kMaxBatchRows = 256;
// Caps the score buffer (rows x num_items floats) at 64 MiB for big catalogues.
constexpr std::int64_t kMaxBatchScores = std::int64_t{1} << 24;

void check_test_set(const SequenceScorer& scorer, const SequenceInteractions& test, const char* op) {
  LL_CHECK(test.num_sequences > 0, op, ": the test set is empty (0 sequences)");
  LL_CHECK(test.max_sequence_length > 0, op, ": max_sequence_length is ", test.max_sequence_length,
           ", must be positive");
  const auto expected = static_cast<std::size_t>(test.num_sequences) *
                        static_cast<std::size_t>(test.max_sequence_length);
  LL_CHECK(test.sequences.size() == expected, op, ": sequences holds ", test.sequences.size(),
           " ids, expected num_sequences x max_sequence_length = ", test.num_sequences, " x ",
           test.max_sequence_length, " = ", expected);
  LL_CHECK(test.num_items > 0, op, ": test.num_items is ", test.num_items, ", must be positive");
  LL_CHECK(scorer.num_items() == test.num_items, op, ": the scorer scores ", scorer.num_items(),
           " items but the test set has num_items = ", test.num_items);
  for (std::size_t i = 0; i < test.sequences.size(); ++i) {
    const std::int32_t id = test.sequences[i];
    LL_CHECK(id >= 0 && id < test.num_items, op, ": sequence ",
             static_cast<std::int64_t>(i) / test.max_sequence_length, ", position ",
             static_cast<std::int64_t>(i) % test.max_sequence_length, " holds item id ", id,
             ", outside [0, ", test.num_items, ")");
  }
}

void check_k(const SequenceInteractions& test, int k, const char* op) {
  LL_CHECK(k >= 1, op, ": k is ", k, ", must be at least 1");
  LL_CHECK(k < test.max_sequence_length, op, ": k is ", k, " but must be below max_sequence_length (",
           test.max_sequence_length, ") so that at least one item is left as input");
}

// Scores row[:input_length] of every test sequence, in order, and calls
// visit(row index, input ids, scores of that row).
template <class Visit>
void for_each_scored_row(const SequenceScorer& scorer, const SequenceInteractions& test,
                         std::int64_t input_length, const char* op, Visit&& visit) {
  const std::int64_t n = test.num_items;
  const std::int64_t L = test.max_sequence_length;
  const std::int64_t batch_rows =
      std::clamp<std::int64_t>(kMaxBatchScores / n, 1, std::min(kMaxBatchRows, test.num_sequences));
  std::vector<std::int32_t> inputs(static_cast<std::size_t>(batch_rows * input_length));
  std::vector<float> scores(static_cast<std::size_t>(batch_rows * n));
  for (std::int64_t first = 0; first < test.num_sequences; first += batch_rows) {
    const std::int64_t rows = std::min(batch_rows, test.num_sequences - first);
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::int32_t* row = test.sequences.data() + (first + r) * L;
      std::copy(row, row + input_length, inputs.data() + r * input_length);
    }
    scorer.score_batch(inputs.data(), rows, input_length, scores.data());
    for (std::int64_t r = 0; r < rows; ++r) {
      const float* s = scores.data() + r * n;
      for (std::int64_t j = 0; j < n; ++j) {
        LL_CHECK(!std::isnan(s[j]), op, ": the scorer returned NaN for sequence ", first + r,
                 ", item ", j);
      }
      visit(first + r, inputs.data() + r * input_length, s);
    }
  }
}

// Marks the ids of one input (0 included) so they rank last; unmark() undoes
// only what mark() set, so a row costs O(input length), not O(num_items).
class Exclusion {
 public:
  Exclusion(std::int32_t num_items, bool enabled)
      : flags_(enabled ? static_cast<std::size_t>(num_items) : 0, 0), enabled_(enabled) {}
  void mark(const std::int32_t* ids, std::int64_t count) {
    if (!enabled_) return;
    ids_ = ids;
    count_ = count;
    for (std::int64_t t = 0; t < count; ++t) flags_[ids[t]] = 1;
  }
  void unmark() {
    if (!enabled_) return;
    for (std::int64_t t = 0; t < count_; ++t) flags_[ids_[t]] = 0;
  }
  // The reference's value for item j: the negated score, or float max if excluded.
  float value(const float* scores, std::int64_t j) const {
    return enabled_ && flags_[j] ? kFloatMax : -scores[j];
  }

 private:
  std::vector<unsigned char> flags_;
  bool enabled_;
  const std::int32_t* ids_ = nullptr;
  std::int64_t count_ = 0;
};

struct NextItemRank {
  std::int64_t smaller = 0;  // items ranked strictly before the target
  std::int64_t equal = 0;    // items tied with the target, the target included
};

NextItemRank next_item_rank(const float* scores, std::int32_t target, std::int64_t num_items,
                            const Exclusion& exclusion) {
  const float v_target = exclusion.value(scores, target);
  NextItemRank rank;
  for (std::int64_t j = 0; j < num_items; ++j) {
    const float v = exclusion.value(scores, j);
    rank.smaller += v < v_target;
    rank.equal += v == v_target;
  }
  return rank;
}

double reciprocal_rank(const NextItemRank& rank) {
  // scipy.stats.rankdata(method="average"): the mean of the tied positions.
  return 1.0 / (static_cast<double>(rank.smaller) + (static_cast<double>(rank.equal) + 1.0) / 2.0);
}

// Runs the row[:-1] pass behind MRR, NDCG and hit rate.
template <class Visit>
void next_item_pass(const SequenceScorer& scorer, const SequenceInteractions& test,
                    bool exclude_preceding, const char* op, Visit&& visit) {
  const std::int64_t L = test.max_sequence_length;
  LL_CHECK(L >= 2, op, ": max_sequence_length is ", L,
           ", must be at least 2 (the last item is predicted from the rest)");
  Exclusion exclusion(test.num_items, exclude_preceding);
  for_each_scored_row(scorer, test, L - 1, op,
                      [&](std::int64_t i, const std::int32_t* input, const float* scores) {
                        const std::int32_t target = test.sequences[i * L + L - 1];
                        exclusion.mark(input, L - 1);
                        visit(next_item_rank(scores, target, test.num_items, exclusion));
                        exclusion.unmark();
                      });
}

PrecisionRecall precision_recall_pass(const SequenceScorer& scorer, const SequenceInteractions& test,
                                      int k, bool exclude_preceding, const char* op) {
  const std::int64_t L = test.max_sequence_length;
  const std::int64_t n = test.num_items;
  const std::int64_t top = std::min<std::int64_t>(k, n);
  Exclusion exclusion(test.num_items, exclude_preceding);
  std::vector<std::int32_t> order(static_cast<std::size_t>(n));
  std::vector<float> values(static_cast<std::size_t>(n));
  std::vector<unsigned char> in_top(static_cast<std::size_t>(n), 0);
  std::vector<std::int32_t> targets(static_cast<std::size_t>(k));
  PrecisionRecall out;
  out.precision.reserve(static_cast<std::size_t>(test.num_sequences));
  out.recall.reserve(static_cast<std::size_t>(test.num_sequences));
  for_each_scored_row(
      scorer, test, L - k, op, [&](std::int64_t i, const std::int32_t* input, const float* scores) {
        exclusion.mark(input, L - k);
        for (std::int64_t j = 0; j < n; ++j) values[j] = exclusion.value(scores, j);
        exclusion.unmark();
        std::iota(order.begin(), order.end(), 0);
        // Ascending negated score, ties by lower id: a stable argsort's top k.
        std::partial_sort(order.begin(), order.begin() + top, order.end(),
                          [&](std::int32_t a, std::int32_t b) {
                            return values[a] < values[b] || (values[a] == values[b] && a < b);
                          });
        for (std::int64_t t = 0; t < top; ++t) in_top[order[t]] = 1;
        const std::int32_t* row = test.sequences.data() + i * L;
        std::copy(row + L - k, row + L, targets.begin());
        std::sort(targets.begin(), targets.end());
        const auto distinct_end = std::unique(targets.begin(), targets.end());
        std::int64_t hits = 0;
        for (auto it = targets.begin(); it != distinct_end; ++it) hits += in_top[*it];
        for (std::int64_t t = 0; t < top; ++t) in_top[order[t]] = 0;
        out.precision.push_back(static_cast<double>(hits) / static_cast<double>(top));
        out.recall.push_back(static_cast<double>(hits) / static_cast<double>(k));
      });
  return out;
}

}  // namespace

std::vector<double> sequence_mrr_score(const SequenceScorer& scorer, const SequenceInteractions& test,
                                       bool exclude_preceding) {
  const char* op = "sequence_mrr_score";
  check_test_set(scorer, test, op);
  std::vector<double> rr;
  rr.reserve(static_cast<std::size_t>(test.num_sequences));
  next_item_pass(scorer, test, exclude_preceding, op,
                 [&](const NextItemRank& rank) { rr.push_back(reciprocal_rank(rank)); });
  return rr;
}

PrecisionRecall sequence_precision_recall_score(const SequenceScorer& scorer,
                                                const SequenceInteractions& test, int k,
                                                bool exclude_preceding) {
  const char* op = "sequence_precision_recall_score";
  check_test_set(scorer, test, op);
  check_k(test, k, op);
  return precision_recall_pass(scorer, test, k, exclude_preceding, op);
}

namespace {

// The sums behind RankingMetrics over test's rows: reciprocal ranks, NDCG,
// hits, precisions and recalls, in that order.
std::array<double, 5> ranking_sums(const SequenceScorer& scorer, const SequenceInteractions& test, int k,
                                   bool exclude_preceding, const char* op) {
  std::array<double, 5> sums{};
  if (test.num_sequences == 0) return sums;
  next_item_pass(scorer, test, exclude_preceding, op, [&](const NextItemRank& rank) {
    sums[0] += reciprocal_rank(rank);
    const std::int64_t strict_rank = rank.smaller + 1;
    if (strict_rank <= k) {
      sums[1] += 1.0 / std::log2(1.0 + static_cast<double>(strict_rank));
      sums[2] += 1.0;
    }
  });
  const PrecisionRecall pr = precision_recall_pass(scorer, test, k, exclude_preceding, op);
  for (double v : pr.precision) sums[3] += v;
  for (double v : pr.recall) sums[4] += v;
  return sums;
}

RankingMetrics from_sums(const std::array<double, 5>& sums, std::int64_t num_sequences, int k) {
  RankingMetrics m;
  m.k = k;
  m.num_sequences = num_sequences;
  const auto count = static_cast<double>(num_sequences);
  m.mrr = sums[0] / count;
  m.ndcg_at_k = sums[1] / count;
  m.hit_rate_at_k = sums[2] / count;
  m.precision_at_k = sums[3] / count;
  m.recall_at_k = sums[4] / count;
  return m;
}

}  // namespace

RankingMetrics evaluate_sequences(const SequenceScorer& scorer, const SequenceInteractions& test, int k,
                                  bool exclude_preceding) {
  const char* op = "evaluate_sequences";
  check_test_set(scorer, test, op);
  check_k(test, k, op);
  return from_sums(ranking_sums(scorer, test, k, exclude_preceding, op), test.num_sequences, k);
}

RankingMetrics evaluate_sequences(const SequenceScorer& scorer, const SequenceInteractions& test, int k,
                                  bool exclude_preceding, distributed::Communicator& comm) {
  const char* op = "evaluate_sequences";
  check_test_set(scorer, test, op);
  check_k(test, k, op);
  if (comm.size() == 1) return evaluate_sequences(scorer, test, k, exclude_preceding);
  // This rank's rows, a contiguous share; the sums then added in rank order.
  const std::int64_t n = test.num_sequences, L = test.max_sequence_length;
  const std::int64_t begin = n * comm.rank() / comm.size(), end = n * (comm.rank() + 1) / comm.size();
  SequenceInteractions mine;
  mine.max_sequence_length = test.max_sequence_length;
  mine.num_items = test.num_items;
  mine.num_sequences = end - begin;
  mine.sequences.assign(test.sequences.begin() + begin * L, test.sequences.begin() + end * L);
  if (!test.user_ids.empty()) mine.user_ids.assign(test.user_ids.begin() + begin, test.user_ids.begin() + end);
  std::array<double, 5> sums = ranking_sums(scorer, mine, k, exclude_preceding, op);
  comm.all_reduce_sum(sums.data(), static_cast<std::int64_t>(sums.size()));
  return from_sums(sums, n, k);
}


namespace {

// A candidate of a rank's top k: the reference's value (the negated score,
// or float max when excluded) and the item; the smaller value first, the
// lower id on ties, as the one-process partial sort orders them.
struct Candidate {
  float value;
  std::int32_t item;
  bool operator<(const Candidate& o) const { return value < o.value || (value == o.value && item < o.item); }
};

}  // namespace

RankingMetrics evaluate_sequences(const BlockScorer& scorer, const SequenceInteractions& test, int k,
                                  bool exclude_preceding, distributed::Communicator& comm) {
  const char* op = "evaluate_sequences";
  LL_CHECK(test.num_sequences > 0, op, ": the test set is empty (0 sequences)");
  LL_CHECK(scorer.num_items() == test.num_items, op, ": the scorer scores ", scorer.num_items(),
           " items but the test set has num_items = ", test.num_items);
  check_k(test, k, op);
  const std::int64_t L = test.max_sequence_length, V = test.num_items, N = comm.size();
  for (std::int32_t id : test.sequences)
    LL_CHECK(id >= 0 && id < V, op, ": item id ", id, " outside [0, ", V, ")");
  const auto [begin, end] = scorer.block();
  const std::int64_t nb = end - begin;
  // The same batches on every rank: sized by the largest block.
  const std::int64_t widest = (V + N - 1) / N + 1;
  const std::int64_t batch_rows =
      std::clamp<std::int64_t>(kMaxBatchScores / widest, 1, std::min(kMaxBatchRows, test.num_sequences));
  std::vector<unsigned char> excluded(exclude_preceding ? static_cast<std::size_t>(V) : 0, 0);
  auto value = [&](const float* scores, std::int64_t j) {  // j global, in this block
    return exclude_preceding && excluded[j] ? kFloatMax : -scores[j - begin];
  };
  std::vector<std::int32_t> inputs(static_cast<std::size_t>(batch_rows * L));
  std::vector<float> scores(static_cast<std::size_t>(batch_rows * std::max<std::int64_t>(nb, 1)));
  auto score = [&](std::int64_t first, std::int64_t rows, std::int64_t length) {
    for (std::int64_t r = 0; r < rows; ++r)
      std::copy_n(test.sequences.data() + (first + r) * L, length, inputs.data() + r * length);
    scorer.score_block(inputs.data(), rows, length, scores.data());
    for (std::int64_t i = 0; i < rows * nb; ++i)
      LL_CHECK(!std::isnan(scores[i]), op, ": the scorer returned NaN for sequence ", first + i / nb, ", item ",
               begin + i % nb);
  };
  auto mark = [&](const std::int32_t* ids, std::int64_t count, unsigned char flag) {
    if (exclude_preceding)
      for (std::int64_t t = 0; t < count; ++t) excluded[ids[t]] = flag;
  };
  std::array<double, 5> sums{};
  // MRR, NDCG, hit rate: row[:-1] against its last item.
  for (std::int64_t first = 0; first < test.num_sequences; first += batch_rows) {
    const std::int64_t rows = std::min(batch_rows, test.num_sequences - first);
    score(first, rows, L - 1);
    // The target's value, from its owner (the others add zeros).
    std::vector<float> target(static_cast<std::size_t>(rows), 0.0f);
    std::vector<std::int64_t> counts(static_cast<std::size_t>(2 * rows), 0);
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::int32_t t = test.sequences[(first + r) * L + L - 1];
      mark(inputs.data() + r * (L - 1), L - 1, 1);
      if (t >= begin && t < end) target[r] = value(scores.data() + r * nb, t);
      mark(inputs.data() + r * (L - 1), L - 1, 0);
    }
    comm.all_reduce_sum(target.data(), rows);
    for (std::int64_t r = 0; r < rows; ++r) {
      mark(inputs.data() + r * (L - 1), L - 1, 1);
      const float* s = scores.data() + r * nb;
      for (std::int64_t j = begin; j < end; ++j) {
        const float v = value(s, j);
        counts[2 * r] += v < target[r];
        counts[2 * r + 1] += v == target[r];
      }
      mark(inputs.data() + r * (L - 1), L - 1, 0);
    }
    comm.all_reduce_sum(counts.data(), 2 * rows);
    for (std::int64_t r = 0; r < rows; ++r) {
      const NextItemRank rank{counts[2 * r], counts[2 * r + 1]};
      sums[0] += reciprocal_rank(rank);
      const std::int64_t strict_rank = rank.smaller + 1;
      if (strict_rank <= k) {
        sums[1] += 1.0 / std::log2(1.0 + static_cast<double>(strict_rank));
        sums[2] += 1.0;
      }
    }
  }
  // Precision and recall at k: each rank's top k of row[:L-k], merged.
  const std::int64_t top = std::min<std::int64_t>(k, V);
  std::vector<Candidate> local(static_cast<std::size_t>(batch_rows * k)), all;
  std::vector<std::int32_t> targets(static_cast<std::size_t>(k));
  for (std::int64_t first = 0; first < test.num_sequences; first += batch_rows) {
    const std::int64_t rows = std::min(batch_rows, test.num_sequences - first);
    score(first, rows, L - k);
    std::vector<Candidate> row_values(static_cast<std::size_t>(nb));
    for (std::int64_t r = 0; r < rows; ++r) {
      mark(inputs.data() + r * (L - k), L - k, 1);
      for (std::int64_t j = begin; j < end; ++j)
        row_values[j - begin] = {value(scores.data() + r * nb, j), static_cast<std::int32_t>(j)};
      mark(inputs.data() + r * (L - k), L - k, 0);
      const std::int64_t mine = std::min<std::int64_t>(k, nb);
      std::partial_sort(row_values.begin(), row_values.begin() + mine, row_values.end());
      for (std::int64_t t = 0; t < k; ++t)  // short blocks pad with candidates that never win
        local[r * k + t] = t < mine ? row_values[t] : Candidate{std::numeric_limits<float>::infinity(), -1};
    }
    // Every rank's candidates (value, item as two floats' worth of bytes).
    all.resize(static_cast<std::size_t>(N * rows * k));
    std::vector<std::int64_t> sizes(N, rows * k * static_cast<std::int64_t>(sizeof(Candidate))), offsets(N);
    for (int q = 0; q < N; ++q) offsets[q] = q * sizes[q];
    comm.all_gather_v(distributed::Element::u8, local.data(), sizes[0], all.data(), sizes.data(), offsets.data());
    std::vector<Candidate> merged(static_cast<std::size_t>(N * k));
    for (std::int64_t r = 0; r < rows; ++r) {
      for (int q = 0; q < N; ++q)
        std::copy_n(all.data() + (q * rows + r) * k, k, merged.data() + q * k);
      std::partial_sort(merged.begin(), merged.begin() + top, merged.end());
      const std::int32_t* row = test.sequences.data() + (first + r) * L;
      std::copy(row + L - k, row + L, targets.begin());
      std::sort(targets.begin(), targets.end());
      const auto distinct_end = std::unique(targets.begin(), targets.end());
      std::int64_t hits = 0;
      for (auto it = targets.begin(); it != distinct_end; ++it)
        for (std::int64_t t = 0; t < top; ++t) hits += merged[t].item == *it;
      sums[3] += static_cast<double>(hits) / static_cast<double>(top);
      sums[4] += static_cast<double>(hits) / static_cast<double>(k);
    }
  }
  return from_sums(sums, test.num_sequences, k);
}

}  // namespace limelight
