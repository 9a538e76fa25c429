// Interactions and SequenceInteractions (include/limelight/data.hpp):
// validation, subsetting and the windowing of each user's history into
// left-padded sequences, matching Spotlight's Interactions.to_sequence row for
// row (checked against fixtures/spotlight/dataset_synthetic.safetensors).
#include <algorithm>
#include <numeric>

#include "limelight/data.hpp"
#include "limelight/error.hpp"

namespace limelight {

void Interactions::validate() const {
  const std::size_t n = user_ids.size();
  LL_CHECK(n > 0, "interactions: empty");
  LL_CHECK(item_ids.size() == n, "interactions: ", n, " user ids but ", item_ids.size(), " item ids");
  LL_CHECK(timestamps.empty() || timestamps.size() == n, "interactions: ", n, " user ids but ",
           timestamps.size(), " timestamps");
  LL_CHECK(ratings.empty() || ratings.size() == n, "interactions: ", n, " user ids but ", ratings.size(),
           " ratings");
  LL_CHECK(weights.empty() || weights.size() == n, "interactions: ", n, " user ids but ", weights.size(),
           " weights");
  LL_CHECK(user_labels.empty() || user_labels.size() == static_cast<std::size_t>(num_users),
           "interactions: ", user_labels.size(), " user labels for ", num_users, " users");
  LL_CHECK(item_labels.empty() || item_labels.size() == static_cast<std::size_t>(num_items),
           "interactions: ", item_labels.size(), " item labels for ", num_items, " items");
  for (std::size_t i = 0; i < n; ++i) {
    const std::int32_t u = user_ids[i], it = item_ids[i];
    LL_CHECK(u >= 0 && u < num_users, "interactions: user id ", u, " at index ", i,
             " is outside [0, num_users=", num_users, ")");
    LL_CHECK(it != 0, "interactions: item id 0 is reserved for padding (at index ", i, ")");
    LL_CHECK(it > 0 && it < num_items, "interactions: item id ", it, " at index ", i,
             " is outside [1, num_items=", num_items, ")");
  }
}

Interactions Interactions::subset(const std::vector<std::size_t>& indices) const {
  Interactions out;
  out.num_users = num_users;
  out.num_items = num_items;
  out.user_labels = user_labels;
  out.item_labels = item_labels;
  const std::size_t n = size();
  auto take = [&](const auto& from, auto& to) {
    if (from.empty()) return;
    to.reserve(indices.size());
    for (std::size_t i : indices) to.push_back(from[i]);
  };
  for (std::size_t i : indices) LL_CHECK(i < n, "interactions: subset index ", i, " >= size ", n);
  take(user_ids, out.user_ids);
  take(item_ids, out.item_ids);
  take(timestamps, out.timestamps);
  take(ratings, out.ratings);
  take(weights, out.weights);
  return out;
}

SequenceInteractions Interactions::to_sequence(int max_sequence_length, int min_sequence_length,
                                               int step_size) const {
  LL_CHECK(max_sequence_length > 0, "to_sequence: max_sequence_length must be positive, got ",
           max_sequence_length);
  LL_CHECK(min_sequence_length >= 0 && min_sequence_length <= max_sequence_length,
           "to_sequence: min_sequence_length must be in [0, max_sequence_length=", max_sequence_length,
           "], got ", min_sequence_length);
  LL_CHECK(step_size >= 0, "to_sequence: step_size must be >= 0 (0 = max_sequence_length), got ",
           step_size);
  validate();
  const std::int64_t L = max_sequence_length;
  const std::int64_t s = step_size == 0 ? L : step_size;
  const std::size_t n = size();

  // Stable sort by (user, timestamp): ties keep the arrays' order.
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  if (timestamps.empty()) {
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return user_ids[a] < user_ids[b]; });
  } else {
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      if (user_ids[a] != user_ids[b]) return user_ids[a] < user_ids[b];
      return timestamps[a] < timestamps[b];
    });
  }

  SequenceInteractions out;
  out.max_sequence_length = max_sequence_length;
  out.num_items = num_items;
  const std::int64_t keep_column = L - min_sequence_length;
  std::vector<std::int32_t> window(static_cast<std::size_t>(L));
  for (std::size_t begin = 0; begin < n;) {
    std::size_t end = begin;
    const std::int32_t user = user_ids[order[begin]];
    while (end < n && user_ids[order[end]] == user) ++end;
    const auto count = static_cast<std::int64_t>(end - begin);
    for (std::int64_t stop = count; stop > 0; stop -= s) {
      const std::int64_t start = std::max<std::int64_t>(stop - L, 0);
      const std::int64_t len = stop - start;
      std::fill(window.begin(), window.end(), 0);
      for (std::int64_t k = 0; k < len; ++k)
        window[static_cast<std::size_t>(L - len + k)] = item_ids[order[begin + static_cast<std::size_t>(start + k)]];
      if (min_sequence_length > 0 && window[static_cast<std::size_t>(keep_column)] == 0) continue;
      out.sequences.insert(out.sequences.end(), window.begin(), window.end());
      out.user_ids.push_back(user);
    }
    begin = end;
  }
  out.num_sequences = static_cast<std::int64_t>(out.user_ids.size());
  return out;
}

const std::int32_t* SequenceInteractions::row(std::int64_t i) const {
  LL_CHECK(i >= 0 && i < num_sequences, "sequences: row ", i, " out of range [0, ", num_sequences, ")");
  return sequences.data() + i * max_sequence_length;
}

}  // namespace limelight
