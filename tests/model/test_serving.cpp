// Serving and reproducibility promises (docs/reliability.md): one loaded
// model answers predict and recommend from 8 threads at once with results
// bit-identical to single-threaded calls, and on the CPU the same data,
// configuration, seed and thread count give byte-identical model files.
#include <doctest/doctest.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "limelight/model.hpp"
#include "limelight/model_file.hpp"

using namespace limelight;

namespace {

SequenceInteractions small_data(std::uint64_t seed) {
  return generate_sequential(40, 60, 1500, 0.1, 2, seed).to_sequence(8);
}

ModelConfig small_config(const std::string& representation, int threads) {
  ModelConfig c;
  c.representation = parse_representation(representation);
  c.loss = "bpr";
  c.embedding_dim = 8;
  c.n_iter = 2;
  c.batch_size = 32;
  c.num_mixtures = 2;
  c.threads = threads;
  c.seed = 7;
  return c;
}

ImplicitSequenceModel trained(const std::string& representation, int threads, std::uint64_t data_seed = 3) {
  ImplicitSequenceModel model(small_config(representation, threads));
  model.fit(small_data(data_seed));
  return model;
}

// Query i: a sequence of 1..12 ids (padding included) drawn from i.
std::vector<std::int32_t> query(int i, std::int32_t num_items) {
  std::vector<std::int32_t> s(static_cast<std::size_t>(1 + i % 12));
  for (std::size_t j = 0; j < s.size(); ++j)
    s[j] = static_cast<std::int32_t>((static_cast<std::uint32_t>(i) * 2654435761u + j * 40503u) % num_items);
  return s;
}

bool same_floats(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), sizeof(float) * a.size()) == 0;
}

bool same_recs(const std::vector<Recommendation>& a, const std::vector<Recommendation>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].item != b[i].item || std::memcmp(&a[i].score, &b[i].score, sizeof(float)) != 0) return false;
  return true;
}

// 8 threads share `model`; call i is predict (even i) or recommend (odd i) on
// query(i % distinct). Returns how many answers differed from `predicted` /
// `recommended`, the single-threaded answers.
long mismatches_under_load(const ImplicitSequenceModel& model, int calls, int distinct,
                           const std::vector<std::vector<float>>& predicted,
                           const std::vector<std::vector<Recommendation>>& recommended) {
  constexpr int kThreads = 8;
  std::atomic<long> bad{0};
  std::atomic<int> next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t)
    pool.emplace_back([&] {
      const std::int32_t n = model.num_items();
      for (int i = next++; i < calls; i = next++) {
        const int q = i % distinct;
        const std::vector<std::int32_t> s = query(q, n);
        if (i % 2 == 0) {
          if (!same_floats(model.predict(s), predicted[static_cast<std::size_t>(q)])) ++bad;
        } else if (!same_recs(model.recommend(s, 10, q % 3 == 0), recommended[static_cast<std::size_t>(q)])) {
          ++bad;
        }
      }
    });
  for (std::thread& t : pool) t.join();
  return bad.load();
}

void check_serving(const std::string& representation, int calls) {
  const ImplicitSequenceModel original = trained(representation, 1);
  // Serve a model as it comes from a file, as the command line does.
  const LoadedModel loaded = load_model_from_bytes(serialize_model(original), representation + " model");
  const ImplicitSequenceModel& model = loaded.model;
  const int distinct = 256;
  std::vector<std::vector<float>> predicted;
  std::vector<std::vector<Recommendation>> recommended;
  for (int q = 0; q < distinct; ++q) {
    const std::vector<std::int32_t> s = query(q, model.num_items());
    predicted.push_back(model.predict(s));
    recommended.push_back(model.recommend(s, 10, q % 3 == 0));
    REQUIRE(same_floats(predicted.back(), original.predict(s)));
  }
  CHECK(mismatches_under_load(model, calls, distinct, predicted, recommended) == 0);
}

}  // namespace

TEST_CASE("serving: 8 threads, 100000 predict/recommend calls on one loaded lstm model match single-threaded") {
  check_serving("lstm", 100000);
}

TEST_CASE("serving: every representation answers 8 threads at once as it answers one") {
  for (const char* rep : {"pooling", "cnn", "mixture"}) {
    CAPTURE(rep);
    check_serving(rep, 8000);
  }
}

TEST_CASE("reproducibility: same data, configuration, seed and thread count give identical model files") {
  for (const char* rep : {"pooling", "cnn", "lstm", "mixture"}) {
    for (int threads : {1, 2}) {
      CAPTURE(rep);
      CAPTURE(threads);
      const std::string a = serialize_model(trained(rep, threads));
      const std::string b = serialize_model(trained(rep, threads));
      CHECK(a == b);
    }
    // The comparison can fail: other data gives another file.
    CHECK(serialize_model(trained(rep, 1, 3)) != serialize_model(trained(rep, 1, 4)));
  }
}

TEST_CASE("reproducibility: training in two fit calls equals one model trained the same way twice") {
  ImplicitSequenceModel a(small_config("cnn", 1)), b(small_config("cnn", 1));
  const SequenceInteractions data = small_data(5);
  a.fit(data);
  a.fit(data);
  b.fit(data);
  b.fit(data);
  CHECK(serialize_model(a) == serialize_model(b));
}

TEST_CASE("reproducibility: initial weights depend on the seed, not on the thread count") {
  auto table = [](int threads, std::uint64_t seed) {
    ModelConfig c = small_config("lstm", threads);
    c.seed = seed;
    ImplicitSequenceModel model(c);
    model.initialize(70000);  // 34 blocks of normal draws: split across threads
    const Tensor& e = model.parameter("item_embeddings.weight").value;
    return std::vector<float>(e.f32(), e.f32() + e.numel());
  };
  const std::vector<float> one = table(1, 7);
  CHECK(same_floats(one, table(2, 7)));
  CHECK(same_floats(one, table(3, 7)));
  CHECK_FALSE(same_floats(one, table(2, 8)));
}
