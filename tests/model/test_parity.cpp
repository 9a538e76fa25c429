// Reference parity: for every fixture case (plain and Bloom embeddings), load the reference's initial
// weights and reproduce its representations, predictions, each loss and
// every parameter's gradient, two Adam steps, and predict() scores. Values
// are compared element by element with the fixture README's float32
// tolerances (atol 1e-5, plus rtol 1e-4 for gradients and Adam).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <string>

#include <map>

#include "io/json.hpp"
#include "limelight/adam.hpp"
#include "limelight/model_file.hpp"
#include "limelight/safetensors.hpp"
#include "tests/support/shared_dir.hpp"

using namespace limelight;

namespace {

std::string fixture(const std::string& name) {
  return test_support::shared_dir() + "/fixtures/spotlight/" + name;
}

// Compares `actual` with a fixture tensor, reporting the first mismatches and the largest difference.
void expect_close(const std::string& label, const std::vector<float>& actual, const std::vector<float>& expected,
                  double atol, double rtol) {
  REQUIRE_MESSAGE(actual.size() == expected.size(), label, ": ", actual.size(), " values, expected ", expected.size());
  double worst = 0.0;
  int reported = 0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double diff = std::fabs(static_cast<double>(actual[i]) - expected[i]);
    worst = std::max(worst, diff);
    if (!(diff <= atol + rtol * std::fabs(expected[i])) && reported++ < 3)
      FAIL_CHECK(label << "[" << i << "]: got " << actual[i] << ", expected " << expected[i]);
  }
  CHECK_MESSAGE(reported == 0, label, ": ", reported, " mismatches, max |diff| ", worst);
}

std::vector<float> values(const Tensor& t) { return t.to_vector(); }

// The fixture lays representations out channel-first (B, W, L) (mixture:
// (B, 2M, D, L), the same memory as (B, W, L) with W = 2M*D); ours are (B, L, W).
std::vector<float> channel_first(const Tensor& t) {
  const std::int64_t B = t.dim(0), L = t.dim(1), W = t.dim(2);
  std::vector<float> out(static_cast<std::size_t>(t.numel()));
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t l = 0; l < L; ++l)
      for (std::int64_t w = 0; w < W; ++w) out[static_cast<std::size_t>((b * W + w) * L + l)] = t.f32()[(b * L + l) * W + w];
  return out;
}

// The bloom/ cases are the same checks with Spotlight's BloomEmbedding as the item embedding layer.
const char* cases[] = {"case_pooling", "case_lstm", "case_mixture", "case_cnn_k3_l1_tanh_res",
                       "case_cnn_k3x5_d1x2_l2_relu_res", "case_cnn_k2_d1_l2_tanh_nores",
                       "bloom/case_bloom_pooling", "bloom/case_bloom_lstm", "bloom/case_bloom_mixture",
                       "bloom/case_bloom_cnn_k3x3_d1x2_l2_relu_res"};

LoadedModel load_with(const std::string& path, const std::string& loss, double l2) {
  LoadedModel loaded = load_model(path);
  ModelConfig config = loaded.model.config();
  config.loss = loss;
  config.l2 = l2;
  config.learning_rate = 0.01;
  config.num_negative_samples = 3;
  LoadedModel out{ImplicitSequenceModel(config), {}};
  out.model.initialize(loaded.model.num_items());
  auto src = loaded.model.parameters();
  auto dst = out.model.parameters();
  for (std::size_t i = 0; i < src.size(); ++i) dst[i]->value = src[i]->value.clone();
  return out;
}

}  // namespace

TEST_CASE("fixture parity: representations and predict") {
  for (const char* name : cases) {
    CAPTURE(name);
    const std::string path = fixture(std::string(name) + ".safetensors");
    auto file = io::SafetensorsFile::open(path);
    LoadedModel loaded = load_model(path);
    Tensor seq = file.tensor("input.sequences");
    auto [all, last] = loaded.model.user_representation(seq);
    expect_close(std::string(name) + " out.user_repr_all", channel_first(all), file.f32("out.user_repr_all"), 1e-5, 0);
    expect_close(std::string(name) + " out.user_repr_final", values(last), file.f32("out.user_repr_final"), 1e-5, 0);

    std::vector<float> scores;
    const std::int64_t B = seq.dim(0), L = seq.dim(1);
    for (std::int64_t b = 0; b < B; ++b) {
      auto row = loaded.model.predict(std::span<const std::int32_t>(seq.i32() + b * L, static_cast<std::size_t>(L)));
      scores.insert(scores.end(), row.begin(), row.end());
    }
    expect_close(std::string(name) + " predict.scores", scores, file.f32("predict.scores"), 1e-5, 0);
    // item 0 scores exactly 0: zero embedding, zero bias
    CHECK(scores[0] == 0.0f);
  }
}

TEST_CASE("fixture parity: every loss and every gradient") {
  for (const char* name : cases) {
    const std::string path = fixture(std::string(name) + ".safetensors");
    auto file = io::SafetensorsFile::open(path);
    Tensor seq = file.tensor("input.sequences");
    for (const std::string loss : {"pointwise", "bpr", "hinge", "adaptive_hinge"}) {
      CAPTURE(name);
      CAPTURE(loss);
      LoadedModel m = load_with(path, loss, 0.0);
      Tensor neg = file.tensor(loss == "adaptive_hinge" ? "input.negatives_adaptive" : "input.negatives");
      const double value = m.model.compute_gradients(seq, neg);
      CHECK(value == doctest::Approx(file.f32("loss." + loss)[0]).epsilon(1e-5));
      for (Parameter* p : m.model.parameters())
        expect_close(std::string(name) + " grad." + loss + "." + p->name, values(p->grad),
                     file.f32("grad." + loss + "." + p->name), 1e-5, 1e-4);
    }
  }
}

TEST_CASE("fixture parity: two Adam steps from the stored gradients, moments included") {
  // Adam's arithmetic alone: the reference's own gradients go in, so the
  // parameters and both moment buffers must match to float32 rounding.
  for (const char* name : cases) {
    CAPTURE(name);
    const std::string path = fixture(std::string(name) + ".safetensors");
    auto file = io::SafetensorsFile::open(path);
    const double l2 = json::parse(file.metadata().at("l2")).as_double();
    LoadedModel m = load_with(path, "bpr", l2);
    std::vector<Parameter*> params = m.model.parameters();
    AdamOptions options;
    options.lr = 0.01;
    options.weight_decay = l2;
    Adam adam(params, options);
    for (int step = 1; step <= 2; ++step) {
      for (Parameter* p : params) {
        std::vector<float> g = file.f32((step == 1 ? "grad.bpr." : "adam2.grad.") + p->name);
        std::copy(g.begin(), g.end(), p->grad.f32());
      }
      adam.step();
      const std::string prefix = "adam" + std::to_string(step) + ".";
      for (std::size_t i = 0; i < params.size(); ++i) {
        const std::string& key = params[i]->name;
        expect_close(std::string(name) + " " + prefix + key, values(params[i]->value), file.f32(prefix + key), 1e-6, 1e-5);
        expect_close(std::string(name) + " " + prefix + "exp_avg." + key, values(adam.exp_avg(i)),
                     file.f32(prefix + "exp_avg." + key), 1e-7, 1e-5);
        expect_close(std::string(name) + " " + prefix + "exp_avg_sq." + key, values(adam.exp_avg_sq(i)),
                     file.f32(prefix + "exp_avg_sq." + key), 1e-9, 1e-5);
      }
    }
  }
}

TEST_CASE("fixture parity: two training steps end to end") {
  // Our own gradients go in. Where grad + l2*p nearly cancels (0 < |g| < 1e-7,
  // ten times Adam's eps), the step is about lr*g/(|g|+eps), so float32
  // summation-order differences in g of ~1e-10 move such an element by up to
  // ~1e-4 (the fixture README describes this). Those elements are left to the
  // stored-gradient test above; every other element must match. Step 2 starts
  // from the reference's step-1 parameters, so that one step's ill-conditioned
  // elements do not leak into the next step's gradients.
  for (const char* name : cases) {
    CAPTURE(name);
    const std::string path = fixture(std::string(name) + ".safetensors");
    auto file = io::SafetensorsFile::open(path);
    const double l2 = json::parse(file.metadata().at("l2")).as_double();
    LoadedModel m = load_with(path, "bpr", l2);
    Tensor seq = file.tensor("input.sequences");
    Tensor neg = file.tensor("input.negatives");
    // An exactly zero g (untouched bias, padding row) is not ill-conditioned: the step is exactly 0.
    auto near_cancel = [](double g) { return g != 0.0 && std::fabs(g) < 1e-7; };
    auto compare = [&](const std::string& prefix, const std::string& grad_key, const std::string& before) {
      std::size_t skipped = 0, total = 0;
      for (Parameter* p : m.model.parameters()) {
        std::vector<float> got = values(p->value), want = file.f32(prefix + p->name);
        std::vector<float> g = file.f32(grad_key + p->name), start = file.f32(before + p->name);
        for (std::size_t i = 0; i < got.size(); ++i) {
          ++total;
          if (near_cancel(g[i] + l2 * start[i])) {
            ++skipped;
            got[i] = want[i];
          }
        }
        expect_close(std::string(name) + " " + prefix + p->name, got, want, 1e-5, 1e-4);
      }
      MESSAGE(std::string(name), " ", prefix, ": ", skipped, " of ", total, " elements ill-conditioned, left to the stored-gradient test");
      CHECK_MESSAGE(skipped * 200 < total, skipped, " of ", total, " elements ill-conditioned");
    };
    CHECK(m.model.train_step(seq, neg) == doctest::Approx(file.f32("adam1.loss")[0]).epsilon(1e-5));
    compare("adam1.", "grad.bpr.", "");
    for (Parameter* p : m.model.parameters()) {
      std::vector<float> ref = file.f32("adam1." + p->name);
      std::copy(ref.begin(), ref.end(), p->value.f32());
    }
    CHECK(m.model.train_step(seq, neg) == doctest::Approx(file.f32("adam2.loss")[0]).epsilon(1e-5));
    compare("adam2.", "adam2.grad.", "adam1.");
  }
}
