// ImplicitSequenceModel's state, shared by the files that implement it:
// model.cpp (construction, accessors, training state), model_training.cpp
// (fit and the training step) and model_serving.cpp (predict, recommend,
// batch scoring).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>

#include "backend/cpu/quantised_table.hpp"
#include "distributed/sharded_table.hpp"
#include "limelight/adam.hpp"
#include "limelight/model.hpp"
#include "limelight/random.hpp"
#include "limelight/tape.hpp"
#include "model/network.hpp"

namespace limelight::distributed {
class GradientExchange;
}

namespace limelight {

namespace model {
inline Device device_of(const ModelConfig& config) { return config.device == "cuda" ? Device::cuda : Device::cpu; }

// A host tensor's copy in the step arena of `tape` (the tensor itself when
// the tape computes on the host).
inline Tensor on_tape_device(Tape& tape, const Tensor& host) {
  if (tape.device() == host.device()) return host;
  Tensor t = tape.arena().tensor(host.shape(), host.dtype());
  t.copy_from(host);
  return t;
}
}  // namespace model

struct ImplicitSequenceModel::Impl {
  ModelConfig config;
  Device device;
  Rng rng;
  std::unique_ptr<model::Network> net;
  std::unique_ptr<Adam> adam;
  Tape tape;
  int epochs = 0;
  ServingPrecision precision = ServingPrecision::f32;
  // With the item table sharded across ranks: the communicator and the row
  // exchange (the item embeddings and biases, or with Bloom embeddings the
  // biases alone, by item id); null otherwise.
  distributed::Communicator* shard_comm = nullptr;
  std::unique_ptr<distributed::ShardedTable> sharded_table;
  // Bloom embeddings sharded: the compressed table's exchange, by row.
  std::unique_ptr<distributed::ShardedTable> sharded_compressed;
  // A sharded step's fetched rows (U, D) and biases (U, 1), leaves of its
  // tape; with Bloom embeddings the fetched compressed rows (R, D).
  Parameter batch_rows, batch_biases;
  // Bloom, sharded: this rank's block of items as their summed rows (nb, D),
  // and the network version they were summed at (scoring reuses them).
  Tensor bloom_block_table;
  std::uint64_t bloom_block_version = ~std::uint64_t{0};
  // The int8 copy of the serving table and the network version it was built
  // from; serving threads share it, and the first after a change rebuilds it.
  mutable std::mutex quantised_mutex;
  mutable std::shared_ptr<const cpu::QuantisedTable> quantised;
  mutable std::uint64_t quantised_version = 0;

  explicit Impl(ModelConfig c)
      : config(std::move(c)), device(model::device_of(config)), rng(config.seed), tape(true, device) {}

  // Builds the network and its optimizer; with `comm` of more than one
  // rank, only this rank's block of the item table.
  void build(std::int32_t num_items, distributed::Communicator* comm);
  // A sharded step's loss and gradients on this rank's slice: the slice's
  // items' rows fetched from their owners, the loss on them (times `seed`),
  // their gradients sent back. Returns the slice's loss (0 when empty).
  double sharded_gradients(const Tensor& sequences, const Tensor& negatives, bool has_targets, float seed);

  model::Network& network() const {
    LL_CHECK(net != nullptr, "ImplicitSequenceModel: the model is not initialised (call fit or initialize first)");
    return *net;
  }

  // The int8 table to serve from, or nullptr for the float32 path (also
  // with int8 set, for a table small enough to stay in cache).
  std::shared_ptr<const cpu::QuantisedTable> quantised_table() const;

  void check_ids(const std::int32_t* ids, std::int64_t n, const char* what) const {
    const std::int32_t V = network().num_items();
    for (std::int64_t i = 0; i < n; ++i)
      LL_CHECK(ids[i] >= 0 && ids[i] < V, what, ": item id ", ids[i], " at position ", i,
               " is outside the model's catalogue [0, ", V, ")");
  }

  // Waits for this thread's queued writes of the parameters (a device's
  // queues run apart from the host): called before a call that changed
  // them returns, so that another thread may serve the model at once.
  void publish() const { allocator_for(device).synchronize(); }

  // One batch's gradients and Adam step, unpublished (fit publishes per epoch).
  double step(const Tensor& sequences, const Tensor& negatives);

  ops::LossKind loss_kind() const;
  // The masked loss of a batch; negatives are (B, L), or (n, B, L) for adaptive_hinge.
  Var forward_loss(const Tensor& sequences, const Tensor& negatives);
  // Checks the batch, then its loss with the gradients left in the
  // parameters: of the loss times `seed` (a rank's share of a global batch).
  double gradients(const Tensor& sequences, const Tensor& negatives, float seed = 1.0f);
  // One step of a data-parallel fit on rank `rank` of `ranks`: this rank's
  // slice of the global batch (rows `batch_order` of train, the whole
  // batch's negatives), the gradients summed across ranks, Adam's step.
  // Returns the global batch's loss.
  double distributed_step(const SequenceInteractions& train, const std::int64_t* batch_order, std::int64_t rows,
                          const std::int32_t* negatives, std::int64_t n_neg, int rank, int ranks, Tensor& batch,
                          Tensor& slice_negatives, distributed::GradientExchange& exchange,
                          const std::vector<Parameter*>& params);
};

}  // namespace limelight
