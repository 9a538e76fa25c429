// The representation networks behind ImplicitSequenceModel: their parameters
// (named and ordered as the reference's state_dict), the forward pass from an
// item sequence to per-step user states, and target scoring.
#pragma once

#include <atomic>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "limelight/model.hpp"
#include "limelight/ops.hpp"
#include "limelight/random.hpp"

namespace limelight::model {

// The item rows a network holds: all of them, or with a table sharded across
// ranks this rank's contiguous block [begin, end) of the ids (the item
// embeddings and biases only; every other parameter is whole). With Bloom
// embeddings, [begin, end) is the block of the biases, and the compressed
// table's block is [compressed_begin, compressed_end) of its rows.
struct ItemRows {
  std::int64_t begin = 0, end = -1;  // end -1: the whole catalogue
  std::int64_t compressed_begin = 0, compressed_end = -1;  // -1: the whole compressed table
};

class Network {
 public:
  Network(const ModelConfig& config, std::int32_t num_items, Rng& rng, ItemRows rows = {});

  // Every state for a batch of sequences (B, L) i32: (B, L+1, W); state t has
  // seen items 0..t-1.
  Var states(Tape& tape, const Tensor& sequences);
  // Only the final states (B, W), as predict needs them, doing as little as
  // the representation allows: the CNN sees just its receptive field, the
  // mixture projects just the last step.
  // With `item_rows` (U, D), sequences number the rows of it instead of
  // the catalogue (a sharded table's fetched rows).
  Tensor final_states(Tape& tape, const Tensor& sequences, const Var* item_rows = nullptr);
  // The masked training loss of states (B, L+1, W) against targets (B, L).
  Var loss(Tape& tape, Var states, const Tensor& targets, const Tensor& negatives, ops::LossKind kind);
  // A training step's loss for sequences (B, L) and negatives (N, B, L):
  // states() then loss(), or, with Bloom embeddings, the same on the batch's
  // own items (see training_loss in network.cpp).
  Var training_loss(Tape& tape, const Tensor& sequences, const Tensor& negatives, ops::LossKind kind);
  // The same on a batch's own rows: `table` (U, D) and `bias` (U, 1) hold the
  // embeddings and biases of the batch's U distinct items, and sequences and
  // negatives number them 0..U-1 (0 the padding id). A sharded table's step
  // (whose rows come from their owners) scores so, with pooling's fused
  // loss as training_loss uses it.
  Var training_loss_on_rows(Tape& tape, Var table, Var bias, const Tensor& sequences, const Tensor& negatives,
                            ops::LossKind kind);
  // The same with Bloom embeddings on a batch's own compressed rows:
  // `compressed` (R, D) holds the R distinct rows the batch's U items hash
  // to (the padding row first), `hashes` (U, H) numbers them 0..R-1, and
  // `bias` (U, 1) holds the items' biases: each item's embedding is the sum
  // of its rows, as training_loss sums them (a sharded Bloom step).
  Var bloom_training_loss_on_rows(Tape& tape, Var compressed, const Tensor& hashes, Var bias,
                                  const Tensor& sequences, const Tensor& negatives, ops::LossKind kind);
  // The summed rows (n, D) of items whose hashes (n, H) number the rows of
  // `compressed` (R, D): Bloom's embeddings from fetched rows.
  Var bloom_sum(Tape& tape, Var compressed, const Tensor& hashes);
  // The distinct compressed rows n items hash to, sorted (row 0, padding,
  // always first), and the items' hashes as indices into them (n, H): what
  // a sharded Bloom table fetches for them, and bloom_sum's `hashes`.
  struct BloomRows {
    std::vector<std::int32_t> rows;
    Tensor hashes;
  };
  BloomRows bloom_rows(const std::int32_t* items, std::int64_t n) const;
  // Whether this network holds only some of the catalogue's item rows, and which.
  bool sharded() const { return rows_.begin != 0 || rows_.end != num_items_; }
  ItemRows item_rows() const { return rows_; }

  // The (num_items, D) item embeddings serving reads: the table itself, or,
  // with Bloom embeddings, the sums of hashed rows, built on first use after
  // parameters_changed(). Safe to call from several serving threads at once.
  const Tensor& item_table() const;
  // Call after the parameter values change (an optimizer step, a load, a
  // caller's write through the model's parameter accessors).
  void parameters_changed() {
    item_table_valid_.store(false, std::memory_order_release);
    version_.fetch_add(1, std::memory_order_acq_rel);
  }
  // Counts parameters_changed() calls: copies derived from the parameters
  // (the int8 serving table) are stale when it moved on.
  std::uint64_t version() const { return version_.load(std::memory_order_acquire); }
  bool bloom() const { return config_.bloom.enabled(); }
  // Rows of the whole compressed table (Bloom only).
  std::int64_t compressed_rows() const { return compressed_rows_; }
  // (num_items, num_hash_functions) i32, the compressed rows of each item (Bloom only).
  const Tensor& bloom_hashes() const { return bloom_hashes_; }

  std::vector<Parameter*> parameters();
  Parameter* find(const std::string& name);
  std::int64_t state_width() const { return state_width_; }
  std::int32_t num_items() const { return num_items_; }
  const ModelConfig& config() const { return config_; }
  Parameter& item_embeddings() { return params_[0]; }
  Parameter& item_biases() { return params_[1]; }

 private:
  Parameter& add(const std::string& name, Tensor value, bool sparse = false);
  Var lstm_states(Tape& tape, Var embedded);
  // states_from_embedded then sequence_loss on a batch's rows: Bloom's step,
  // and the sharded step of the representations without a fused loss.
  Var composed_loss_on_rows(Tape& tape, Var table, Var bias, const Tensor& sequences, const Tensor& negatives,
                            ops::LossKind kind);
  // The representation's states (B, L+1, W) from embedded sequences (B, L, D).
  Var states_from_embedded(Tape& tape, Var embedded);
  // The embeddings (..., D) of ids (...): a table lookup, or with Bloom the sum
  // of the hashed rows, differentiable into the compressed table.
  Var embed(Tape& tape, const Tensor& ids);

  // Serving tapes do not record: parameters enter them as constants.
  Var param(Tape& tape, std::size_t index) {
    return tape.recording() ? tape.parameter(params_[index]) : tape.constant(params_[index].value);
  }

  ModelConfig config_;
  std::int32_t num_items_;
  ItemRows rows_;
  std::int64_t state_width_;
  std::deque<Parameter> params_;  // a deque keeps addresses stable as it grows
  Tensor bloom_hashes_;
  std::int64_t compressed_rows_ = 0;
  mutable Tensor item_table_;  // Bloom: the summed rows, rebuilt when invalid
  mutable std::atomic<bool> item_table_valid_{false};
  mutable std::mutex item_table_mutex_;
  std::atomic<std::uint64_t> version_{0};
};

}  // namespace limelight::model
