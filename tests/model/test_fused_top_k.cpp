// The fused catalogue top-k (recommend, recommend_batch) against the scores
// of predict ranked by a full sort: the same items and the same float scores,
// for each representation, with and without seen items excluded, at a
// catalogue large enough to be split into blocks across threads, and for
// thread counts 1, 2 and 3 (the split must not change the answer).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "backend/backend.hpp"
#include "limelight/model.hpp"
#include "limelight/random.hpp"

using namespace limelight;

namespace {

// Scores ranked by (higher score, lower id), skipping padding and, with
// exclude_seen, the sequence's items.
std::vector<Recommendation> ranked(const std::vector<float>& scores, const std::vector<std::int32_t>& seq, int k,
                                   bool exclude_seen) {
  std::vector<std::int32_t> ids(scores.size());
  std::iota(ids.begin(), ids.end(), 0);
  // Only the first k + |seq| + 1 places of the full order can be answered
  // (padding and the seen items are all that is skipped): sorting just those
  // gives the same list and keeps the test quick under the sanitizers.
  const std::size_t needed = std::min(ids.size(), static_cast<std::size_t>(k) + seq.size() + 1);
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(needed), ids.end(),
                    [&](std::int32_t a, std::int32_t b) {
                      return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
                    });
  ids.resize(needed);
  std::vector<Recommendation> out;
  for (std::int32_t id : ids) {
    if (id == 0 || (exclude_seen && std::find(seq.begin(), seq.end(), id) != seq.end())) continue;
    out.push_back({id, scores[static_cast<std::size_t>(id)]});
    if (static_cast<int>(out.size()) == k) break;
  }
  return out;
}

int mismatches(const std::vector<Recommendation>& want, const Recommendation* got, std::size_t count) {
  if (count != want.size()) return 1000;
  int bad = 0;
  for (std::size_t i = 0; i < count; ++i)
    bad += want[i].item != got[i].item || std::memcmp(&want[i].score, &got[i].score, sizeof(float)) != 0;
  return bad;
}

}  // namespace

TEST_CASE("fused top-k: recommend and recommend_batch match predict ranked by a full sort") {
  const std::int32_t V = 40009;  // 78 blocks of 512 and a partial one; one row of D 16 is split across threads
  const int k = 17;
  for (const std::string rep : {"pooling", "cnn", "lstm", "mixture"}) {
    ModelConfig c;
    c.representation = parse_representation(rep);
    c.embedding_dim = 16;
    c.num_mixtures = 3;
    c.seed = 11;
    ImplicitSequenceModel model(c);
    model.initialize(V);
    Rng rng(5);
    const std::int64_t rows = 6, length = 9;
    std::vector<std::int32_t> seqs(rows * length);
    for (auto& x : seqs) x = static_cast<std::int32_t>(rng.uniform_int(V));  // padding included
    for (int threads : {1, 2, 3}) {
      backend::get(Device::cpu).set_threads(threads);
      for (bool exclude : {false, true}) {
        std::vector<Recommendation> batch(static_cast<std::size_t>(rows * k));
        std::vector<std::size_t> counts(static_cast<std::size_t>(rows));
        model.recommend_batch(seqs.data(), rows, length, k, exclude, batch.data(), counts.data());
        // A batch's scores are score_batch's (its GEMM may round unlike one row's GEMV).
        std::vector<float> all(static_cast<std::size_t>(rows * V));
        model.score_batch(seqs.data(), rows, length, all.data());
        for (std::int64_t r = 0; r < rows; ++r) {
          const std::vector<std::int32_t> seq(seqs.begin() + r * length, seqs.begin() + (r + 1) * length);
          const std::vector<float> row_scores(all.begin() + r * V, all.begin() + (r + 1) * V);
          const std::vector<Recommendation> want = ranked(model.predict(seq), seq, k, exclude);
          const std::vector<Recommendation> one = model.recommend(seq, k, exclude);
          CAPTURE(rep);
          CAPTURE(threads);
          CAPTURE(exclude);
          CAPTURE(r);
          CHECK(mismatches(want, one.data(), one.size()) == 0);
          CHECK(mismatches(ranked(row_scores, seq, k, exclude), batch.data() + r * k,
                           counts[static_cast<std::size_t>(r)]) == 0);
        }
      }
    }
    backend::get(Device::cpu).set_threads(0);
  }
}

TEST_CASE("fused top-k: k beyond the catalogue returns every recommendable item") {
  ModelConfig c;
  c.representation = Representation::pooling;
  c.embedding_dim = 4;
  ImplicitSequenceModel model(c);
  model.initialize(6);
  const std::vector<std::int32_t> seq{0, 2, 3};
  CHECK(model.recommend(seq, 50, true).size() == 3);  // items 1, 4, 5
  std::vector<Recommendation> out(50);
  std::size_t count = 0;
  model.recommend_batch(seq.data(), 1, 3, 50, false, out.data(), &count);
  CHECK(count == 5);
  CHECK(mismatches(ranked(model.predict(seq), seq, 50, false), out.data(), count) == 0);
}

TEST_CASE("fused top-k: batches with seen items excluded answer as recommend and score_batch rank") {
  // A one-row batch takes recommend's own seen mask instead of k + length
  // candidates; both must give the same items and score bits.
  for (const std::string rep : {"pooling", "lstm"}) {
    ModelConfig c;
    c.representation = parse_representation(rep);
    c.embedding_dim = 16;
    c.seed = 3;
    ImplicitSequenceModel model(c);
    model.initialize(5003);
    Rng rng(9);
    std::vector<std::int32_t> seq(40);
    for (auto& x : seq) x = static_cast<std::int32_t>(rng.uniform_int(5003));
    const int k = 12;
    std::vector<Recommendation> batch(k);
    std::size_t count = 0;
    model.recommend_batch(seq.data(), 1, static_cast<std::int64_t>(seq.size()), k, true, batch.data(), &count);
    const std::vector<Recommendation> one = model.recommend(seq, k, true);
    CAPTURE(rep);
    CHECK(mismatches(ranked(model.predict(seq), seq, k, true), batch.data(), count) == 0);
    CHECK(mismatches(one, batch.data(), count) == 0);
    // Several rows over this cache-sized table (320 KB) are scored as
    // score_batch scores them, then ranked under each row's own mask.
    const std::int64_t rows = 5, length = 40;
    std::vector<std::int32_t> seqs(rows * length);
    for (auto& x : seqs) x = static_cast<std::int32_t>(rng.uniform_int(5003));
    std::vector<Recommendation> top(rows * k);
    std::vector<std::size_t> counts(rows);
    model.recommend_batch(seqs.data(), rows, length, k, true, top.data(), counts.data());
    std::vector<float> all(static_cast<std::size_t>(rows * 5003));
    model.score_batch(seqs.data(), rows, length, all.data());
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::vector<std::int32_t> row(seqs.begin() + r * length, seqs.begin() + (r + 1) * length);
      const std::vector<float> row_scores(all.begin() + r * 5003, all.begin() + (r + 1) * 5003);
      CAPTURE(r);
      CHECK(mismatches(ranked(row_scores, row, k, true), top.data() + r * k, counts[static_cast<std::size_t>(r)]) == 0);
    }
  }
}

TEST_CASE("one-row catalogue scores: within float32 rounding of b + e . x for every width and tail") {
  // D 8, 24, 32 and 40 take the 8-lane kernel where the CPU has one (one to
  // five vectors a row), 12 the BLAS path; V leaves a partial last block and
  // a tail of fewer than 8 items after it.
  backend::Backend& be = backend::get(Device::cpu);
  for (const std::int64_t D : {8, 12, 24, 32, 40}) {
    const std::int64_t V = 1037;
    Rng rng(static_cast<std::uint64_t>(D));
    std::vector<float> table(static_cast<std::size_t>(V * D)), bias(V), x(D), scores(V);
    for (auto& e : table) e = static_cast<float>(rng.normal());
    for (auto& b : bias) b = static_cast<float>(rng.normal());
    for (auto& e : x) e = static_cast<float>(rng.normal());
    Arena arena;
    be.score_catalogue(x.data(), 1, table.data(), bias.data(), V, D, 0, scores.data(), arena);
    // Any order of D products and D additions is within gamma_{D+1} of the
    // sum of the terms' magnitudes.
    const double u = std::ldexp(1.0, -24), gamma = (D + 1) * u / (1.0 - (D + 1) * u);
    int bad = 0;
    for (std::int64_t v = 0; v < V; ++v) {
      double exact = bias[v], size = std::fabs(bias[v]);
      for (std::int64_t d = 0; d < D; ++d) {
        exact += static_cast<double>(table[v * D + d]) * x[d];
        size += std::fabs(static_cast<double>(table[v * D + d]) * x[d]);
      }
      bad += !(std::fabs(scores[v] - exact) <= gamma * size);
    }
    CAPTURE(D);
    CHECK(bad == 0);
  }
}
