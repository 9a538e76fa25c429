// Tests of generate_sequential: the shape of its output, reproducibility, and
// that the concentration controls predictability (a transition-count model
// beats chance by far at low concentration and not at high concentration).
#include <doctest/doctest.h>

#include <algorithm>
#include <vector>

#include "limelight/data.hpp"
#include "limelight/error.hpp"

namespace {

// Fits next-item counts on the first 80% of the item stream and returns the
// accuracy of predicting each next item as the most frequent successor.
double first_order_accuracy(const limelight::Interactions& x) {
  const auto n = static_cast<std::size_t>(x.num_items);
  const std::size_t cut = x.size() * 8 / 10;
  std::vector<int> counts(n * n, 0);
  for (std::size_t t = 1; t < cut; ++t) ++counts[static_cast<std::size_t>(x.item_ids[t - 1]) * n + x.item_ids[t]];
  std::size_t hits = 0;
  for (std::size_t t = cut; t < x.size(); ++t) {
    const int* row = counts.data() + static_cast<std::size_t>(x.item_ids[t - 1]) * n;
    const auto best = std::max_element(row, row + n) - row;
    hits += best == x.item_ids[t];
  }
  return static_cast<double>(hits) / static_cast<double>(x.size() - cut);
}

}  // namespace

TEST_CASE("generate_sequential: layout of the interactions") {
  const auto x = limelight::generate_sequential(10, 30, 300, 0.01, 2, 7);
  CHECK_NOTHROW(x.validate());
  REQUIRE(x.size() == 300);
  CHECK(x.num_users == 10);
  CHECK(x.num_items == 30);
  CHECK(std::is_sorted(x.user_ids.begin(), x.user_ids.end()));
  for (std::size_t t = 0; t < x.size(); ++t) {
    CHECK(x.timestamps[t] == static_cast<std::int64_t>(t));
    CHECK(x.ratings[t] == 1.0f);
    CHECK(x.item_ids[t] >= 1);
    CHECK(x.item_ids[t] <= 29);
  }
  CHECK(x.user_labels.empty());
  const auto again = limelight::generate_sequential(10, 30, 300, 0.01, 2, 7);
  CHECK(again.item_ids == x.item_ids);
  CHECK(again.user_ids == x.user_ids);
  CHECK(limelight::generate_sequential(10, 30, 300, 0.01, 2, 8).item_ids != x.item_ids);
  // Defaults: 100 users, 1000 items, 10000 interactions.
  const auto d = limelight::generate_sequential();
  CHECK(d.size() == 10000);
  CHECK(d.num_items == 1000);
  CHECK(*std::max_element(d.item_ids.begin(), d.item_ids.end()) <= 999);
}

TEST_CASE("generate_sequential: concentration controls predictability") {
  // 100 real items: chance is 1%.
  const double low = first_order_accuracy(limelight::generate_sequential(100, 101, 20000, 0.001, 1, 1));
  const double high = first_order_accuracy(limelight::generate_sequential(100, 101, 20000, 100.0, 1, 1));
  const double low_order3 = first_order_accuracy(limelight::generate_sequential(100, 101, 20000, 0.001, 3, 1));
  MESSAGE("first-order accuracy, 100 items: concentration 0.001 order 1: ", low,
          "; order 3: ", low_order3, "; concentration 100 order 1: ", high);
  CHECK(low > 0.5);
  CHECK(high < 0.03);
  CHECK(low_order3 > 0.25);  // three equally likely successors: about 1/3
}

TEST_CASE("generate_sequential: argument errors") {
  using limelight::generate_sequential;
  CHECK_THROWS_WITH_AS(generate_sequential(0), doctest::Contains("num_users"), limelight::Error);
  CHECK_THROWS_WITH_AS(generate_sequential(10, 1), doctest::Contains("num_items"), limelight::Error);
  CHECK_THROWS_WITH_AS(generate_sequential(10, 100000), doctest::Contains("num_items"), limelight::Error);
  CHECK_THROWS_WITH_AS(generate_sequential(10, 30, 0), doctest::Contains("num_interactions"),
                       limelight::Error);
  CHECK_THROWS_WITH_AS(generate_sequential(10, 30, 10, 0.0), doctest::Contains("concentration"),
                       limelight::Error);
  CHECK_THROWS_WITH_AS(generate_sequential(10, 30, 10, 0.1, 0), doctest::Contains("order"), limelight::Error);
}
