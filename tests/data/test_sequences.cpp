// Tests of Interactions, to_sequence and the train/test splits: exact parity
// with Spotlight's outputs stored in fixtures/spotlight/dataset_synthetic.safetensors,
// plus validation errors and the invariants of the random splits.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <string>
#include <tuple>

#include "limelight/data.hpp"
#include "limelight/error.hpp"
#include "limelight/safetensors.hpp"
#include "tests/support/shared_dir.hpp"

using limelight::Interactions;

namespace {

std::string fixture_path() {
  return test_support::shared_dir() + "/fixtures/spotlight/dataset_synthetic.safetensors";
}

std::vector<std::int32_t> narrow(const std::vector<std::int64_t>& v) {
  return std::vector<std::int32_t>(v.begin(), v.end());
}

Interactions fixture_interactions(const limelight::io::SafetensorsFile& f, const std::string& prefix) {
  Interactions x;
  x.user_ids = narrow(f.i64(prefix + ".user_ids"));
  x.item_ids = narrow(f.i64(prefix + ".item_ids"));
  x.timestamps = f.i64(prefix + ".timestamps");
  x.num_users = 10;
  x.num_items = 30;
  return x;
}

// Compares the sequences row by row and reports the first few differing rows.
void check_sequences(const limelight::SequenceInteractions& got, const limelight::io::SafetensorsFile& f,
                     const std::string& name) {
  CAPTURE(name);
  const auto expected = f.i64(name + ".sequences");
  const auto expected_users = f.i64(name + ".user_ids");
  const auto& shape = f.info(name + ".sequences").shape;
  REQUIRE(shape.size() == 2);
  CHECK(got.max_sequence_length == shape[1]);
  REQUIRE(got.num_sequences == shape[0]);
  REQUIRE(got.sequences.size() == expected.size());
  REQUIRE(got.user_ids.size() == expected_users.size());
  int reported = 0;
  for (std::int64_t r = 0; r < got.num_sequences; ++r) {
    bool same = got.user_ids[r] == expected_users[r];
    for (std::int64_t c = 0; c < shape[1]; ++c) same = same && got.row(r)[c] == expected[r * shape[1] + c];
    if (!same && reported++ < 3) FAIL_CHECK("row " << r << " differs");
  }
  CHECK(reported == 0);
}

}  // namespace

TEST_CASE("to_sequence matches Spotlight on the synthetic fixture") {
  const auto f = limelight::io::SafetensorsFile::open(fixture_path());
  const Interactions x = fixture_interactions(f, "interactions");
  REQUIRE(x.size() == 300);
  x.validate();
  check_sequences(x.to_sequence(5), f, "seq_len5_stepNone");
  check_sequences(x.to_sequence(5, 3, 2), f, "seq_len5_min3_step2");
  check_sequences(x.to_sequence(5, 0, 1), f, "seq_len5_step1");
  CHECK(x.to_sequence(5).num_items == 30);
}

TEST_CASE("user-based split matches Spotlight given the stored hash seed") {
  const auto f = limelight::io::SafetensorsFile::open(fixture_path());
  const Interactions x = fixture_interactions(f, "interactions");
  const auto hash_seed = static_cast<std::uint32_t>(std::stoull(f.metadata().at("split_hash_seed")));
  CHECK(hash_seed == 327741615u);

  const auto user_hash = f.i64("split.user_hash");
  const auto user_in_test = f.i64("split.user_in_test");
  REQUIRE(user_hash.size() == 10);
  for (std::int32_t u = 0; u < 10; ++u) {
    CAPTURE(u);
    CHECK(limelight::murmurhash3_32(u, hash_seed) == user_hash[u]);
    CHECK(((limelight::murmurhash3_32(u, hash_seed) % 100) / 100.0 < 0.2) == (user_in_test[u] != 0));
  }

  const auto [train, test] = limelight::user_based_train_test_split_with_hash_seed(x, 0.2, hash_seed);
  const Interactions want_train = fixture_interactions(f, "split.train");
  const Interactions want_test = fixture_interactions(f, "split.test");
  CHECK(train.size() == 214);
  CHECK(test.size() == 86);
  CHECK(train.user_ids == want_train.user_ids);
  CHECK(train.item_ids == want_train.item_ids);
  CHECK(train.timestamps == want_train.timestamps);
  CHECK(test.user_ids == want_test.user_ids);
  CHECK(test.item_ids == want_test.item_ids);
  CHECK(test.timestamps == want_test.timestamps);
  CHECK(train.num_users == 10);
  CHECK(test.num_items == 30);
}

TEST_CASE("murmurhash3_32 of negative and large keys") {
  // From a separate byte-wise Python implementation of MurmurHash3_x86_32
  // (the fixture above covers keys 0..9 against scikit-learn itself).
  CHECK(limelight::murmurhash3_32(0, 0) == 593689054u);
  CHECK(limelight::murmurhash3_32(-1, 0) == 1982413648u);
  CHECK(limelight::murmurhash3_32(2147483647, 42) == 133916647u);
}

namespace {

Interactions small() {
  Interactions x;
  // User 1's items 5 and 6 tie on timestamp 2: file order must be kept.
  x.user_ids = {1, 0, 1, 1, 0, 1, 1};
  x.item_ids = {5, 2, 6, 7, 3, 4, 8};
  x.timestamps = {2, 9, 2, 5, 1, 0, 7};
  x.num_users = 2;
  x.num_items = 9;
  return x;
}

std::vector<std::int32_t> rows(const limelight::SequenceInteractions& s) { return s.sequences; }

}  // namespace

TEST_CASE("to_sequence windows, padding, ties and filtering") {
  const Interactions x = small();
  // user 0: 3 2 ; user 1: 4 5 6 7 8
  auto s = x.to_sequence(3);
  CHECK(s.num_sequences == 3);
  CHECK(rows(s) == std::vector<std::int32_t>{0, 3, 2, /**/ 6, 7, 8, /**/ 0, 4, 5});
  CHECK(s.user_ids == std::vector<std::int32_t>{0, 1, 1});

  s = x.to_sequence(3, 0, 1);
  CHECK(s.num_sequences == 7);
  CHECK(rows(s) == std::vector<std::int32_t>{0, 3, 2, 0, 0, 3, 6, 7, 8, 5, 6, 7, 4, 5, 6, 0, 4, 5, 0, 0, 4});

  s = x.to_sequence(3, 2, 1);
  CHECK(rows(s) == std::vector<std::int32_t>{0, 3, 2, 6, 7, 8, 5, 6, 7, 4, 5, 6, 0, 4, 5});
  CHECK(s.user_ids == std::vector<std::int32_t>{0, 1, 1, 1, 1});

  // A step longer than the window skips items, as the reference does.
  s = x.to_sequence(2, 0, 4);
  CHECK(rows(s) == std::vector<std::int32_t>{3, 2, 7, 8, 0, 4});

  // Without timestamps the arrays' order is the order within a user.
  Interactions y = small();
  y.timestamps.clear();
  CHECK(rows(y.to_sequence(5)) == std::vector<std::int32_t>{0, 0, 0, 2, 3, 5, 6, 7, 4, 8});

  CHECK_THROWS_WITH_AS(x.to_sequence(0), doctest::Contains("max_sequence_length"), limelight::Error);
  CHECK_THROWS_WITH_AS(x.to_sequence(3, 4), doctest::Contains("min_sequence_length"), limelight::Error);
  CHECK_THROWS_WITH_AS(x.to_sequence(3, 0, -1), doctest::Contains("step_size"), limelight::Error);
  CHECK_THROWS_AS(s.row(s.num_sequences), limelight::Error);
}

TEST_CASE("Interactions::validate names what is wrong") {
  Interactions x = small();
  CHECK_NOTHROW(x.validate());
  x.item_ids[3] = 0;
  CHECK_THROWS_WITH_AS(x.validate(), doctest::Contains("item id 0 is reserved for padding (at index 3)"),
                       limelight::Error);
  x = small();
  x.item_ids[2] = 9;
  CHECK_THROWS_WITH_AS(x.validate(), doctest::Contains("item id 9 at index 2"), limelight::Error);
  x = small();
  x.user_ids[4] = -1;
  CHECK_THROWS_WITH_AS(x.validate(), doctest::Contains("user id -1 at index 4"), limelight::Error);
  x = small();
  x.timestamps.pop_back();
  CHECK_THROWS_WITH_AS(x.validate(), doctest::Contains("6 timestamps"), limelight::Error);
  x = small();
  x.ratings = {1.0f};
  CHECK_THROWS_WITH_AS(x.validate(), doctest::Contains("1 ratings"), limelight::Error);
  CHECK_THROWS_WITH_AS(Interactions{}.validate(), doctest::Contains("empty"), limelight::Error);
}

TEST_CASE("random split: sizes, disjoint, order kept, seeded") {
  const Interactions x = limelight::generate_sequential(20, 50, 1000, 0.1, 2, 3);
  const auto [train, test] = limelight::random_train_test_split(x, 0.25, 9);
  CHECK(train.size() == 750);
  CHECK(test.size() == 250);
  std::set<std::int64_t> seen;
  for (const auto* part : {&train, &test}) {
    CHECK(std::is_sorted(part->timestamps.begin(), part->timestamps.end()));
    for (std::size_t i = 0; i < part->size(); ++i) {
      const auto t = part->timestamps[i];
      CHECK(seen.insert(t).second);
      CHECK(part->user_ids[i] == x.user_ids[t]);
      CHECK(part->item_ids[i] == x.item_ids[t]);
    }
    CHECK(part->num_items == 50);
    CHECK(part->num_users == 20);
  }
  CHECK(seen.size() == 1000);
  CHECK(limelight::random_train_test_split(x, 0.25, 9).second.timestamps == test.timestamps);
  CHECK(limelight::random_train_test_split(x, 0.25, 10).second.timestamps != test.timestamps);
  CHECK_THROWS_AS(limelight::random_train_test_split(x, 1.5, 9), limelight::Error);
}

TEST_CASE("user-based split: every user on one side") {
  const Interactions x = limelight::generate_sequential(200, 50, 5000, 0.1, 2, 4);
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    const auto [train, test] = limelight::user_based_train_test_split(x, 0.3, seed);
    CHECK(train.size() + test.size() == x.size());
    std::set<std::int32_t> train_users(train.user_ids.begin(), train.user_ids.end());
    std::set<std::int32_t> test_users(test.user_ids.begin(), test.user_ids.end());
    for (auto u : test_users) CHECK(train_users.count(u) == 0);
    // About 30% of 200 users; 3 standard deviations of a binomial is 19.
    const double n_test = static_cast<double>(test_users.size());
    CHECK(std::abs(n_test - 0.3 * static_cast<double>(train_users.size() + test_users.size())) < 20);
  }
  CHECK(limelight::user_based_train_test_split(x, 0.3, 1).second.user_ids !=
        limelight::user_based_train_test_split(x, 0.3, 2).second.user_ids);
  CHECK(limelight::user_based_train_test_split(x, 0.0, 1).second.size() == 0);
  CHECK(limelight::user_based_train_test_split(x, 1.0, 1).first.size() == 0);
  CHECK_THROWS_AS(limelight::user_based_train_test_split(x, -0.1, 1), limelight::Error);
}
