// Data-parallel fit against the one-process fit, on every rank: each rank
// trains one model on the world and another with the local communicator,
// from the same seed on the same data, and compares them; and every rank's
// model must be the same bits as rank 0's.
//
// How close: the world's gradients are sums of its slices' (float32
// summation order), and Adam divides each gradient by its own scale, so a
// gradient that is zero but for rounding (an item whose terms cancel) moves
// its parameter by up to the learning rate on one side and not at all on the
// other. One step from the same parameters (a single batch) therefore checks
// the gradients through Adam's first moments, exp_avg = (1 - beta1) g and
// exp_avg_sq = (1 - beta2) g^2, within float32 rounding of the tensor's
// scale, and the parameters within rounding where the gradient is above
// rounding noise (elsewhere within Adam's step). A fit of two epochs with a
// short last batch (of 2 rows: at 3 ranks one slice is empty) checks the
// losses, the step count and the random generator's state.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "distributed/data_parallel.hpp"
#include "distributed_helpers.hpp"
#include "limelight/data.hpp"
#include "limelight/model.hpp"
#include "tests/support/small_models.hpp"

using namespace dist_test;
namespace distributed = limelight::distributed;
using limelight::ImplicitSequenceModel;
using limelight::ModelConfig;
using limelight::SequenceInteractions;

namespace {

constexpr double kLearningRate = 1e-2;  // ModelConfig's default

// Sequences of length 6 over 25 item ids, the first `rows` of them.
SequenceInteractions training_data(std::int64_t rows) {
  static const SequenceInteractions all =
      limelight::generate_sequential(40, 25, 800, 0.1, 2, 7).to_sequence(6);
  REQUIRE(all.num_sequences >= rows);
  SequenceInteractions s = all;
  s.num_sequences = rows;
  s.sequences.resize(static_cast<std::size_t>(rows * s.max_sequence_length));
  s.user_ids.resize(static_cast<std::size_t>(rows));
  return s;
}

struct Trained {
  ImplicitSequenceModel model;
  std::vector<double> losses;
};

Trained train(const ModelConfig& config, const SequenceInteractions& data, distributed::Communicator& comm) {
  Trained t{ImplicitSequenceModel(config), {}};
  limelight::FitCallbacks callbacks;
  callbacks.on_epoch = [&](const limelight::EpochReport& r) { t.losses.push_back(r.loss); };
  t.model.fit(data, callbacks, comm);
  return t;
}

// Counts the elements outside a tolerance, keeping the worst for the message.
struct Closeness {
  std::int64_t compared = 0, outside = 0;
  double worst = -1.0;  // the largest |got - want| / tolerance
  std::string worst_where;
  void add(const std::string& where, std::int64_t i, double got, double want, double tolerance) {
    ++compared;
    const double d = std::fabs(got - want);
    if (!(d <= tolerance)) ++outside;
    const double ratio = d / tolerance;
    if (!(ratio <= worst)) {
      worst = ratio;
      worst_where = where + "[" + std::to_string(i) + "]: " + std::to_string(got) + " vs " + std::to_string(want) +
                    " (tolerance " + std::to_string(tolerance) + ")";
    }
  }
  std::string text() const {
    return std::to_string(outside) + " of " + std::to_string(compared) + " outside; worst " + worst_where;
  }
};

double max_abs(const limelight::Tensor& t) {
  double m = 0.0;
  for (std::int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::fabs(static_cast<double>(t.f32()[i])));
  return m;
}

// Every parameter, Adam moment, the step count and the generator, as bytes.
std::string state_bytes(const ImplicitSequenceModel& model) {
  std::string bytes;
  for (const limelight::Parameter* p : model.parameters()) bytes += bytes_of(p->value.raw(), p->value.nbytes());
  const limelight::TrainingState s = model.training_state();
  for (const auto& t : s.exp_avg) bytes += bytes_of(t.raw(), t.nbytes());
  for (const auto& t : s.exp_avg_sq) bytes += bytes_of(t.raw(), t.nbytes());
  bytes += bytes_of(&s.optimizer_steps, sizeof s.optimizer_steps);
  bytes += bytes_of(s.rng_state.data(), sizeof s.rng_state);
  return bytes;
}

// Both fits, then the comparison across ranks (a collective every rank
// reaches whatever its checks find, so it comes before them).
std::pair<Trained, Trained> fit_both(const ModelConfig& config, const SequenceInteractions& data) {
  Trained one = train(config, data, *distributed::local_communicator());
  Trained many = train(config, data, world());
  CHECK(ranks_differing_from_rank0(fnv_hex(state_bytes(many.model))) == 0);
  return {std::move(one), std::move(many)};
}

// What every fit shares: the epochs' losses, the step and epoch counts, the
// generator (the same draws as one process) and, at one rank, every bit.
void check_common(const Trained& one, const Trained& many, double loss_rel) {
  REQUIRE(many.losses.size() == one.losses.size());
  for (std::size_t e = 0; e < one.losses.size(); ++e) {
    CAPTURE(e);
    CHECK(many.losses[e] == doctest::Approx(one.losses[e]).epsilon(loss_rel));
  }
  const limelight::TrainingState s_many = many.model.training_state(), s_one = one.model.training_state();
  CHECK(s_many.optimizer_steps == s_one.optimizer_steps);
  CHECK(s_many.epochs == s_one.epochs);
  CHECK(s_many.rng_state == s_one.rng_state);
  if (world().size() == 1) CHECK(state_bytes(many.model) == state_bytes(one.model));
}

// One Adam step on one batch of `rows` (the batch size): the gradients
// through Adam's moments, the parameters where the gradient is above noise.
void check_one_step(ModelConfig config, std::int64_t rows) {
  CAPTURE(rows);
  config.n_iter = 1;
  config.batch_size = static_cast<int>(rows);
  const auto [one, many] = fit_both(config, training_data(rows));
  check_common(one, many, 1e-5);
  CHECK(one.model.optimizer_steps() == 1);

  constexpr double rel = 1e-5;
  const limelight::TrainingState s_many = many.model.training_state(), s_one = one.model.training_state();
  const auto p_many = many.model.parameters(), p_one = one.model.parameters();
  REQUIRE(p_many.size() == p_one.size());
  REQUIRE(s_one.exp_avg.size() == p_one.size());
  REQUIRE(s_many.exp_avg.size() == p_one.size());
  Closeness moments, params;
  std::int64_t above_noise = 0;
  for (std::size_t k = 0; k < p_one.size(); ++k) {
    const std::string name = p_one[k]->name;
    const limelight::Tensor &m1 = s_one.exp_avg[k], &m2 = s_many.exp_avg[k];
    const limelight::Tensor &v1 = s_one.exp_avg_sq[k], &v2 = s_many.exp_avg_sq[k];
    REQUIRE(m2.numel() == m1.numel());
    REQUIRE(p_many[k]->value.numel() == p_one[k]->value.numel());
    const double m_scale = max_abs(m1), v_scale = max_abs(v1);
    for (std::int64_t i = 0; i < m1.numel(); ++i) {
      const double m = m1.f32()[i];
      moments.add(name + " exp_avg", i, m2.f32()[i], m, rel * (std::fabs(m) + m_scale) + 1e-30);
      const double v = v1.f32()[i];
      moments.add(name + " exp_avg_sq", i, v2.f32()[i], v, 2 * rel * (v + v_scale) + 1e-30);
      const double p = p_one[k]->value.f32()[i];
      const bool signal = std::fabs(m) > 1e-3 * m_scale;
      above_noise += signal;
      params.add(name, i, p_many[k]->value.f32()[i], p,
                 signal ? 1e-6 + rel * std::fabs(p) : 2 * kLearningRate + 1e-6);
    }
  }
  INFO("Adam moments (the gradients): " << moments.text());
  INFO("parameters (" << above_noise << " with a gradient above noise): " << params.text());
  CHECK(moments.outside == 0);
  CHECK(params.outside == 0);
  CHECK(above_noise > 0);
}

// Two epochs of a batch of 24 and a short one of 2: four steps.
void check_short_fit(ModelConfig config) {
  config.n_iter = 2;
  config.batch_size = 24;
  const auto [one, many] = fit_both(config, training_data(26));
  // The losses after the first step carry the rounding Adam amplified (above).
  check_common(one, many, 1e-3);
  CHECK(one.model.optimizer_steps() == 4);
  const auto p_many = many.model.parameters(), p_one = one.model.parameters();
  Closeness params;
  for (std::size_t k = 0; k < p_one.size(); ++k)
    for (std::int64_t i = 0; i < p_one[k]->value.numel(); ++i)
      params.add(p_one[k]->name, i, p_many[k]->value.f32()[i], p_one[k]->value.f32()[i], 4 * 2 * kLearningRate);
  INFO("parameters: " << params.text());
  CHECK(params.outside == 0);
}

ModelConfig config_for(const std::string& representation, const std::string& loss, bool sparse) {
  ModelConfig c = test_support::quick_bpr_config(representation, 24);
  c.loss = loss;
  c.sparse = sparse;
  c.threads = 1;  // ranks share the cores
  c.num_negative_samples = 3;
  c.num_mixtures = 2;
  return c;
}

void check_config(const ModelConfig& config) {
  check_one_step(config, 26);  // 13 + 13 rows at 2 ranks, 8 + 9 + 9 at 3
  check_one_step(config, 2);   // at 3 ranks, rank 0's slice is empty
  check_short_fit(config);
}

void check_every_representation(const std::string& loss) {
  for (const std::string representation : {"pooling", "cnn", "lstm", "mixture"})
    for (const bool sparse : {false, true}) {
      CAPTURE(representation);
      CAPTURE(sparse);
      check_config(config_for(representation, loss, sparse));
    }
}

}  // namespace

TEST_CASE("fit: a batch of 2 leaves a rank of three with nothing") {
  CHECK(distributed::batch_slice(2, 0, 3).size() == 0);
}

TEST_CASE("fit: the world's fit is the one-process fit, bpr, every representation, dense and sparse") {
  check_every_representation("bpr");
}

TEST_CASE("fit: the world's fit is the one-process fit, adaptive_hinge, every representation, dense and sparse") {
  check_every_representation("adaptive_hinge");
}

TEST_CASE("fit: pointwise and hinge losses, and Bloom embeddings") {
  for (const std::string loss : {"pointwise", "hinge"}) {
    CAPTURE(loss);
    check_config(config_for("pooling", loss, false));
  }
  for (const bool sparse : {false, true}) {
    CAPTURE(sparse);
    ModelConfig config = config_for("cnn", "bpr", sparse);
    config.bloom.compression_ratio = 0.5;
    check_config(config);
  }
}

TEST_CASE("fit: a second fit call resumes alike on the world and in one process") {
  ModelConfig config = config_for("lstm", "bpr", true);
  config.n_iter = 1;
  const SequenceInteractions data = training_data(26);
  distributed::Communicator& comm = world();
  Trained one = train(config, data, *distributed::local_communicator());
  Trained many = train(config, data, comm);
  one.model.fit(data, {}, *distributed::local_communicator());
  many.model.fit(data, {}, comm);
  CHECK(ranks_differing_from_rank0(fnv_hex(state_bytes(many.model))) == 0);
  CHECK(many.model.epochs_trained() == 2);
  CHECK(many.model.optimizer_steps() == 4);
  CHECK(many.model.training_state().rng_state == one.model.training_state().rng_state);
}
