// A sharded item table (fit --shard-items) against the one-process model:
// every rank trains a model whose item rows are its block of the catalogue
// and compares them (and every replicated parameter, and Adam's moments) with
// the same rows of a one-process model trained on the same data; the ranks'
// file is written together and compared with the one-process file; the
// metrics over the sharded catalogue are those of one process scoring that
// file.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "distributed/sharded_table.hpp"
#include "distributed_helpers.hpp"
#include "limelight/data.hpp"
#include "limelight/evaluation.hpp"
#include "limelight/model.hpp"
#include "limelight/model_file.hpp"
#include "tests/support/small_models.hpp"
#include "tests/support/temp_dir.hpp"

using namespace dist_test;
namespace distributed = limelight::distributed;
using limelight::ImplicitSequenceModel;
using limelight::ModelConfig;
using limelight::SequenceInteractions;

namespace {

constexpr int kBatch = 16;

// 3 full batches and one of 2 rows, windows of 6 over 25 item ids (so that
// three ranks hold blocks of 8, 8 and 9 rows).
const SequenceInteractions& sharded_data() {
  static const SequenceInteractions data = [] {
    SequenceInteractions s = limelight::generate_sequential(40, 25, 800, 0.1, 2, 11).to_sequence(6);
    const std::int64_t rows = 3 * kBatch + 2;
    REQUIRE(s.num_sequences >= rows);
    s.num_sequences = rows;
    s.sequences.resize(static_cast<std::size_t>(rows * s.max_sequence_length));
    s.user_ids.resize(static_cast<std::size_t>(rows));
    return s;
  }();
  return data;
}

// With `bloom`, Bloom embeddings: 25 items hashed twice into 12 rows (three
// ranks hold blocks of 4 of them).
ModelConfig sharded_config(const std::string& representation, bool sparse, bool bloom = false) {
  ModelConfig c = test_support::quick_bpr_config(representation, kBatch);
  c.sparse = sparse;
  c.n_iter = 2;
  c.threads = 1;
  c.num_mixtures = 2;
  if (bloom) {
    c.bloom.compression_ratio = 0.5;
    c.bloom.num_hash_functions = 2;
  }
  return c;
}

// Where this rank's block of a sharded table of `rows` rows starts (0 in one process).
std::int64_t block_begin(std::int64_t rows) {
  return distributed::owned_rows(rows, world().rank(), world().size()).begin;
}

// Rows [begin, end) of a (rows, width) tensor beside `got` (the block).
std::int64_t rows_outside(const limelight::Tensor& got, const limelight::Tensor& full, std::int64_t begin,
                          double rel, double abs) {
  const std::int64_t width = full.numel() / full.dim(0), n = got.numel();
  std::int64_t outside = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const double want = full.f32()[begin * width + i];
    const bool out = !(std::fabs(got.f32()[i] - want) <= abs + rel * std::fabs(want));
    if (out) MESSAGE("row ", begin + i / width, " column ", i % width, ": ", got.f32()[i], " against ", want);
    outside += out;
  }
  return outside;
}

// One process, the world with a replicated table, the world sharded.
struct ShardedRun {
  ImplicitSequenceModel one, replicated, many;
  std::vector<double> one_losses, many_losses;
};

ShardedRun train_all(const ModelConfig& config) {
  ShardedRun r{ImplicitSequenceModel(config), ImplicitSequenceModel(config), ImplicitSequenceModel(config), {}, {}};
  const SequenceInteractions& data = sharded_data();
  limelight::FitCallbacks a, b;
  a.on_epoch = [&](const limelight::EpochReport& e) { r.one_losses.push_back(e.loss); };
  b.on_epoch = [&](const limelight::EpochReport& e) { r.many_losses.push_back(e.loss); };
  r.one.fit(data, a, *distributed::local_communicator());
  r.replicated.fit(data, {}, world());
  r.many.initialize(data.num_items, world());
  r.many.fit(data, b, world());
  return r;
}

}  // namespace

TEST_CASE("sharded: the blocks cover the catalogue once, and owner_of finds each id's") {
  for (const std::int64_t V : {2, 3, 25, 1000003})
    for (const int N : {1, 2, 3, 7}) {
      std::int64_t next = 0;
      for (int r = 0; r < N; ++r) {
        const distributed::RowBlock b = distributed::owned_rows(V, r, N);
        CHECK(b.begin == next);
        next = b.end;
        for (const std::int64_t id : {b.begin, (b.begin + b.end) / 2, b.end - 1})
          if (id >= b.begin && id < b.end) CHECK(distributed::owner_of(id, V, N) == r);
      }
      CHECK(next == V);
    }
}

TEST_CASE("sharded: each rank starts from its rows of the one-process initial table") {
  for (const std::string representation : {"pooling", "lstm", "lstm bloom"}) {
    CAPTURE(representation);
    const ModelConfig config =
        sharded_config(representation.substr(0, representation.find(' ')), false, representation.ends_with(" bloom"));
    ImplicitSequenceModel one(config), many(config);
    one.initialize(101);
    many.initialize(101, world());
    CHECK(many.items_sharded() == (world().size() > 1));
    const auto p_one = std::as_const(one).parameters(), p_many = std::as_const(many).parameters();
    const std::int64_t rows = p_one[0]->value.dim(0);  // the items, or a Bloom table's compressed rows
    const distributed::RowBlock mine = distributed::owned_rows(rows, world().rank(), world().size());
    REQUIRE(p_many[0]->value.dim(0) == mine.end - mine.begin);
    CHECK(rows_outside(p_many[0]->value, p_one[0]->value, mine.begin, 0.0, 0.0) == 0);  // the same bits
    for (std::size_t i = 2; i < p_one.size(); ++i)
      CHECK(bytes_of(p_many[i]->value.raw(), p_many[i]->value.nbytes()) ==
            bytes_of(p_one[i]->value.raw(), p_one[i]->value.nbytes()));
  }
}

// The sharded step sums each slice's gradients and then the slices in rank
// order, as the replicated step does: the two agree to float32 rounding of
// the exchange's order, tighter than either agrees with one process, whose
// step sums the whole batch at once (that comparison, within the rounding
// Adam amplifies over a few steps, is test_fit_parity.cpp's). The losses are
// also checked against one process.
TEST_CASE("sharded: the sharded fit is the replicated fit, every representation, dense and sparse, Bloom too") {
  constexpr double rel = 1e-6, abs = 1e-7;
  for (const std::string representation : {"pooling", "cnn", "lstm", "mixture", "lstm bloom"})
    for (const bool sparse : {false, true}) {
      CAPTURE(representation);
      CAPTURE(sparse);
      const bool bloom = representation.ends_with(" bloom");
      const ShardedRun r =
          train_all(sharded_config(representation.substr(0, representation.find(' ')), sparse, bloom));
      REQUIRE(r.many_losses.size() == r.one_losses.size());
      for (std::size_t e = 0; e < r.one_losses.size(); ++e)
        CHECK(r.many_losses[e] == doctest::Approx(r.one_losses[e]).epsilon(1e-5));
      const auto p_repl = r.replicated.parameters(), p_many = r.many.parameters();
      const limelight::TrainingState s_repl = r.replicated.training_state(), s_many = r.many.training_state();
      for (std::size_t i = 0; i < p_repl.size(); ++i) {
        CAPTURE(p_repl[i]->name);
        // The item rows (a Bloom table's compressed rows) are blocks.
        const std::int64_t first = i < 2 && r.many.items_sharded() ? block_begin(p_repl[i]->value.dim(0)) : 0;
        CHECK(rows_outside(p_many[i]->value, p_repl[i]->value, first, rel, abs) == 0);
        CHECK(rows_outside(s_many.exp_avg[i], s_repl.exp_avg[i], first, rel, abs) == 0);
        CHECK(rows_outside(s_many.exp_avg_sq[i], s_repl.exp_avg_sq[i], first, 2 * rel, abs * abs) == 0);
      }
      CHECK(s_many.rng_state == s_repl.rng_state);
      CHECK(s_many.optimizer_steps == s_repl.optimizer_steps);
      // The replicated parameters are the same bits on every rank.
      std::string replicated;
      for (std::size_t i = 2; i < p_many.size(); ++i)
        replicated += bytes_of(p_many[i]->value.raw(), p_many[i]->value.nbytes());
      CHECK(ranks_differing_from_rank0(fnv_hex(replicated)) == 0);
    }
}

TEST_CASE("sharded: the ranks write one ordinary file, and its metrics are the sharded model's, Bloom too") {
 for (const bool bloom : {false, true}) {
  CAPTURE(bloom);
  const ModelConfig config = sharded_config("lstm", true, bloom);
  const ShardedRun r = train_all(config);
  // Rank 0's temporary folder, for every rank.
  test_support::TempDir dir;
  const std::string path = world().all_gather_strings((dir.path / "sharded.safetensors").string())[0];
  limelight::SaveOptions options;
  options.training_state = true;
  limelight::save_model_gathered(path, r.many, options, world());
  world().barrier();

  // Every rank loads it: the whole catalogue, the replicated run's model.
  limelight::LoadedModel loaded = limelight::load_model(path);
  REQUIRE(loaded.training_state.has_value());
  const auto p_file = std::as_const(loaded.model).parameters(), p_repl = r.replicated.parameters();
  for (std::size_t i = 0; i < p_repl.size(); ++i) {
    CAPTURE(p_repl[i]->name);
    REQUIRE(p_file[i]->value.shape() == p_repl[i]->value.shape());
    CHECK(rows_outside(p_file[i]->value, p_repl[i]->value, 0, 1e-6, 1e-7) == 0);
  }
  // The file's rows are each rank's own, to the bit.
  const auto p_many = r.many.parameters();
  for (std::size_t i = 0; i < 2; ++i)
    CHECK(rows_outside(p_many[i]->value, p_file[i]->value, block_begin(p_file[i]->value.dim(0)), 0.0, 0.0) == 0);

  // Metrics over the sharded catalogue against one process scoring the file.
  const SequenceInteractions test = limelight::generate_sequential(30, 25, 600, 0.1, 2, 12).to_sequence(6);
  const limelight::OwnItemsScorer own(r.many);
  const limelight::RankingMetrics sharded = limelight::evaluate_sequences(own, test, 3, false, world());
  const limelight::RankingMetrics whole = limelight::evaluate_sequences(loaded.model, test, 3, false);
  CHECK(sharded.mrr == doctest::Approx(whole.mrr).epsilon(1e-12));
  CHECK(sharded.precision_at_k == doctest::Approx(whole.precision_at_k).epsilon(1e-12));
  CHECK(sharded.recall_at_k == doctest::Approx(whole.recall_at_k).epsilon(1e-12));
  CHECK(sharded.ndcg_at_k == doctest::Approx(whole.ndcg_at_k).epsilon(1e-12));
  CHECK(sharded.hit_rate_at_k == doctest::Approx(whole.hit_rate_at_k).epsilon(1e-12));
  const limelight::RankingMetrics excluding = limelight::evaluate_sequences(own, test, 3, true, world());
  const limelight::RankingMetrics whole_excluding = limelight::evaluate_sequences(loaded.model, test, 3, true);
  CHECK(excluding.mrr == doctest::Approx(whole_excluding.mrr).epsilon(1e-12));
  CHECK(excluding.precision_at_k == doctest::Approx(whole_excluding.precision_at_k).epsilon(1e-12));
  world().barrier();  // rank 0's folder goes after every rank has read the file
 }
}

TEST_CASE("sharded: a file loaded sharded recommends across the ranks as one process, every representation") {
  const SequenceInteractions test = limelight::generate_sequential(30, 25, 600, 0.1, 2, 12).to_sequence(6);
  const std::int64_t rows = 9, L = test.max_sequence_length;
  for (const std::string representation : {"pooling", "cnn", "lstm", "mixture", "lstm bloom"}) {
    CAPTURE(representation);
    test_support::TempDir dir;
    const std::string path = world().all_gather_strings((dir.path / "m.safetensors").string())[0];
    ImplicitSequenceModel whole(sharded_config(representation.substr(0, representation.find(' ')), false,
                                               representation.ends_with(" bloom")));
    whole.initialize(25);
    if (world().rank() == 0) limelight::save_model(path, whole);
    world().barrier();
    limelight::LoadedModel sharded = limelight::load_model_sharded(path, world());
    CHECK(sharded.model.items_sharded() == (world().size() > 1));
    // k within a block, across blocks, and past the catalogue (25 items).
    for (int k : {3, 12, 40})
      for (bool exclude_seen : {false, true}) {
        CAPTURE(k);
        CAPTURE(exclude_seen);
        const std::size_t kk = static_cast<std::size_t>(k);
        std::vector<limelight::Recommendation> got(rows * kk), want(rows * kk);
        std::vector<std::size_t> got_counts(rows), want_counts(rows);
        sharded.model.recommend_across_ranks(test.sequences.data(), rows, L, k, exclude_seen, got.data(),
                                             got_counts.data());
        whole.recommend_batch(test.sequences.data(), rows, L, k, exclude_seen, want.data(), want_counts.data());
        CHECK(got_counts == want_counts);
        std::int64_t differing = 0;
        for (std::size_t r = 0; r < rows; ++r)
          for (std::size_t i = 0; i < std::min(got_counts[r], want_counts[r]); ++i) {
            const auto& a = got[r * kk + i];
            const auto& b = want[r * kk + i];
            differing += a.item != b.item || a.score != b.score;
          }
        CHECK(differing == 0);
      }
    world().barrier();  // rank 0's folder goes after every rank has read the file
  }
}

TEST_CASE("sharded: a sharded model refuses to serve in its ranks") {
  const ModelConfig config = sharded_config("pooling", false);
  ImplicitSequenceModel many(config);
  many.initialize(25, world());
  if (world().size() > 1) {
    const std::vector<std::int32_t> seq = {1, 2, 3};
    CHECK_THROWS_WITH_AS(many.predict(seq), doctest::Contains("sharded"), limelight::Error);
  }
}
