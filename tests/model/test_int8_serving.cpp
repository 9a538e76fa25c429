// The int8 item table (ServingPrecision::int8): its top k must be the float32
// path's, item for item and bit for bit, because the candidates it rescores
// provably hold the exact top k. Checked against CpuBackend::top_k_catalogue
// on random and adversarial tables (exact duplicates, near ties far below the
// quantisation step), with exclusions, k beyond the catalogue, one and
// several rows and thread counts 1 and 2; then through the model's recommend
// calls and their error paths.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "backend/backend.hpp"
#include "backend/cpu/quantised_table.hpp"
#include "limelight/model.hpp"
#include "limelight/random.hpp"

using namespace limelight;
using doctest::Contains;

namespace {

struct Case {
  std::int64_t V, D, rows;
  int k;
};

// Draws a (V, D) table, biases and states; `ties` makes the table adversarial:
// rows repeat a few base rows exactly or with perturbations of 1e-6, so many
// scores tie or nearly tie well inside the int8 error.
struct Tables {
  std::vector<float> table, bias, states;
  std::vector<unsigned char> excluded;
};

Tables draw(const Case& c, bool ties, std::uint64_t seed) {
  Rng rng(seed);
  Tables t;
  t.table.resize(static_cast<std::size_t>(c.V * c.D));
  t.bias.resize(static_cast<std::size_t>(c.V));
  t.states.resize(static_cast<std::size_t>(c.rows * c.D));
  for (auto& x : t.table) x = static_cast<float>(rng.normal());
  for (auto& x : t.bias) x = static_cast<float>(0.1 * rng.normal());
  for (auto& x : t.states) x = static_cast<float>(rng.normal());
  if (ties) {
    for (std::int64_t v = 0; v < c.V; ++v) {
      const std::int64_t base = v % 5;
      for (std::int64_t d = 0; d < c.D; ++d)
        t.table[v * c.D + d] = t.table[base * c.D + d] + (v % 3 == 0 ? 0.0f : 1e-6f * static_cast<float>(v % 7));
      t.bias[v] = v % 2 == 0 ? 0.25f : 0.25f + 1e-7f;
    }
  }
  t.excluded.assign(static_cast<std::size_t>(c.V), 0);
  t.excluded[0] = 1;
  for (std::int64_t v = 1; v < c.V; v += 7) t.excluded[v] = 1;
  return t;
}

// Returns the number of rows whose answers differ from the float32 pass.
int differing_rows(const Case& c, const Tables& t, cpu::QuantisedTopKStats* stats) {
  backend::Backend& be = backend::get(Device::cpu);
  const cpu::QuantisedTable q = cpu::quantise_item_table(t.table.data(), t.bias.data(), c.V, c.D);
  const auto n = static_cast<std::size_t>(c.rows * c.k);
  std::vector<backend::ScoredItem> want(n), got(n);
  std::vector<std::size_t> want_counts(c.rows), got_counts(c.rows);
  Arena arena;
  be.top_k_catalogue(t.states.data(), c.rows, t.table.data(), t.bias.data(), c.V, c.D, 0, t.excluded.data(), c.k,
                     want.data(), want_counts.data(), arena);
  arena.reset();
  cpu::top_k_catalogue_int8(q, t.states.data(), c.rows, t.table.data(), t.bias.data(), t.excluded.data(), c.k,
                            got.data(), got_counts.data(), arena, stats);
  int bad = 0;
  for (std::int64_t r = 0; r < c.rows; ++r) {
    bool same = want_counts[r] == got_counts[r];
    for (std::size_t i = 0; same && i < want_counts[r]; ++i) {
      const auto& a = want[r * c.k + i];
      const auto& b = got[r * c.k + i];
      same = a.item == b.item && std::memcmp(&a.score, &b.score, sizeof(float)) == 0;
    }
    bad += !same;
  }
  return bad;
}

}  // namespace

TEST_CASE("int8 item table: the float32 pass's top k, exactly, on random and near-tie tables") {
  const Case cases[] = {{1, 4, 1, 3},    {7, 5, 1, 10},   {515, 8, 1, 10},  {3000, 32, 1, 10},
                        {3000, 32, 3, 10}, {20011, 16, 1, 1}, {20011, 16, 8, 10}, {40, 3, 2, 100}};
  int rescored = 0;
  for (int threads : {1, 2}) {
    backend::get(Device::cpu).set_threads(threads);
    for (const Case& c : cases)
      for (bool ties : {false, true}) {
        CAPTURE(threads);
        CAPTURE(c.V);
        CAPTURE(c.D);
        CAPTURE(c.rows);
        CAPTURE(c.k);
        CAPTURE(ties);
        cpu::QuantisedTopKStats stats;
        CHECK(differing_rows(c, draw(c, ties, 17 + static_cast<std::uint64_t>(c.V)), &stats) == 0);
        rescored += !stats.fell_back;
      }
  }
  backend::get(Device::cpu).set_threads(0);
  // The comparison must have exercised the int8 scan, not only its fallback.
  CHECK(rescored >= 8);
}

TEST_CASE("int8 item table: the portable scan and the AVX2 one give the float32 answers") {
  // The same comparison with the one-row scan forced to the portable loop
  // (where the CPU has AVX2 the first test ran the AVX2 scan).
  const Case cases[] = {{7, 5, 1, 10}, {515, 8, 1, 10}, {3000, 33, 1, 10}, {20011, 16, 1, 1}, {20011, 31, 1, 10}};
  for (bool portable : {true, false}) {
    cpu::force_portable_int8_scan(portable);
    CAPTURE(cpu::int8_scan_kernel());
    if (portable) CHECK(std::string(cpu::int8_scan_kernel()) == "portable");
    for (const Case& c : cases)
      for (bool ties : {false, true}) {
        CAPTURE(c.V);
        CAPTURE(c.D);
        CAPTURE(ties);
        cpu::QuantisedTopKStats stats;
        CHECK(differing_rows(c, draw(c, ties, 5 + static_cast<std::uint64_t>(c.V)), &stats) == 0);
        if (c.V > 10000 && !ties) CHECK_FALSE(stats.fell_back);
      }
  }
  cpu::force_portable_int8_scan(false);
}

TEST_CASE("int8 item table: several threads rescore blocks, and big batches take the float32 pass") {
  backend::get(Device::cpu).set_threads(2);
  // Rows whose candidates fall in tens of blocks, out of hundreds: enough
  // work to split the rescoring between two threads, few enough blocks not
  // to fall back.
  cpu::QuantisedTopKStats stats;
  for (const Case c : {Case{100000, 32, 2, 10}, Case{200000, 16, 4, 10}}) {
    CAPTURE(c.V);
    CAPTURE(c.rows);
    CHECK(differing_rows(c, draw(c, false, 11), &stats) == 0);
    CHECK_FALSE(stats.fell_back);
    CHECK(stats.rescore_threads == 2);
    CHECK(stats.blocks_rescored > 1);
  }
  // One row more than the scan takes: answered by the float32 pass directly.
  const Case big{3000, 8, cpu::int8_scan_max_rows + 1, 10};
  CHECK(differing_rows(big, draw(big, false, 12), &stats) == 0);
  CHECK(stats.batch_direct);
  CHECK(stats.fell_back);
  backend::get(Device::cpu).set_threads(0);
}

TEST_CASE("int8 item table: random catalogues use the scan and rescore few items") {
  const Case c{20011, 16, 1, 10};
  cpu::QuantisedTopKStats stats;
  CHECK(differing_rows(c, draw(c, false, 3), &stats) == 0);
  CHECK_FALSE(stats.fell_back);
  CHECK(stats.candidates >= 10);
  CHECK(stats.candidates < 2000);
}

TEST_CASE("int8 item table: a non-finite table falls back to the float32 pass") {
  const Case c{600, 4, 1, 5};
  Tables t = draw(c, false, 9);
  t.table[123 * 4 + 2] = std::numeric_limits<float>::infinity();
  cpu::QuantisedTopKStats stats;
  CHECK(differing_rows(c, t, &stats) == 0);
  CHECK(stats.fell_back);
}

namespace {

bool same_recs(const std::vector<Recommendation>& a, const std::vector<Recommendation>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].item != b[i].item || std::memcmp(&a[i].score, &b[i].score, sizeof(float)) != 0) return false;
  return true;
}

// Every recommend call of `model` under int8 against float32: one sequence
// (histories of 1 to 9 ids, padding included, all-padding too) and batches,
// with and without seen items, k of 10 and beyond the catalogue.
int int8_mismatches(ImplicitSequenceModel& model) {
  const std::int32_t V = model.num_items();
  Rng rng(21);
  const std::int64_t rows = 5, length = 9;
  std::vector<std::int32_t> seqs(rows * length);
  for (auto& x : seqs) x = static_cast<std::int32_t>(rng.uniform_int(V));
  std::fill(seqs.begin(), seqs.begin() + length, 0);  // an all-padding history
  int bad = 0;
  for (int k : {10, V + 5})
    for (bool exclude : {false, true}) {
      std::vector<std::vector<Recommendation>> answers[2];
      std::vector<Recommendation> batch[2];
      std::vector<std::size_t> counts[2];
      for (int p = 0; p < 2; ++p) {
        model.set_serving_precision(p == 0 ? ServingPrecision::f32 : ServingPrecision::int8);
        for (std::int64_t r = 0; r < rows; ++r)
          for (std::int64_t len = 1; len <= length; len += 4)
            answers[p].push_back(model.recommend(std::span(seqs.data() + r * length, len), k, exclude));
        batch[p].resize(static_cast<std::size_t>(rows * k));
        counts[p].resize(rows);
        model.recommend_batch(seqs.data(), rows, length, k, exclude, batch[p].data(), counts[p].data());
      }
      for (std::size_t i = 0; i < answers[0].size(); ++i) bad += !same_recs(answers[0][i], answers[1][i]);
      bad += counts[0] != counts[1];
      for (std::int64_t r = 0; r < rows; ++r)
        bad += !same_recs(std::vector(batch[0].begin() + r * k, batch[0].begin() + r * k + counts[0][r]),
                          std::vector(batch[1].begin() + r * k, batch[1].begin() + r * k + counts[1][r]));
    }
  model.set_serving_precision(ServingPrecision::f32);
  return bad;
}

// The int8 path for models of any size while it lives (by default a table
// that fits the last-level cache is served from float32).
struct Int8OnSmallTables {
  std::int64_t saved = cpu::int8_min_table_bytes();
  Int8OnSmallTables() { cpu::set_int8_min_table_bytes(0); }
  ~Int8OnSmallTables() { cpu::set_int8_min_table_bytes(saved); }
};

}  // namespace

TEST_CASE("int8 item table: only tables bigger than the cutoff take the int8 path") {
  CHECK(cpu::int8_min_table_bytes() == (std::int64_t{32} << 20));
  CHECK_FALSE(cpu::int8_table_pays(2051, 12));
  CHECK_FALSE(cpu::int8_table_pays(262144, 32));  // exactly 32 MiB
  CHECK(cpu::int8_table_pays(262145, 32));
  {
    const Int8OnSmallTables all;
    CHECK(cpu::int8_table_pays(2051, 12));
  }
  CHECK_FALSE(cpu::int8_table_pays(2051, 12));
}

TEST_CASE("int8 item table: recommend and recommend_batch answer as float32 for pooling, cnn, lstm and Bloom") {
  const Int8OnSmallTables all;
  for (const std::string rep : {"pooling", "cnn", "lstm", "bloom"}) {
    ModelConfig c;
    c.representation = parse_representation(rep == "bloom" ? "pooling" : rep);
    if (rep == "bloom") c.bloom.compression_ratio = 0.5;
    c.embedding_dim = 12;
    c.seed = 4;
    ImplicitSequenceModel model(c);
    model.initialize(2051);
    CAPTURE(rep);
    CHECK(int8_mismatches(model) == 0);
  }
}

TEST_CASE("int8 item table: rebuilt after the parameters change") {
  const Int8OnSmallTables all;
  ModelConfig c;
  c.embedding_dim = 6;
  ImplicitSequenceModel model(c);
  model.initialize(300);
  model.set_serving_precision(ServingPrecision::int8);
  const std::vector<std::int32_t> seq{3, 5, 8};
  const auto before = model.recommend(seq, 5);
  // Item 77 becomes the best by far, and the others' rows change.
  model.parameter("item_biases.weight").value.f32()[77] = 1000.0f;
  float* rows = model.parameter("item_embeddings.weight").value.f32();
  for (int i = 6; i < 300 * 6; ++i) rows[i] = -rows[i];
  const auto after = model.recommend(seq, 5);
  CHECK(after[0].item == 77);
  model.set_serving_precision(ServingPrecision::f32);
  CHECK(same_recs(after, model.recommend(seq, 5)));
  CHECK_FALSE(same_recs(before, after));
}

TEST_CASE("int8 item table: errors name the value and the reason") {
  CHECK(parse_serving_precision("f32") == ServingPrecision::f32);
  CHECK(parse_serving_precision("int8") == ServingPrecision::int8);
  CHECK(std::string(serving_precision_name(ServingPrecision::int8)) == "int8");
  CHECK_THROWS_WITH_AS(parse_serving_precision("bf16"),
                       Contains("unknown item table precision 'bf16' (expected f32 or int8)"), Error);
  CHECK_THROWS_WITH_AS(parse_serving_precision(""), Contains("unknown item table precision ''"), Error);
  ModelConfig c;
  c.representation = Representation::mixture;
  ImplicitSequenceModel mixture(c);
  CHECK_THROWS_WITH_AS(mixture.set_serving_precision(ServingPrecision::int8), Contains("mixture"), Error);
  CHECK(mixture.serving_precision() == ServingPrecision::f32);
  CHECK_THROWS_WITH_AS(mixture.set_serving_precision(static_cast<ServingPrecision>(7)), Contains("unknown precision 7"),
                       Error);
}
