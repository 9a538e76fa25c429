// Train/test splits (include/limelight/data.hpp). The user-based split hashes
// each user with scikit-learn's murmurhash3_32 exactly as Spotlight does, so
// given the same hash seed it puts the same users in test; the random split
// follows Spotlight's cutoff but keeps both parts in the original order.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "limelight/data.hpp"
#include "limelight/error.hpp"
#include "limelight/random.hpp"

namespace limelight {

namespace {

std::uint32_t rotl32(std::uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

void check_fraction(const char* what, double test_fraction) {
  LL_CHECK(std::isfinite(test_fraction) && test_fraction >= 0.0 && test_fraction <= 1.0, what,
           ": test_fraction must be in [0, 1], got ", test_fraction);
}

}  // namespace

std::uint32_t murmurhash3_32(std::int32_t key, std::uint32_t seed) {
  std::uint32_t k = static_cast<std::uint32_t>(key);
  k *= 0xcc9e2d51u;
  k = rotl32(k, 15);
  k *= 0x1b873593u;
  std::uint32_t h = seed ^ k;
  h = rotl32(h, 13);
  h = h * 5 + 0xe6546b64u;
  h ^= 4u;  // the key's length in bytes
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

std::pair<Interactions, Interactions> user_based_train_test_split_with_hash_seed(
    const Interactions& interactions, double test_fraction, std::uint32_t hash_seed) {
  check_fraction("user_based_train_test_split", test_fraction);
  interactions.validate();
  std::vector<char> in_test(static_cast<std::size_t>(interactions.num_users));
  for (std::int32_t u = 0; u < interactions.num_users; ++u)
    in_test[static_cast<std::size_t>(u)] = (murmurhash3_32(u, hash_seed) % 100) / 100.0 < test_fraction;
  std::vector<std::size_t> train, test;
  for (std::size_t i = 0; i < interactions.size(); ++i)
    (in_test[static_cast<std::size_t>(interactions.user_ids[i])] ? test : train).push_back(i);
  return {interactions.subset(train), interactions.subset(test)};
}

std::pair<Interactions, Interactions> user_based_train_test_split(const Interactions& interactions,
                                                                  double test_fraction,
                                                                  std::uint64_t seed) {
  Rng rng(seed);
  // Spotlight draws randint(0, 2**32 - 1): the top value is excluded.
  const auto hash_seed = static_cast<std::uint32_t>(rng.uniform_int(0xffffffffLL));
  return user_based_train_test_split_with_hash_seed(interactions, test_fraction, hash_seed);
}

std::pair<Interactions, Interactions> random_train_test_split(const Interactions& interactions,
                                                              double test_fraction,
                                                              std::uint64_t seed) {
  check_fraction("random_train_test_split", test_fraction);
  interactions.validate();
  const std::size_t n = interactions.size();
  const auto cutoff = static_cast<std::size_t>((1.0 - test_fraction) * static_cast<double>(n));
  std::vector<std::size_t> perm(n);
  std::iota(perm.begin(), perm.end(), std::size_t{0});
  Rng rng(seed);
  rng.shuffle(perm.begin(), perm.end());
  std::vector<std::size_t> train(perm.begin(), perm.begin() + static_cast<std::ptrdiff_t>(cutoff));
  std::vector<std::size_t> test(perm.begin() + static_cast<std::ptrdiff_t>(cutoff), perm.end());
  std::sort(train.begin(), train.end());
  std::sort(test.begin(), test.end());
  return {interactions.subset(train), interactions.subset(test)};
}

}  // namespace limelight
