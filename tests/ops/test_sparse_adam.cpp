// Row-sparse gradients and lazy Adam against their dense counterparts on the
// rows a step touches: an embedding table marked sparse must get the dense
// gradient on exactly the rows its ids name, and lazy Adam's first step must
// move those rows as dense Adam does. After a row goes untouched the two
// part ways by design (include/limelight/adam.hpp); that is tested too.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "backend/backend.hpp"
#include "limelight/adam.hpp"
#include "limelight/error.hpp"
#include "limelight/ops.hpp"
#include "limelight/random.hpp"

using namespace limelight;

namespace {

Tensor randn(const Shape& shape, Rng& rng, float scale = 1.0f) {
  Tensor t = Tensor::empty(shape);
  for (std::int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = scale * static_cast<float>(rng.normal());
  return t;
}

std::set<std::int32_t> nonzero_ids(std::initializer_list<const std::vector<std::int32_t>*> lists) {
  std::set<std::int32_t> out;
  for (const auto* l : lists)
    for (std::int32_t id : *l)
      if (id != 0) out.insert(id);
  return out;
}

// A sparse parameter and its dense twin after the same step: the sparse one
// lists exactly `touched`, and equals the dense gradient there; the dense
// gradient is zero on every other row.
void check_sparse_matches_dense(const Parameter& sparse, const Parameter& dense, const std::set<std::int32_t>& touched) {
  INFO("parameter ", sparse.name);
  const std::vector<std::int32_t>& rows = sparse.sparse_grad.rows();
  CHECK(std::set<std::int32_t>(rows.begin(), rows.end()) == touched);
  CHECK(rows.size() == touched.size());  // each row listed once
  const std::int64_t D = sparse.value.dim(1);
  for (std::size_t k = 0; k < rows.size(); ++k)
    for (std::int64_t d = 0; d < D; ++d) {
      // The same additions in the same order (each row accumulated in id
      // order by one thread on either path), so the same bits.
      CHECK_MESSAGE(sparse.sparse_grad.values()[k * static_cast<std::size_t>(D) + static_cast<std::size_t>(d)] ==
                        dense.grad.f32()[rows[k] * D + d],
                    "row ", rows[k], " component ", d);
    }
  int nonzero_elsewhere = 0;
  for (std::int64_t r = 0; r < sparse.value.dim(0); ++r)
    if (!touched.count(static_cast<std::int32_t>(r)))
      for (std::int64_t d = 0; d < D; ++d) nonzero_elsewhere += dense.grad.f32()[r * D + d] != 0.0f;
  CHECK(nonzero_elsewhere == 0);
}

// Embedding lookup and target scoring on one shared table and bias, as the
// models use them: the loss is a fixed random weighting of the scores.
struct ScoringStep {
  std::vector<std::int32_t> input_ids, target_ids;
  Tensor rep, weights;

  void run(Parameter& table, Parameter& bias) const {
    Tape tape;
    Var E = tape.parameter(table), b = tape.parameter(bias);
    const Shape ids_shape{3, 4};
    Var e = ops::embedding(tape, E, Tensor::from_vector(input_ids, ids_shape));
    Var s = ops::score_items(tape, ops::add(tape, e, tape.constant(rep)), E, b, Tensor::from_vector(target_ids, ids_shape));
    tape.backward(ops::sum(tape, ops::mul(tape, s, tape.constant(weights))));
  }
};

struct Twins {
  Parameter sparse_table, dense_table, sparse_bias, dense_bias;
  Twins(const Tensor& table, const Tensor& bias)
      : sparse_table("table", table.clone(), true), dense_table("table", table.clone()),
        sparse_bias("bias", bias.clone(), true), dense_bias("bias", bias.clone()) {}
};

}  // namespace

TEST_CASE("sparse gradients equal the dense ones on the touched rows: embedding and score_items") {
  Rng rng(31);
  const std::int64_t V = 9, D = 4;
  Twins p(randn({V, D}, rng), randn({V, 1}, rng));
  // id 0 is padding in both lists; 3 and 7 repeat; 6 and 8 are never named
  ScoringStep step{{1, 3, 3, 0, 0, 0, 2, 7, 7, 7, 5, 0}, {3, 4, 0, 1, 0, 0, 7, 7, 2, 1, 0, 0}, randn({3, 4, D}, rng),
                   randn({3, 4}, rng)};
  step.run(p.sparse_table, p.sparse_bias);
  step.run(p.dense_table, p.dense_bias);
  check_sparse_matches_dense(p.sparse_table, p.dense_table, nonzero_ids({&step.input_ids, &step.target_ids}));
  check_sparse_matches_dense(p.sparse_bias, p.dense_bias, nonzero_ids({&step.target_ids}));
}

TEST_CASE("sparse gradients equal the dense ones on the touched rows: sequence_loss, dot and mixture heads") {
  const std::int64_t V = 11, D = 3, B = 3, L = 4;
  const std::vector<std::int32_t> inputs = {0, 0, 4, 9, 1, 2, 3, 4, 0, 0, 0, 10};
  const std::vector<std::int32_t> targets = {0, 4, 9, 2, 2, 3, 4, 5, 0, 0, 10, 1};
  // negatives at masked positions (targets 0) are never scored: 6 and 8 stay untouched
  const std::vector<std::int32_t> negatives = {6, 7, 1, 3, 9, 0, 2, 7, 8, 6, 3, 3};
  std::vector<std::int32_t> scored_negatives;
  for (std::size_t i = 0; i < targets.size(); ++i)
    if (targets[i] != 0) scored_negatives.push_back(negatives[i]);
  const std::set<std::int32_t> touched = nonzero_ids({&inputs, &targets, &scored_negatives});
  const std::set<std::int32_t> bias_touched = nonzero_ids({&targets, &scored_negatives});
  REQUIRE(touched.count(6) == 0);
  for (ops::LossKind kind : {ops::LossKind::pointwise, ops::LossKind::bpr})
    for (std::int64_t M : {0, 2}) {
      CAPTURE(static_cast<int>(kind));
      CAPTURE(M);
      Rng rng(32);
      Twins p(randn({V, D}, rng, 0.5f), randn({V, 1}, rng, 0.5f));
      const Tensor projection = randn({M > 0 ? 2 * M * D : D, D}, rng, 0.5f);
      // The network's shape of a step: lookup, running pooling, (a
      // projection for the mixture), then the fused loss on the same table.
      auto run = [&](Parameter& table, Parameter& bias) {
        Tape tape;
        Var E = tape.parameter(table);
        Var pooled = ops::running_pool(tape, ops::embedding(tape, E, Tensor::from_vector(inputs, {B, L})));
        Var states = M > 0 ? ops::linear(tape, pooled, tape.constant(projection), Var{}) : pooled;
        tape.backward(ops::sequence_loss(tape, states, E, tape.parameter(bias), Tensor::from_vector(targets, {B, L}),
                                         Tensor::from_vector(negatives, {1, B, L}), kind, M));
      };
      run(p.sparse_table, p.sparse_bias);
      run(p.dense_table, p.dense_bias);
      check_sparse_matches_dense(p.sparse_table, p.dense_table, touched);
      check_sparse_matches_dense(p.sparse_bias, p.dense_bias, bias_touched);
    }
}

TEST_CASE("pooled_sequence_loss: sparse gradients equal the dense ones on the touched rows, near the unfused ops") {
  // Both of the backward's ways to the table gradient: per-chunk dense
  // copies (V <= B * L) and staged rows (V > B * L); either way the sparse
  // and dense gradients must agree bit for bit.
  const std::int64_t D = 3, B = 3, L = 4;
  const std::vector<std::int32_t> windows = {0, 0, 4, 9, 1, 2, 3, 4, 0, 0, 0, 11};
  const std::vector<std::int32_t> negatives = {6, 7, 1, 3, 9, 0, 2, 7, 8, 6, 3, 10};
  std::vector<std::int32_t> scored_negatives;
  for (std::size_t i = 0; i < windows.size(); ++i)
    if (windows[i] != 0) scored_negatives.push_back(negatives[i]);
  const std::set<std::int32_t> touched = nonzero_ids({&windows, &scored_negatives});
  REQUIRE(touched.count(6) == 0);  // a negative at a padding step is never scored
  for (std::int64_t V : {12, 13})
  for (ops::LossKind kind : {ops::LossKind::pointwise, ops::LossKind::bpr}) {
    CAPTURE(V);
    CAPTURE(static_cast<int>(kind));
    Rng rng(33);
    Twins p(randn({V, D}, rng, 0.5f), randn({V, 1}, rng, 0.5f));
    Twins unfused(p.dense_table.value.clone(), p.dense_bias.value.clone());
    const Tensor seq = Tensor::from_vector(windows, {B, L}), neg = Tensor::from_vector(negatives, {1, B, L});
    auto run = [&](Parameter& table, Parameter& bias) {
      Tape tape;
      tape.backward(ops::pooled_sequence_loss(tape, tape.parameter(table), tape.parameter(bias), seq, neg, kind));
    };
    run(p.sparse_table, p.sparse_bias);
    run(p.dense_table, p.dense_bias);
    check_sparse_matches_dense(p.sparse_table, p.dense_table, touched);
    check_sparse_matches_dense(p.sparse_bias, p.dense_bias, touched);
    {
      Tape tape;
      Var E = tape.parameter(unfused.dense_table);
      Var pooled = ops::running_pool(tape, ops::embedding(tape, E, seq));
      tape.backward(ops::sequence_loss(tape, pooled, E, tape.parameter(unfused.dense_bias), seq, neg, kind));
    }
    for (std::int64_t i = 0; i < V * D; ++i)
      CHECK(p.dense_table.grad.f32()[i] == doctest::Approx(unfused.dense_table.grad.f32()[i]).epsilon(1e-5));
    for (std::int64_t i = 0; i < V; ++i)
      CHECK(p.dense_bias.grad.f32()[i] == doctest::Approx(unfused.dense_bias.grad.f32()[i]).epsilon(1e-5));
  }
}

TEST_CASE("pooled_sequence_loss: into sparse gradients already holding rows, and across threads, as dense") {
  // An empty accumulator is filled at once (ids sorted, no row map); one
  // that already holds rows from an earlier backward takes the row-map
  // path. Both, on one or two threads, must give the dense gradient's bits.
  // Small tables (V <= B * L) get one backward only: there the sparse rows
  // add the summed chunk copies to what they hold and the dense gradient
  // takes the chunks one by one, equal only to rounding after two passes.
  const std::int64_t D = 5, B = 8, L = 40;
  for (std::int64_t V : {200, 320, 400, 5000})
    for (int threads : {1, 2}) {
      CAPTURE(V);
      CAPTURE(threads);
      backend::get(Device::cpu).set_threads(threads);
      Rng rng(41);
      Twins p(randn({V, D}, rng, 0.5f), randn({V, 1}, rng, 0.5f));
      std::set<std::int32_t> touched;
      for (int pass = 0; pass < (V > B * L ? 2 : 1); ++pass) {
        std::vector<std::int32_t> windows(B * L), negatives(B * L), scored;
        for (std::int64_t i = 0; i < B * L; ++i) {
          // Some padding, and ids clustered so that rows repeat within a step.
          windows[i] = i % L < 3 ? 0 : static_cast<std::int32_t>(1 + rng.uniform_int(pass == 0 ? V / 4 : V - 1));
          negatives[i] = static_cast<std::int32_t>(rng.uniform_int(V));
          if (windows[i] != 0) scored.push_back(negatives[i]);
        }
        for (const auto& ids : nonzero_ids({&windows, &scored})) touched.insert(ids);
        const Tensor seq = Tensor::from_vector(windows, {B, L}), neg = Tensor::from_vector(negatives, {1, B, L});
        for (auto* twin : {&p.sparse_table, &p.dense_table}) {
          Parameter& bias = twin == &p.sparse_table ? p.sparse_bias : p.dense_bias;
          Tape tape;
          tape.backward(
              ops::pooled_sequence_loss(tape, tape.parameter(*twin), tape.parameter(bias), seq, neg, ops::LossKind::bpr));
        }
      }
      check_sparse_matches_dense(p.sparse_table, p.dense_table, touched);
      check_sparse_matches_dense(p.sparse_bias, p.dense_bias, touched);
    }
  backend::get(Device::cpu).set_threads(0);
}

TEST_CASE("SparseRows::assign_rows: rows taken at once, then row() and clear() as if touched one by one") {
  SparseRows rows;
  rows.resize(10, 2);
  const std::vector<std::int32_t> ids{2, 5, 7};
  float* values = rows.assign_rows(ids.data(), 3);
  for (int i = 0; i < 6; ++i) CHECK(values[i] == 0.0f);
  values[2] = 1.5f;  // row 5
  CHECK_THROWS_AS(rows.assign_rows(ids.data(), 3), Error);
  CHECK(rows.row(5)[0] == 1.5f);  // the same slot, found through the map built now
  rows.row(9)[1] = 4.0f;          // a new row goes after them
  CHECK(rows.rows() == std::vector<std::int32_t>{2, 5, 7, 9});
  CHECK(rows.values()[7] == 4.0f);
  rows.clear();
  CHECK(rows.empty());
  CHECK(rows.row(7)[0] == 0.0f);  // zeroed on first touch after clear
  CHECK(rows.rows() == std::vector<std::int32_t>{7});
  rows.clear();
  rows.assign_rows(ids.data(), 3);
  rows.clear();  // never mapped: the map still says untouched
  CHECK(rows.row(2)[0] == 0.0f);
  CHECK(rows.rows() == std::vector<std::int32_t>{2});
}

namespace {

// One optimizer step of both twins on the scoring step's gradients.
void adam_step(Twins& p, Adam& sparse_adam, Adam& dense_adam, const ScoringStep& step) {
  sparse_adam.zero_grad();
  dense_adam.zero_grad();
  step.run(p.sparse_table, p.sparse_bias);
  step.run(p.dense_table, p.dense_bias);
  sparse_adam.step();
  dense_adam.step();
}

bool rows_equal(const Tensor& a, const Tensor& b, std::int32_t row) {
  const std::int64_t D = a.dim(1);
  return std::equal(a.f32() + row * D, a.f32() + (row + 1) * D, b.f32() + row * D);
}

}  // namespace

TEST_CASE("lazy Adam equals dense Adam on the touched rows at the first step, and parts from it after") {
  for (double weight_decay : {0.0, 0.01}) {
    CAPTURE(weight_decay);
    Rng rng(33);
    const std::int64_t V = 9, D = 4;
    const Tensor table = randn({V, D}, rng), bias = randn({V, 1}, rng);
    Twins p(table, bias);
    const AdamOptions options{0.05, 0.9, 0.999, 1e-8, weight_decay};
    Adam sparse_adam({&p.sparse_table, &p.sparse_bias}, options), dense_adam({&p.dense_table, &p.dense_bias}, options);
    const Tensor rep = randn({3, 4, D}, rng), weights = randn({3, 4}, rng);
    // Step 1 touches rows 1, 2, 3, 5; step 2 rows 2, 6; step 3 row 1 again.
    const ScoringStep first{{1, 2, 0, 0, 3, 5, 0, 0, 0, 0, 0, 0}, {2, 1, 0, 0, 5, 3, 0, 0, 0, 0, 0, 0}, rep, weights};
    const ScoringStep second{{2, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {6, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, rep, weights};
    const ScoringStep third{{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, rep, weights};

    adam_step(p, sparse_adam, dense_adam, first);
    for (std::int32_t row : {1, 2, 3, 5}) {
      CAPTURE(row);
      // The same element update on the same gradient and zero moments.
      CHECK(rows_equal(p.sparse_table.value, p.dense_table.value, row));
      CHECK(rows_equal(sparse_adam.exp_avg(0), dense_adam.exp_avg(0), row));
      CHECK(rows_equal(sparse_adam.exp_avg_sq(0), dense_adam.exp_avg_sq(0), row));
      CHECK(rows_equal(p.sparse_bias.value, p.dense_bias.value, row));
      CHECK(!rows_equal(p.sparse_table.value, table, row));  // it did move
    }
    // Untouched rows: lazy Adam leaves them; dense Adam too, unless weight
    // decay gives them a gradient (the first documented divergence).
    for (std::int32_t row : {0, 4, 6, 7, 8}) {
      CAPTURE(row);
      CHECK(rows_equal(p.sparse_table.value, table, row));
      CHECK(rows_equal(p.dense_table.value, table, row) == (weight_decay == 0.0));
    }
    const Tensor after_first = p.sparse_table.value.clone();
    const Tensor moment_after_first = sparse_adam.exp_avg(0).clone();

    adam_step(p, sparse_adam, dense_adam, second);
    // Rows 1, 3, 5 went untouched: dense Adam still moves them on their
    // decayed moments, lazy Adam leaves them and their moments as they were.
    for (std::int32_t row : {1, 3, 5}) {
      CAPTURE(row);
      CHECK(rows_equal(p.sparse_table.value, after_first, row));
      CHECK(rows_equal(sparse_adam.exp_avg(0), moment_after_first, row));
      CHECK(!rows_equal(p.dense_table.value, p.sparse_table.value, row));
      for (std::int64_t d = 0; d < D; ++d) {
        const float m1 = moment_after_first.f32()[row * D + d];
        if (weight_decay == 0.0) CHECK(dense_adam.exp_avg(0).f32()[row * D + d] == m1 * 0.9f + 0.0f);
      }
    }
    if (weight_decay == 0.0) {
      // Row 2, touched twice, and row 6, first touched now (its dense moments
      // were still zero): the two agree exactly (the same formula; dense
      // Adam's zero-gradient steps change nothing on zero moments).
      for (std::int32_t row : {2, 6}) {
        CAPTURE(row);
        CHECK(rows_equal(p.sparse_table.value, p.dense_table.value, row));
      }
      adam_step(p, sparse_adam, dense_adam, third);
      // Row 1 again: lazy Adam's first moment resumes from step 1's, dense
      // Adam's was decayed once more in between (m' = 0.9 m + 0.1 g on each).
      const float* g_lazy = p.sparse_table.sparse_grad.values();
      REQUIRE(p.sparse_table.sparse_grad.rows() == std::vector<std::int32_t>{1});
      for (std::int64_t d = 0; d < D; ++d) {
        const float m1 = moment_after_first.f32()[1 * D + d];
        const float lazy = sparse_adam.exp_avg(0).f32()[1 * D + d], dense = dense_adam.exp_avg(0).f32()[1 * D + d];
        CHECK(lazy == doctest::Approx(m1 * 0.9f + 0.1f * g_lazy[d]).epsilon(1e-6));
        CHECK(dense == doctest::Approx(m1 * 0.9f * 0.9f + 0.1f * p.dense_table.grad.f32()[1 * D + d]).epsilon(1e-6));
        CHECK(lazy != dense);
      }
    }
  }
}
