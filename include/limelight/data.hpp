// limelight's data pipeline: interactions (user, item, timestamp) with dense
// ids, their conversion into left-padded item sequences exactly as Spotlight's
// Interactions.to_sequence, the user-based and random train/test splits, the
// synthetic Markov-chain generator of ../shared/docs/DESIGN.md, and loaders for delimited
// files and the MovieLens datasets. Item id 0 is padding everywhere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace limelight {

struct SequenceInteractions;

struct Interactions {
  std::vector<std::int32_t> user_ids, item_ids;  // dense ids; item 0 is padding and never a real item
  // Order within a user for to_sequence; empty means the order of the arrays.
  std::vector<std::int64_t> timestamps;
  std::vector<float> ratings, weights;        // optional: empty when absent
  std::int32_t num_users = 0, num_items = 0;  // num_items counts the padding id 0
  // Raw ids from a file, indexed by dense id (item_labels[0] = ""); empty when
  // the ids are not from a file.
  std::vector<std::string> user_labels, item_labels;

  std::size_t size() const { return user_ids.size(); }
  // Error when the arrays differ in length, are empty, or hold an id outside
  // [0, num_users) / [1, num_items).
  void validate() const;
  // Sorts stably by (user, timestamp) and cuts each user's history into windows
  // of max_sequence_length ending at n, n-s, n-2s, ... (s = step_size, 0 meaning
  // max_sequence_length), newest first, users ascending, left-padded with 0.
  // min_sequence_length m > 0 keeps the rows holding at least m items.
  SequenceInteractions to_sequence(int max_sequence_length = 10, int min_sequence_length = 0,
                                   int step_size = 0) const;
  // The interactions at the given indices, in that order, with the same
  // num_users, num_items and labels.
  Interactions subset(const std::vector<std::size_t>& indices) const;
};

struct SequenceInteractions {
  std::vector<std::int32_t> sequences;  // row-major, num_sequences x max_sequence_length, left-padded with 0
  std::vector<std::int32_t> user_ids;   // user of each row
  std::int64_t num_sequences = 0;
  int max_sequence_length = 0;
  std::int32_t num_items = 0;

  // Row i (max_sequence_length ids). Error if i is out of range.
  const std::int32_t* row(std::int64_t i) const;
};

// scikit-learn's murmurhash3_32(int32 key, seed, positive=True): MurmurHash3
// x86_32 over the key's 4 little-endian bytes.
std::uint32_t murmurhash3_32(std::int32_t key, std::uint32_t seed);

// User-based split as Spotlight's: a user is in test when
// (murmurhash3_32(user, hash_seed) % 100) / 100.0 < test_fraction. Interaction
// order is kept. The first form draws hash_seed = Rng(seed).uniform_int(2^32 - 1).
std::pair<Interactions, Interactions> user_based_train_test_split(const Interactions& interactions,
                                                                  double test_fraction,
                                                                  std::uint64_t seed);
std::pair<Interactions, Interactions> user_based_train_test_split_with_hash_seed(
    const Interactions& interactions, double test_fraction, std::uint32_t hash_seed);
// Random split of interactions: test holds size() - floor((1 - test_fraction)
// * size()) interactions chosen uniformly (as Spotlight's cutoff); both parts
// keep the original order.
std::pair<Interactions, Interactions> random_train_test_split(const Interactions& interactions,
                                                              double test_fraction,
                                                              std::uint64_t seed);

// Spotlight's generate_sequential with limelight's Rng (docs/models.md,
// "Synthetic data"): items 1..num_items-1 from an order-`order` Markov chain
// over a nearly doubly stochastic Dirichlet(concentration) transition matrix;
// user ids sorted uniform draws, timestamps 0, 1, 2, ..., ratings all 1.
// The chain runs over (num_items-1)^2 doubles, so num_items is capped at 16385.
Interactions generate_sequential(std::int32_t num_users = 100, std::int32_t num_items = 1000,
                                 std::int64_t num_interactions = 10000, double concentration = 0.1,
                                 int order = 3, std::uint64_t seed = 42);

// Columns are named (needs a header) or given as a 0-based position in digits
// ("0"). An empty timestamp_column means no timestamps (file order), an empty
// rating_column no ratings. Ids are any strings; they become dense ids in order
// of first appearance (users from 0, items from 1) and the raw strings become
// the labels. Fields follow RFC 4180: a field may be quoted ("a,b"), a quote
// inside quotes is doubled (""), and quoted fields may hold the delimiter and
// line breaks; "1" and 1 are the same id. Spaces around fields are trimmed.
// A malformed row is an Error naming file:line, unless skip_malformed, which
// skips it and counts it in last_skipped_rows. numeric_ids demands that user
// and item ids be non-negative decimal integers (as MovieLens's are).
struct DelimitedOptions {
  char delimiter = ',';
  bool header = true;
  std::string user_column = "userId", item_column = "movieId", timestamp_column = "timestamp";
  std::string rating_column;
  bool skip_malformed = false;
  bool numeric_ids = false;
};

// Rows skipped as malformed by the last load on this thread (0 unless skip_malformed).
std::size_t last_skipped_rows();

Interactions load_delimited(const std::string& path, const DelimitedOptions& options);
// A MovieLens directory or ratings file: 100K (u.data: tab, no header, user item
// rating timestamp), 1M/10M (ratings.dat, "::"), latest (ratings.csv with header
// userId,movieId,rating,timestamp). Ratings are kept.
Interactions load_movielens(const std::string& path);
// The ratings file load_movielens reads for `path` (a directory or a file).
std::string movielens_ratings_file(const std::string& path);

// Item names (titles) by the data's own item id, from MovieLens's u.item
// (100K: "id|title|...", Latin-1, returned as UTF-8), movies.dat (1M/10M:
// "id::title::genres"), movies.csv (latest: movieId,title,genres), or any
// comma-separated file with a header whose first column is the id and second
// the name (RFC 4180 quoting). `path` may also be a MovieLens directory or a
// ratings file, whose u.item, movies.csv or movies.dat is then used. Error
// naming file:line for a malformed row or a duplicate id.
std::unordered_map<std::string, std::string> load_item_names(const std::string& path);
// The item names file load_item_names would use for `path`, or "" if none.
std::string find_item_names_file(const std::string& path);

}  // namespace limelight
