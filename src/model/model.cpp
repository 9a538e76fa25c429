// ImplicitSequenceModel's construction, its accessors, its parameters and
// the training state that model files carry from one fit to the next.
#include "limelight/model.hpp"

#include "backend/backend.hpp"
#include "limelight/bloom.hpp"
#include "distributed/sharded_table.hpp"
#include "model/model_impl.hpp"

namespace limelight {

ImplicitSequenceModel::ImplicitSequenceModel(ModelConfig config) {
  config.validate();
  impl_ = std::make_unique<Impl>(std::move(config));
}
ImplicitSequenceModel::~ImplicitSequenceModel() = default;
ImplicitSequenceModel::ImplicitSequenceModel(ImplicitSequenceModel&&) noexcept = default;
ImplicitSequenceModel& ImplicitSequenceModel::operator=(ImplicitSequenceModel&&) noexcept = default;

void ImplicitSequenceModel::initialize(std::int32_t num_items) {
  impl_->build(num_items, nullptr);
}

void ImplicitSequenceModel::initialize(std::int32_t num_items, distributed::Communicator& comm) {
  impl_->build(num_items, &comm);
}

bool ImplicitSequenceModel::items_sharded() const { return impl_->sharded_table != nullptr; }

std::pair<std::int64_t, std::int64_t> ImplicitSequenceModel::own_items() const {
  const model::ItemRows rows = impl_->network().item_rows();
  return {rows.begin, rows.end};
}

void ImplicitSequenceModel::Impl::build(std::int32_t num_items, distributed::Communicator* comm) {
  Impl* impl_ = this;
  // The configured thread count already applies to building the tables.
  if (impl_->config.threads > 0) backend::get(Device::cpu).set_threads(impl_->config.threads);
  model::ItemRows rows;
  if (comm != nullptr && comm->size() > 1) {
    LL_CHECK(device == Device::cpu, "--shard-items: a sharded item table trains on the CPU only in this version");
    const distributed::RowBlock block = distributed::owned_rows(num_items, comm->rank(), comm->size());
    rows = {block.begin, block.end};
    if (impl_->config.bloom.enabled()) {  // the compressed table by its own rows
      const distributed::RowBlock compressed = distributed::owned_rows(
          bloom_compressed_rows(impl_->config.bloom.compression_ratio, num_items), comm->rank(), comm->size());
      rows.compressed_begin = compressed.begin;
      rows.compressed_end = compressed.end;
    }
  }
  sharded_table.reset();
  sharded_compressed.reset();
  bloom_block_version = ~std::uint64_t{0};
  impl_->net = std::make_unique<model::Network>(impl_->config, num_items, impl_->rng, rows);
  if (impl_->net->sharded()) {
    shard_comm = comm;
    if (net->bloom()) {
      sharded_compressed = std::make_unique<distributed::ShardedTable>(
          *comm, net->compressed_rows(), std::vector<Parameter*>{&net->item_embeddings()});
      sharded_table = std::make_unique<distributed::ShardedTable>(*comm, num_items,
                                                                   std::vector<Parameter*>{&net->item_biases()});
    } else {
      sharded_table = std::make_unique<distributed::ShardedTable>(
          *comm, num_items, std::vector<Parameter*>{&net->item_embeddings(), &net->item_biases()});
    }
  }
  // Built on the host (the same values for a seed on every device), then moved.
  if (impl_->device != Device::cpu) {
    backend::get(impl_->device);  // loads the backend, which provides the device's memory
    for (Parameter* p : impl_->net->parameters()) {
      p->value = p->value.to(impl_->device);
      if (!p->sparse) p->grad = Tensor::zeros(p->value.shape(), DType::f32, impl_->device);
    }
  }
  AdamOptions options;
  options.lr = impl_->config.learning_rate;
  options.weight_decay = impl_->config.l2;
  impl_->adam = std::make_unique<Adam>(impl_->net->parameters(), options);
  impl_->publish();
}

bool ImplicitSequenceModel::initialized() const { return impl_->net != nullptr; }
const ModelConfig& ImplicitSequenceModel::config() const { return impl_->config; }
std::int32_t ImplicitSequenceModel::num_items() const { return impl_->network().num_items(); }
std::int64_t ImplicitSequenceModel::optimizer_steps() const { return impl_->adam ? impl_->adam->steps() : 0; }
int ImplicitSequenceModel::epochs_trained() const { return impl_->epochs; }

namespace {
// Files are written from the host, wherever the moments live.
Tensor host_copy(const Tensor& t) { return t.device() == Device::cpu ? t.clone() : t.to(Device::cpu); }
}  // namespace

TrainingState ImplicitSequenceModel::training_state() const {
  const Impl& m = *impl_;
  LL_CHECK(m.adam != nullptr, "training_state: the model is not initialised (call fit or initialize first)");
  TrainingState state;
  state.epochs = m.epochs;
  state.optimizer_steps = m.adam->steps();
  const std::size_t n = m.net->parameters().size();
  for (std::size_t i = 0; i < n; ++i) {
    state.exp_avg.push_back(host_copy(m.adam->exp_avg(i)));
    state.exp_avg_sq.push_back(host_copy(m.adam->exp_avg_sq(i)));
  }
  state.rng_state = m.rng.state();
  return state;
}

void ImplicitSequenceModel::restore_training_state(const TrainingState& state) {
  Impl& m = *impl_;
  LL_CHECK(m.adam != nullptr, "restore_training_state: the model is not initialised");
  LL_CHECK(state.epochs >= 0, "restore_training_state: negative epoch count ", state.epochs);
  m.adam->restore(state.optimizer_steps, state.exp_avg, state.exp_avg_sq);
  m.rng = Rng::from_state(state.rng_state);
  m.epochs = state.epochs;
  m.publish();
}

void ImplicitSequenceModel::set_epochs_trained(int epochs) {
  LL_CHECK(epochs >= 0, "set_epochs_trained: negative epoch count ", epochs);
  impl_->epochs = epochs;
}

std::vector<Parameter*> ImplicitSequenceModel::parameters() {
  impl_->network().parameters_changed();  // the caller may write through them
  return impl_->network().parameters();
}
std::vector<const Parameter*> ImplicitSequenceModel::parameters() const {
  std::vector<const Parameter*> out;
  for (Parameter* p : impl_->network().parameters()) out.push_back(p);
  return out;
}

Parameter& ImplicitSequenceModel::parameter(const std::string& name) {
  impl_->network().parameters_changed();
  Parameter* p = impl_->network().find(name);
  LL_CHECK(p != nullptr, "ImplicitSequenceModel: no parameter named '", name, "' in a ",
           representation_name(impl_->config.representation), " model");
  return *p;
}

}  // namespace limelight
