// Bloom embeddings beyond the shared parity cases (test_parity.cpp runs those):
// the hash table against the reference's, the padding row, dense and sparse
// gradients agreeing, training and serving from a saved file, and bad settings.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "limelight/bloom.hpp"
#include "limelight/model.hpp"
#include "limelight/model_file.hpp"
#include "limelight/safetensors.hpp"
#include "tests/support/shared_dir.hpp"

using namespace limelight;
using doctest::Contains;

namespace {

std::string bloom_fixture(const std::string& name) {
  return test_support::shared_dir() + "/fixtures/spotlight/bloom/" + name + ".safetensors";
}

const char* bloom_cases[] = {"case_bloom_pooling", "case_bloom_lstm", "case_bloom_mixture",
                             "case_bloom_cnn_k3x3_d1x2_l2_relu_res"};

ModelConfig bloom_config(const std::string& representation, bool sparse) {
  ModelConfig c;
  c.representation = parse_representation(representation);
  c.embedding_dim = 6;
  c.loss = "bpr";
  c.sparse = sparse;
  c.bloom.compression_ratio = 0.3;
  c.bloom.num_hash_functions = 3;
  c.seed = 5;
  return c;
}

}  // namespace

TEST_CASE("bloom hash table equals the reference's for every fixture") {
  for (const char* name : bloom_cases) {
    CAPTURE(name);
    auto file = io::SafetensorsFile::open(bloom_fixture(name));
    const auto& md = file.metadata();
    const std::int64_t V = std::stoll(md.at("num_items"));
    const int H = std::stoi(md.at("bloom_num_hash_functions"));
    const std::int64_t rows = bloom_compressed_rows(std::stod(md.at("bloom_compression_ratio")), V);
    CHECK(rows == std::stoll(md.at("bloom_compressed_num_embeddings")));
    const std::vector<std::int64_t> expected = file.i64("bloom.hashes");
    const std::vector<std::int32_t> actual = bloom_hash_table(V, rows, H);
    REQUIRE(actual.size() == expected.size());
    int mismatches = 0;
    for (std::size_t i = 0; i < actual.size(); ++i) mismatches += actual[i] != expected[i];
    CHECK(mismatches == 0);
    for (int h = 0; h < H; ++h) CHECK(actual[static_cast<std::size_t>(h)] == 0);  // padding row
  }
}

TEST_CASE("bloom: some real item hashes to the padding row and it adds nothing") {
  // case_bloom_pooling has real items with a hash of 0; their embedding is the sum of the other rows only.
  auto file = io::SafetensorsFile::open(bloom_fixture("case_bloom_pooling"));
  LoadedModel loaded = load_model(bloom_fixture("case_bloom_pooling"));
  const std::vector<std::int64_t> hashes = file.i64("bloom.hashes");
  const std::vector<float> table = file.f32("item_embeddings.embeddings.weight");
  const std::int64_t D = 8, H = 2;
  std::int64_t item = -1;
  for (std::int64_t i = 1; i < 50 && item < 0; ++i)
    for (std::int64_t h = 0; h < H; ++h)
      if (hashes[static_cast<std::size_t>(i * H + h)] == 0) item = i;
  REQUIRE_MESSAGE(item > 0, "no real item hashes to row 0 in this fixture");
  for (std::int64_t d = 0; d < D; ++d) CHECK(table[static_cast<std::size_t>(d)] == 0.0f);
  // Pooling over the single item gives e/2: compare with the hashed sum.
  std::vector<std::int32_t> seq{static_cast<std::int32_t>(item)};
  Tensor batch = Tensor::from_vector(seq, Shape{1, 1});
  auto [all, last] = loaded.model.user_representation(batch);
  for (std::int64_t d = 0; d < D; ++d) {
    float e = 0.0f;
    for (std::int64_t h = 0; h < H; ++h) e += table[static_cast<std::size_t>(hashes[static_cast<std::size_t>(item * H + h)] * D + d)];
    CHECK(last.f32()[d] == doctest::Approx(e / 2.0f).epsilon(1e-6));
  }
}

TEST_CASE("bloom: sparse and dense gradients agree, row 0 gets none") {
  for (const std::string rep : {"pooling", "cnn", "lstm", "mixture"}) {
    CAPTURE(rep);
    ImplicitSequenceModel dense(bloom_config(rep, false)), sparse(bloom_config(rep, true));
    dense.initialize(40);
    sparse.initialize(40);
    Tensor seq = Tensor::from_vector(std::vector<std::int32_t>{0, 3, 7, 39, 0, 0, 12, 3}, Shape{2, 4});
    Tensor neg = Tensor::from_vector(std::vector<std::int32_t>{5, 0, 7, 21, 1, 2, 3, 39}, Shape{2, 4});
    const double a = dense.compute_gradients(seq, neg), b = sparse.compute_gradients(seq, neg);
    CHECK(a == doctest::Approx(b).epsilon(1e-6));
    for (std::size_t k = 0; k < 2; ++k) {
      const Parameter& pd = *dense.parameters()[k];
      const Parameter& ps = *sparse.parameters()[k];
      REQUIRE(ps.sparse);
      const std::int64_t width = pd.value.dim(1);
      std::vector<float> from_sparse(static_cast<std::size_t>(pd.value.numel()), 0.0f);
      const auto& rows = ps.sparse_grad.rows();
      for (std::size_t r = 0; r < rows.size(); ++r) {
        CHECK(rows[r] != 0);
        for (std::int64_t d = 0; d < width; ++d)
          from_sparse[static_cast<std::size_t>(rows[r] * width + d)] = ps.sparse_grad.values()[r * width + d];
      }
      double worst = 0.0, norm = 0.0;
      for (std::int64_t i = 0; i < pd.value.numel(); ++i) {
        worst = std::max(worst, std::fabs(static_cast<double>(pd.grad.f32()[i]) - from_sparse[static_cast<std::size_t>(i)]));
        norm += std::fabs(pd.grad.f32()[i]);
      }
      CHECK(worst < 1e-7);
      CHECK(norm > 0.0);
      for (std::int64_t d = 0; d < width; ++d) CHECK(pd.grad.f32()[d] == 0.0f);
    }
  }
}

TEST_CASE("bloom: a fitted model saves, reloads and serves the same scores") {
  ModelConfig c = bloom_config("cnn", true);
  c.n_iter = 2;
  c.batch_size = 8;
  c.loss = "adaptive_hinge";
  SequenceInteractions train;
  train.num_items = 30;
  train.max_sequence_length = 5;
  train.num_sequences = 24;
  for (int r = 0; r < 24; ++r)
    for (int t = 0; t < 5; ++t) train.sequences.push_back(t < r % 3 ? 0 : 1 + (r * 7 + t * 3) % 29);
  ImplicitSequenceModel m(c);
  m.fit(train);
  CHECK(m.parameters()[0]->name == "item_embeddings.embeddings.weight");
  CHECK(m.parameters()[0]->value.shape() == Shape{9, 6});
  const std::vector<std::int32_t> seq{4, 9, 2};
  const std::vector<float> before = m.predict(seq);
  LoadedModel back = load_model_from_bytes(serialize_model(m), "bloom.safetensors");
  CHECK(back.model.config().bloom.compression_ratio == 0.3);
  CHECK(back.model.config().bloom.num_hash_functions == 3);
  const std::vector<float> after = back.model.predict(seq);
  REQUIRE(after.size() == before.size());
  for (std::size_t i = 0; i < after.size(); ++i) CHECK(after[i] == before[i]);
  // Training again changes the served scores (the summed table is rebuilt).
  m.fit(train);
  const std::vector<float> later = m.predict(seq);
  bool changed = false;
  for (std::size_t i = 1; i < later.size(); ++i) changed = changed || later[i] != before[i];
  CHECK(changed);
}

TEST_CASE("bloom: bad settings are refused with the setting named") {
  ModelConfig c = bloom_config("pooling", false);
  c.bloom.num_hash_functions = 25;
  CHECK_THROWS_WITH_AS(ImplicitSequenceModel{c}, Contains("num_hash_functions must be in [1, 24], got 25"), Error);
  c.bloom.num_hash_functions = 2;
  c.bloom.compression_ratio = -0.5;
  CHECK_THROWS_WITH_AS(ImplicitSequenceModel{c}, Contains("compression_ratio must be a finite number > 0"), Error);
  c.bloom.compression_ratio = 0.01;
  ImplicitSequenceModel m(c);
  CHECK_THROWS_WITH_AS(m.initialize(50), Contains("gives 0 rows; at least 2 are needed"), Error);
  CHECK_THROWS_WITH_AS(bloom_hash_table(10, 1, 2), Contains("compressed rows must be in [2, 2^31), got 1"), Error);
}

TEST_CASE("bloom: serving threads share one rebuild of the summed table after a change") {
  ModelConfig c = bloom_config("lstm", false);
  ImplicitSequenceModel m(c);
  m.initialize(64);
  const std::vector<std::int32_t> seq{5, 9, 33, 2};
  const std::vector<float> before = m.predict(seq);
  // A write through the accessor invalidates the table; the threads below race to rebuild it.
  m.parameter("item_embeddings.embeddings.weight").value.f32()[6 * 3 + 1] += 0.5f;
  std::vector<std::vector<float>> results(8);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < results.size(); ++i)
    threads.emplace_back([&, i] { results[i] = m.predict(seq); });
  for (std::thread& t : threads) t.join();
  for (const auto& r : results) CHECK(r == results[0]);
  CHECK(results[0] != before);
}
