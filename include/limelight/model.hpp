// ImplicitSequenceModel: Spotlight's sequence recommender. Given the items a
// user interacted with, in order, it scores every item as the next one.
//
// Configuration names and defaults follow the reference. Item ids are dense,
// 1..num_items-1, with 0 the padding id. A model is usable from several
// threads for predict/recommend/score_batch at once (each thread gets its own
// workspace); fit and the parameter accessors need exclusive access.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "limelight/data.hpp"
#include "limelight/evaluation.hpp"
#include "limelight/tape.hpp"

namespace limelight {

namespace distributed {
class Communicator;
}

struct CnnOptions {
  std::vector<int> kernel_width{3};  // one per layer (a single value applies to all layers)
  std::vector<int> dilation{1};      // one per layer (a single value applies to all layers)
  int num_layers = 1;
  std::string nonlinearity = "tanh";  // tanh | relu
  bool residual = true;
};

// Bloom-compressed item embeddings (include/limelight/bloom.hpp); off while
// compression_ratio is 0. The reference's BloomEmbedding defaults are 0.2 and 4.
struct BloomOptions {
  double compression_ratio = 0.0;  // 0: a plain (num_items, D) table
  int num_hash_functions = 4;
  bool enabled() const { return compression_ratio != 0.0; }
};

// The network that turns a user's items into their state (docs/models.md).
// Each has one name, the one model files, the command line and Python use.
enum class Representation { pooling, cnn, lstm, mixture };
// "pooling", "cnn", "lstm" or "mixture"; Error listing them otherwise.
Representation parse_representation(std::string_view name);
const char* representation_name(Representation representation);

struct ModelConfig {
  Representation representation = Representation::pooling;
  std::string loss = "pointwise";  // pointwise | bpr | hinge | adaptive_hinge
  int embedding_dim = 32;
  int n_iter = 10;
  int batch_size = 256;
  double l2 = 0.0;
  double learning_rate = 1e-2;
  std::string optimizer = "adam";  // the only optimizer the reference uses by default
  bool sparse = false;             // row-sparse embedding gradients and lazy Adam
  std::uint64_t seed = 42;
  int num_negative_samples = 5;    // adaptive_hinge only
  CnnOptions cnn;
  int num_mixtures = 4;
  BloomOptions bloom;
  std::string device = "cpu";
  int threads = 0;                 // CPU threads for fit (process-wide); 0: OpenMP's default (OMP_NUM_THREADS, else all cores)

  void validate() const;  // Error naming the offending field
};

struct EpochReport {
  int epoch = 0;        // 0-based, counting over all fit calls
  double loss = 0.0;    // mean minibatch loss
  double seconds = 0.0;
};

struct FitCallbacks {
  std::function<void(const EpochReport&)> on_epoch;
  // After every minibatch: batches done and total in this epoch.
  std::function<void(std::int64_t done, std::int64_t total)> on_batch;
};

// What fit() carries from one call to the next: the epochs trained, Adam's
// step count and moments (one pair per parameter, in parameters() order) and
// the training random generator's state. Saved with the parameters and
// restored into a model of the same configuration, it makes the next fit()
// continue exactly as an uninterrupted run would.
struct TrainingState {
  int epochs = 0;
  std::int64_t optimizer_steps = 0;
  std::vector<Tensor> exp_avg, exp_avg_sq;
  std::array<std::uint64_t, 4> rng_state{};
};

struct Recommendation {
  std::int32_t item = 0;
  float score = 0.0f;
};

// The item table that top-k serving (recommend, recommend_into,
// recommend_batch) scans. int8: a copy of the table quantised per row (a
// quarter of the bytes), built in memory on first use, whose candidates are
// rescored in float32 so that the items and scores returned are the float32
// path's, exactly (see docs/api.md). predict and score_batch always score
// in float32. Model files are unchanged.
enum class ServingPrecision { f32, int8 };
// "f32" or "int8"; Error naming the value otherwise.
ServingPrecision parse_serving_precision(std::string_view name);
const char* serving_precision_name(ServingPrecision precision);

class ImplicitSequenceModel : public SequenceScorer {
 public:
  explicit ImplicitSequenceModel(ModelConfig config = {});
  ~ImplicitSequenceModel() override;
  ImplicitSequenceModel(ImplicitSequenceModel&&) noexcept;
  ImplicitSequenceModel& operator=(ImplicitSequenceModel&&) noexcept;

  // Builds the network for a catalogue of num_items ids (0 included) with the
  // seeded initialisation. fit() calls it on first use.
  void initialize(std::int32_t num_items);
  // The same with the item table sharded across the ranks of `comm` (every
  // rank calls it): this rank builds only its contiguous block of the item
  // embeddings and biases (their values those of the one-process model),
  // and Adam keeps moments only for those rows. fit(train, callbacks, comm)
  // then trains it, fetching the rows each step needs from their owners.
  // A sharded model does not serve (predict and recommend raise); the
  // ranks together write an ordinary model file (save_model_gathered in
  // <limelight/model_file.hpp>), which one process serves.
  void initialize(std::int32_t num_items, distributed::Communicator& comm);
  bool initialized() const;
  // Whether this rank holds only its block of the item table.
  bool items_sharded() const;
  // Scores (rows, this rank's items) of the final states of `sequences`
  // (rows, length): with a sharded table, of the items of this rank's block
  // (every rank calls it with its own rows, in step: the sequences' items
  // come from their owners); otherwise score_batch's.
  void score_own_items(const std::int32_t* sequences, std::int64_t rows, std::int64_t length, float* scores) const;
  // The ids [begin, end) score_own_items scores.
  std::pair<std::int64_t, std::int64_t> own_items() const;
  // recommend_batch over a table sharded across the ranks (every rank calls
  // it with the same rows, in step): each rank's top k of its own block
  // (padding and, with exclude_seen, the row's items left out), merged under
  // "higher score, then lower id", the order one process ranks in: one
  // process's items, scores and order, on every rank. Without a sharded
  // table, recommend_batch's.
  void recommend_across_ranks(const std::int32_t* sequences, std::int64_t rows, std::int64_t length, int k,
                              bool exclude_seen, Recommendation* out, std::size_t* counts) const;

  // Trains for config().n_iter epochs; calling it again resumes training.
  // Error if an epoch's loss is NaN or exactly 0, naming the epoch.
  void fit(const SequenceInteractions& train, const FitCallbacks& callbacks = {});
  // The same training on every rank of `comm` (include/limelight/
  // distributed.hpp), data-parallel: every rank holds the same model and
  // data and draws the same shuffles and negatives as one process; each
  // computes the gradients of its slice of every global minibatch, the
  // gradients are summed across ranks and every rank takes the same Adam
  // step. The result is the one-process fit's up to float32 summation order.
  // Every rank calls it with the same arguments; callbacks run on every rank.
  void fit(const SequenceInteractions& train, const FitCallbacks& callbacks, distributed::Communicator& comm);

  // Scores for one sequence (any length >= 1, padding allowed): one score per
  // id in item_ids, or per id 0..num_items-1 when item_ids is empty.
  std::vector<float> predict(std::span<const std::int32_t> sequence,
                             std::span<const std::int32_t> item_ids = {}) const;
  // The k best items for a sequence, best first (ties: lower id first). With
  // exclude_seen, items of the sequence are skipped; the padding id never appears.
  std::vector<Recommendation> recommend(std::span<const std::int32_t> sequence, int k,
                                        bool exclude_seen = false) const;

  // recommend() into caller memory (out.size() >= k): returns how many were
  // written. Allocation-free after a thread's first call, like score_batch.
  std::size_t recommend_into(std::span<const std::int32_t> sequence, int k, bool exclude_seen,
                             std::span<Recommendation> out) const;

  // recommend() for `rows` sequences of `length` ids each (row-major, padding
  // allowed) in one blocked pass over the catalogue for all rows, never
  // writing a (rows, num_items) score matrix (except, with exclude_seen, for
  // an item table of at most 1 MiB, whose rows' scores stay in cache): row
  // r's results go to out[r * k, ...), and counts[r] says how many. Scores
  // are score_batch's. Allocation-free after a thread's first call of the
  // largest size.
  void recommend_batch(const std::int32_t* sequences, std::int64_t rows, std::int64_t length, int k,
                       bool exclude_seen, Recommendation* out, std::size_t* counts) const;

  // The item table top-k serving scans (default f32). int8 serves pooling,
  // cnn and lstm models on device 'cpu' (Error otherwise, naming why); its
  // copy is rebuilt on the first call after the parameters change. Needs
  // exclusive access, like fit.
  void set_serving_precision(ServingPrecision precision);
  ServingPrecision serving_precision() const;

  // SequenceScorer: scores of every item for each row. Allocation-free after
  // a thread's first call of the largest size.
  std::int32_t num_items() const override;
  void score_batch(const std::int32_t* sequences, std::int64_t rows, std::int64_t length,
                   float* scores) const override;

  const ModelConfig& config() const;
  // Parameters in the reference's state_dict order, named as it names them.
  // Writing through the non-const accessors is allowed until the next
  // predict/recommend/score_batch call (a Bloom model rebuilds its summed item
  // table then); call the accessor again before writing after serving.
  std::vector<Parameter*> parameters();
  std::vector<const Parameter*> parameters() const;
  Parameter& parameter(const std::string& name);

  // One optimisation step on a batch (B, L) with given negatives: (B, L) for
  // pointwise/bpr/hinge, (n, B, L) for adaptive_hinge. Returns the loss.
  // fit() uses the same step with negatives it samples; tests use it directly.
  double train_step(const Tensor& sequences, const Tensor& negatives);
  // The loss and gradients for that batch without updating (gradients are left
  // in the parameters).
  double compute_gradients(const Tensor& sequences, const Tensor& negatives);
  // The representation of a batch (B, L): every step's state (B, L, W) and the
  // final one (B, W), W = embedding_dim (2*num_mixtures*embedding_dim for mixture).
  std::pair<Tensor, Tensor> user_representation(const Tensor& sequences) const;
  std::int64_t optimizer_steps() const;
  int epochs_trained() const;

  // A copy of the training state (the model must be initialised).
  TrainingState training_state() const;
  // Continues from a saved state (the model must be initialised with the
  // parameters it belongs to). Error naming the parameter on a shape mismatch.
  void restore_training_state(const TrainingState& state);
  // Only the epoch count, for parameters whose optimizer state was not kept:
  // the next fit() numbers its epochs from there, with fresh moments.
  void set_epochs_trained(int epochs);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A model as the scorer of its own items: a rank's block of a sharded
// table (score_own_items), or the whole catalogue. What evaluate_sequences
// over a sharded catalogue takes.
class OwnItemsScorer final : public BlockScorer {
 public:
  explicit OwnItemsScorer(const ImplicitSequenceModel& model) : model_(model) {}
  std::int32_t num_items() const override { return model_.num_items(); }
  std::pair<std::int64_t, std::int64_t> block() const override { return model_.own_items(); }
  void score_block(const std::int32_t* sequences, std::int64_t rows, std::int64_t length,
                   float* scores) const override {
    model_.score_own_items(sequences, rows, length, scores);
  }

 private:
  const ImplicitSequenceModel& model_;
};

}  // namespace limelight
