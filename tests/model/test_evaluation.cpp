// Tests of the sequence evaluation metrics: parity with Spotlight's
// sequence_mrr_score and sequence_precision_recall_score on the reference
// fixture, NDCG@k and hit rate@k on hand-made scores with known ranks, a
// multi-batch run against a naive re-implementation, and the error cases.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "limelight/error.hpp"
#include "limelight/evaluation.hpp"
#include "limelight/safetensors.hpp"
#include "tests/support/shared_dir.hpp"

using namespace limelight;

namespace {

// The reference's stand-in model: the i-th sequence it is asked about gets row
// i of a fixed score matrix (modulo its rows, so every metric pass restarts).
// It also records what it was asked, to check the inputs the metrics build.
class MatrixScorer : public SequenceScorer {
 public:
  MatrixScorer(std::vector<float> scores, std::int64_t rows, std::int32_t items)
      : scores_(std::move(scores)), rows_(rows), items_(items) {}
  std::int32_t num_items() const override { return items_; }
  void score_batch(const std::int32_t* sequences, std::int64_t rows, std::int64_t length,
                   float* scores) const override {
    batch_sizes.push_back(rows);
    lengths.push_back(length);
    inputs.insert(inputs.end(), sequences, sequences + rows * length);
    for (std::int64_t r = 0; r < rows; ++r, ++calls) {
      const float* src = scores_.data() + (calls % rows_) * items_;
      std::copy(src, src + items_, scores + r * items_);
    }
  }
  mutable std::int64_t calls = 0;
  mutable std::vector<std::int64_t> batch_sizes, lengths;
  mutable std::vector<std::int32_t> inputs;

 private:
  std::vector<float> scores_;
  std::int64_t rows_;
  std::int32_t items_;
};

SequenceInteractions make_test(std::vector<std::int32_t> sequences, std::int64_t rows, int length,
                               std::int32_t items) {
  SequenceInteractions t;
  t.sequences = std::move(sequences);
  t.user_ids.assign(static_cast<std::size_t>(rows), 0);
  t.num_sequences = rows;
  t.max_sequence_length = length;
  t.num_items = items;
  return t;
}

// Equality up to float32 rounding of the stored reference value.
void check_close(const std::vector<double>& got, const std::vector<float>& want, const std::string& name) {
  REQUIRE_MESSAGE(got.size() == want.size(), name);
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO(name, " row ", i, ": got ", got[i], ", reference ", want[i]);
    CHECK(std::abs(got[i] - static_cast<double>(want[i])) <= 1e-6 * std::max(1.0, std::abs(got[i])));
  }
}

std::string fixture_path() {
  return test_support::shared_dir() + "/fixtures/spotlight/metrics.safetensors";
}

}  // namespace

TEST_CASE("metrics match Spotlight on the reference fixture") {
  const auto file = io::SafetensorsFile::open(fixture_path());
  const std::int32_t items = std::stoi(std::string(file.metadata().at("num_items")));
  REQUIRE(items == 12);
  const auto seq_shape = file.info("sequences").shape;
  REQUIRE(seq_shape.size() == 2);
  const std::int64_t rows = seq_shape[0];
  const int length = static_cast<int>(seq_shape[1]);
  const std::vector<std::int64_t> seq64 = file.i64("sequences");
  const SequenceInteractions test =
      make_test(std::vector<std::int32_t>(seq64.begin(), seq64.end()), rows, length, items);

  for (const std::string kind : {"tied", "distinct"}) {
    for (const bool exclude : {false, true}) {
      const std::string prefix = "mrr." + kind + (exclude ? ".exclude" : ".plain");
      MatrixScorer scorer(file.f32("scores_" + kind), rows, items);
      const std::vector<double> rr = sequence_mrr_score(scorer, test, exclude);
      check_close(rr, file.f32(prefix + ".rr"), prefix + ".rr");
      std::vector<double> rank(rr.size());
      std::transform(rr.begin(), rr.end(), rank.begin(), [](double v) { return 1.0 / v; });
      check_close(rank, file.f32(prefix + ".rank"), prefix + ".rank");
      // The model saw row[:-1] of each sequence, in order.
      REQUIRE(scorer.calls == rows);
      CHECK(scorer.lengths == std::vector<std::int64_t>{length - 1});
      for (std::int64_t i = 0; i < rows; ++i) {
        for (int t = 0; t < length - 1; ++t) {
          CHECK(scorer.inputs[i * (length - 1) + t] == test.sequences[i * length + t]);
        }
      }
    }
  }

  for (const int k : {2, 3}) {
    for (const bool exclude : {false, true}) {
      const std::string prefix = "pr.k" + std::to_string(k) + (exclude ? ".exclude" : ".plain");
      MatrixScorer scorer(file.f32("scores_distinct"), rows, items);
      const PrecisionRecall pr = sequence_precision_recall_score(scorer, test, k, exclude);
      check_close(pr.precision, file.f32(prefix + ".precision"), prefix + ".precision");
      check_close(pr.recall, file.f32(prefix + ".recall"), prefix + ".recall");
      CHECK(scorer.lengths == std::vector<std::int64_t>{length - k});
    }
  }

  // evaluate_sequences averages the same per-sequence values.
  for (const bool exclude : {false, true}) {
    const std::string mode = exclude ? ".exclude" : ".plain";
    MatrixScorer scorer(file.f32("scores_distinct"), rows, items);
    const RankingMetrics m = evaluate_sequences(scorer, test, 3, exclude);
    const auto mean = [](const std::vector<float>& v) {
      return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
    };
    CHECK(m.k == 3);
    CHECK(m.num_sequences == rows);
    CHECK(m.mrr == doctest::Approx(mean(file.f32("mrr.distinct" + mode + ".rr"))).epsilon(1e-6));
    CHECK(m.precision_at_k == doctest::Approx(mean(file.f32("pr.k3" + mode + ".precision"))).epsilon(1e-6));
    CHECK(m.recall_at_k == doctest::Approx(mean(file.f32("pr.k3" + mode + ".recall"))).epsilon(1e-6));
    CHECK(scorer.calls == 2 * rows);
  }
}

namespace {

// Four sequences over six items whose next-item ranks are worked out by hand
// in the test below (L=4; each row's scores are the row's stand-in output).
SequenceInteractions hand_test() {
  return make_test({0, 1, 2, 3,  //
                    1, 2, 4, 5,  //
                    0, 0, 2, 4,  //
                    3, 5, 1, 5},
                   4, 4, 6);
}

MatrixScorer hand_scorer() {
  return MatrixScorer({0.0f, 0.1f, 0.2f, 0.9f, 0.3f, 0.4f,  //
                       0.9f, 0.8f, 0.1f, 0.7f, 0.2f, 0.5f,  //
                       0.6f, 0.1f, 0.6f, 0.6f, 0.6f, 0.6f,  //
                       0.0f, 0.5f, 0.4f, 0.3f, 0.2f, 0.9f},
                      4, 6);
}

}  // namespace

TEST_CASE("ndcg and hit rate on hand-made scores with known ranks") {
  const SequenceInteractions test = hand_test();
  // Next-item ranks, 1 + #strictly higher:
  //   plain:   [1, 4, 1, 1]  (row 2: all ties with the target count as not higher)
  //   exclude: [1, 3, 1, 4]  (row 1: excluded item 1 was above; row 3: target 5 occurs earlier)
  // Average-tie ranks for MRR: plain [1, 4, 3, 1], exclude [1, 3, 2, 5].
  SUBCASE("plain, k = 3") {
    MatrixScorer scorer = hand_scorer();
    const RankingMetrics m = evaluate_sequences(scorer, test, 3, false);
    CHECK(m.ndcg_at_k == doctest::Approx((1.0 + 0.0 + 1.0 + 1.0) / 4));
    CHECK(m.hit_rate_at_k == doctest::Approx(0.75));
    CHECK(m.mrr == doctest::Approx((1.0 + 1.0 / 4 + 1.0 / 3 + 1.0) / 4));
    // Top 3 from row[:1]: hits 1, 0, 2 (ties broken by lower id), 2 of 3 targets.
    CHECK(m.precision_at_k == doctest::Approx(5.0 / 12));
    CHECK(m.recall_at_k == doctest::Approx(5.0 / 12));
  }
  SUBCASE("exclude, k = 3") {
    MatrixScorer scorer = hand_scorer();
    const RankingMetrics m = evaluate_sequences(scorer, test, 3, true);
    CHECK(m.ndcg_at_k == doctest::Approx((1.0 + 1.0 / std::log2(4.0) + 1.0 + 0.0) / 4));
    CHECK(m.hit_rate_at_k == doctest::Approx(0.75));
    CHECK(m.mrr == doctest::Approx((1.0 + 1.0 / 3 + 1.0 / 2 + 1.0 / 5) / 4));
    CHECK(m.precision_at_k == doctest::Approx(0.5));
    CHECK(m.recall_at_k == doctest::Approx(0.5));
  }
  SUBCASE("exclude, k = 2") {
    MatrixScorer scorer = hand_scorer();
    const RankingMetrics m = evaluate_sequences(scorer, test, 2, true);
    CHECK(m.ndcg_at_k == doctest::Approx(0.5));
    CHECK(m.hit_rate_at_k == doctest::Approx(0.5));
  }
  SUBCASE("per-sequence MRR") {
    MatrixScorer scorer = hand_scorer();
    const std::vector<double> rr = sequence_mrr_score(scorer, test, true);
    REQUIRE(rr.size() == 4);
    CHECK(rr[0] == doctest::Approx(1.0));
    CHECK(rr[1] == doctest::Approx(1.0 / 3));
    CHECK(rr[2] == doctest::Approx(1.0 / 2));
    CHECK(rr[3] == doctest::Approx(1.0 / 5));
  }
  SUBCASE("ties at the k boundary go to the lower id") {
    MatrixScorer scorer = hand_scorer();
    const PrecisionRecall pr = sequence_precision_recall_score(scorer, test, 3, false);
    // Row 2: items 0, 2, 3, 4, 5 tie; the top 3 are 0, 2, 3, so targets 0 and 2 hit, 4 does not.
    CHECK(pr.precision[2] == doctest::Approx(2.0 / 3));
  }
}

namespace {

// Naive reference: literal numpy/scipy semantics over a full sort.
struct Naive {
  static std::vector<float> values(const float* s, int n, const std::int32_t* input, int len, bool ex) {
    std::vector<float> v(s, s + n);
    for (float& x : v) x = -x;
    if (ex) {
      for (int t = 0; t < len; ++t) v[input[t]] = std::numeric_limits<float>::max();
    }
    return v;
  }
  static double average_rank(const std::vector<float>& v, int target) {
    std::vector<float> sorted = v;
    std::sort(sorted.begin(), sorted.end());
    const auto lo = std::lower_bound(sorted.begin(), sorted.end(), v[target]) - sorted.begin();
    const auto hi = std::upper_bound(sorted.begin(), sorted.end(), v[target]) - sorted.begin();
    return (static_cast<double>(lo + 1) + static_cast<double>(hi)) / 2.0;
  }
  static double precision(const std::vector<float>& v, const std::int32_t* targets, int k) {
    std::vector<int> order(v.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return v[a] < v[b]; });
    std::vector<int> top(order.begin(), order.begin() + k), tg(targets, targets + k);
    std::sort(top.begin(), top.end());
    std::sort(tg.begin(), tg.end());
    tg.erase(std::unique(tg.begin(), tg.end()), tg.end());
    std::vector<int> both;
    std::set_intersection(top.begin(), top.end(), tg.begin(), tg.end(), std::back_inserter(both));
    return static_cast<double>(both.size()) / k;
  }
};

}  // namespace

TEST_CASE("many batches agree with a naive re-implementation") {
  // 600 rows span three score_batch calls; integer scores make many ties.
  const std::int64_t rows = 600;
  const int length = 7, items = 40, k = 4;
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> id(1, items - 1), pad(0, length - 2), score(0, 9);
  std::vector<std::int32_t> seq(rows * length, 0);
  for (std::int64_t i = 0; i < rows; ++i) {
    for (int t = pad(rng); t < length; ++t) seq[i * length + t] = id(rng);
  }
  std::vector<float> scores(rows * items);
  for (float& s : scores) s = static_cast<float>(score(rng));
  const SequenceInteractions test = make_test(seq, rows, length, items);

  for (const bool exclude : {false, true}) {
    MatrixScorer mrr_scorer(scores, rows, items);
    const std::vector<double> rr = sequence_mrr_score(mrr_scorer, test, exclude);
    CHECK(mrr_scorer.batch_sizes == std::vector<std::int64_t>{256, 256, 88});
    MatrixScorer pr_scorer(scores, rows, items);
    const PrecisionRecall pr = sequence_precision_recall_score(pr_scorer, test, k, exclude);
    REQUIRE(rr.size() == static_cast<std::size_t>(rows));
    REQUIRE(pr.precision.size() == static_cast<std::size_t>(rows));
    int mismatches = 0;
    for (std::int64_t i = 0; i < rows; ++i) {
      const std::int32_t* row = seq.data() + i * length;
      const float* s = scores.data() + i * items;
      const auto v1 = Naive::values(s, items, row, length - 1, exclude);
      const double want_rr = 1.0 / Naive::average_rank(v1, row[length - 1]);
      const auto vk = Naive::values(s, items, row, length - k, exclude);
      const double want_p = Naive::precision(vk, row + length - k, k);
      mismatches += rr[i] != want_rr;
      mismatches += pr.precision[i] != want_p || pr.recall[i] != want_p;
    }
    CHECK(mismatches == 0);
  }
}

TEST_CASE("bad input is rejected with a clear error") {
  const SequenceInteractions test = hand_test();
  MatrixScorer scorer = hand_scorer();
  SUBCASE("empty test set") {
    const SequenceInteractions empty = make_test({}, 0, 4, 6);
    CHECK_THROWS_WITH_AS(sequence_mrr_score(scorer, empty), doctest::Contains("empty"), Error);
    CHECK_THROWS_WITH_AS(evaluate_sequences(scorer, empty, 2), doctest::Contains("empty"), Error);
  }
  SUBCASE("k out of range") {
    CHECK_THROWS_WITH_AS(sequence_precision_recall_score(scorer, test, 0), doctest::Contains("k is 0"),
                         Error);
    CHECK_THROWS_WITH_AS(sequence_precision_recall_score(scorer, test, 4),
                         doctest::Contains("max_sequence_length (4)"), Error);
    CHECK_THROWS_WITH_AS(evaluate_sequences(scorer, test, 0), doctest::Contains("k is 0"), Error);
    // docs/api.md: evaluate_sequences requires k < max_sequence_length, as
    // precision and recall do, so no metric it returns is ever NaN.
    CHECK_THROWS_WITH_AS(evaluate_sequences(scorer, test, 4), doctest::Contains("max_sequence_length (4)"), Error);
    CHECK_THROWS_WITH_AS(evaluate_sequences(scorer, test, 10), doctest::Contains("k is 10"), Error);
    const RankingMetrics widest = evaluate_sequences(scorer, test, 3);
    CHECK_FALSE(std::isnan(widest.precision_at_k));
    CHECK_FALSE(std::isnan(widest.recall_at_k));
  }
  SUBCASE("num_items mismatch") {
    MatrixScorer wide(std::vector<float>(4 * 7, 0.0f), 4, 7);
    CHECK_THROWS_WITH_AS(sequence_mrr_score(wide, test), doctest::Contains("scores 7 items"), Error);
  }
  SUBCASE("item id out of range") {
    SequenceInteractions bad = test;
    bad.sequences[5] = 6;
    CHECK_THROWS_WITH_AS(sequence_mrr_score(scorer, bad), doctest::Contains("sequence 1, position 1"),
                         Error);
    bad.sequences[5] = -1;
    CHECK_THROWS_WITH_AS(sequence_precision_recall_score(scorer, bad, 2), doctest::Contains("item id -1"),
                         Error);
  }
  SUBCASE("inconsistent shape") {
    SequenceInteractions bad = test;
    bad.sequences.pop_back();
    CHECK_THROWS_WITH_AS(sequence_mrr_score(scorer, bad), doctest::Contains("holds 15 ids"), Error);
  }
  SUBCASE("sequences too short for MRR") {
    const SequenceInteractions one = make_test({1, 2}, 2, 1, 6);
    CHECK_THROWS_WITH_AS(sequence_mrr_score(scorer, one), doctest::Contains("at least 2"), Error);
  }
  SUBCASE("NaN scores") {
    std::vector<float> s(4 * 6, 0.5f);
    s[2 * 6 + 3] = std::numeric_limits<float>::quiet_NaN();
    MatrixScorer nan_scorer(s, 4, 6);
    CHECK_THROWS_WITH_AS(sequence_mrr_score(nan_scorer, test), doctest::Contains("NaN for sequence 2, item 3"),
                         Error);
  }
}
