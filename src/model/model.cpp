// ImplicitSequenceModel: configuration checks, the training loop (shuffle,
// minibatches, negative sampling, masked losses, Adam), and the serving
// paths (predict, recommend, batch scoring) which run without recording.
#include "limelight/model.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <mutex>
#include <numeric>

#include "limelight_config.h"

#include "backend/backend.hpp"
#include "backend/cpu/quantised_table.hpp"
#include "limelight/adam.hpp"
#include "limelight/bloom.hpp"
#include "limelight/ops.hpp"
#include "limelight/random.hpp"
#include "model/network.hpp"

#include "backend/cuda_loader.hpp"

namespace limelight {

void ModelConfig::validate() const {
  const std::string reps[] = {"pooling", "cnn", "lstm", "mixture"};
  const std::string losses[] = {"pointwise", "bpr", "hinge", "adaptive_hinge"};
  LL_CHECK(std::find(std::begin(reps), std::end(reps), representation) != std::end(reps),
           "ImplicitSequenceModel: unknown representation '", representation,
           "' (expected pooling, cnn, lstm or mixture)");
  LL_CHECK(std::find(std::begin(losses), std::end(losses), loss) != std::end(losses),
           "ImplicitSequenceModel: unknown loss '", loss, "' (expected pointwise, bpr, hinge or adaptive_hinge)");
  LL_CHECK(embedding_dim >= 1, "ImplicitSequenceModel: embedding_dim must be >= 1, got ", embedding_dim);
  LL_CHECK(n_iter >= 0, "ImplicitSequenceModel: n_iter must be >= 0, got ", n_iter);
  LL_CHECK(batch_size >= 1, "ImplicitSequenceModel: batch_size must be >= 1, got ", batch_size);
  LL_CHECK(l2 >= 0.0 && std::isfinite(l2), "ImplicitSequenceModel: l2 must be a finite value >= 0, got ", l2);
  LL_CHECK(learning_rate > 0.0 && std::isfinite(learning_rate),
           "ImplicitSequenceModel: learning_rate must be > 0, got ", learning_rate);
  LL_CHECK(optimizer == "adam", "ImplicitSequenceModel: unknown optimizer '", optimizer, "' (expected adam)");
  LL_CHECK(num_negative_samples >= 1 && num_negative_samples <= 5,
           "ImplicitSequenceModel: num_negative_samples must be in [1, 5], got ", num_negative_samples);
  LL_CHECK(device == "cpu" || device == "cuda", "ImplicitSequenceModel: unknown device '", device,
           "' (expected cpu or cuda)");
  if (device == "cuda") {
    const backend::CudaBackendStatus& gpu = backend::cuda_backend();
    LL_CHECK(gpu.usable(), "ImplicitSequenceModel: device 'cuda' is not available",
             LIMELIGHT_HAVE_CUDA ? "" : " in this build (configured without CUDA)", ": ", gpu.problem);
    LL_CHECK(!bloom.enabled(), "ImplicitSequenceModel: Bloom embeddings run on device 'cpu' only (their id ",
             "hashing is host code); use device 'cpu'");
  }
  LL_CHECK(threads >= 0, "ImplicitSequenceModel: threads must be >= 0, got ", threads);
  if (representation == "cnn") {
    const auto& c = cnn;
    LL_CHECK(c.num_layers >= 1, "ImplicitSequenceModel: cnn num_layers must be >= 1, got ", c.num_layers);
    auto per_layer = [&](const std::vector<int>& v, const char* what) {
      LL_CHECK(v.size() == 1 || static_cast<int>(v.size()) == c.num_layers, "ImplicitSequenceModel: cnn ", what,
               " has ", v.size(), " values for ", c.num_layers, " layers");
      for (int x : v) LL_CHECK(x >= 1, "ImplicitSequenceModel: cnn ", what, " values must be >= 1, got ", x);
    };
    per_layer(c.kernel_width, "kernel_width");
    per_layer(c.dilation, "dilation");
    LL_CHECK(c.nonlinearity == "tanh" || c.nonlinearity == "relu", "ImplicitSequenceModel: cnn nonlinearity must be ",
             "tanh or relu, got '", c.nonlinearity, "'");
  }
  if (bloom.enabled()) {
    LL_CHECK(std::isfinite(bloom.compression_ratio) && bloom.compression_ratio > 0.0,
             "ImplicitSequenceModel: bloom compression_ratio must be a finite number > 0 (0 turns Bloom off), got ",
             bloom.compression_ratio);
    LL_CHECK(bloom.num_hash_functions >= 1 && bloom.num_hash_functions <= bloom_max_hash_functions,
             "ImplicitSequenceModel: bloom num_hash_functions must be in [1, ", bloom_max_hash_functions, "], got ",
             bloom.num_hash_functions);
  }
  if (representation == "mixture")
    LL_CHECK(num_mixtures >= 1 && num_mixtures <= 64, "ImplicitSequenceModel: num_mixtures must be in [1, 64], got ",
             num_mixtures);
}

namespace {
Device device_of(const ModelConfig& config) { return config.device == "cuda" ? Device::cuda : Device::cpu; }

// A host tensor's copy in the step arena of `tape` (the tensor itself when
// the tape computes on the host).
Tensor on_tape_device(Tape& tape, const Tensor& host) {
  if (tape.device() == host.device()) return host;
  Tensor t = tape.arena().tensor(host.shape(), host.dtype());
  t.copy_from(host);
  return t;
}
}  // namespace

struct ImplicitSequenceModel::Impl {
  ModelConfig config;
  Device device;
  Rng rng;
  std::unique_ptr<model::Network> net;
  std::unique_ptr<Adam> adam;
  Tape tape;
  int epochs = 0;
  ServingPrecision precision = ServingPrecision::f32;
  // The int8 copy of the serving table and the network version it was built
  // from; serving threads share it, and the first after a change rebuilds it.
  mutable std::mutex quantised_mutex;
  mutable std::shared_ptr<const cpu::QuantisedTable> quantised;
  mutable std::uint64_t quantised_version = 0;

  explicit Impl(ModelConfig c)
      : config(std::move(c)), device(device_of(config)), rng(config.seed), tape(true, device) {}

  model::Network& network() const {
    LL_CHECK(net != nullptr, "ImplicitSequenceModel: the model is not initialised (call fit or initialize first)");
    return *net;
  }

  // The int8 table to serve from, or nullptr for the float32 path (also
  // with int8 set, for a table small enough to stay in cache).
  std::shared_ptr<const cpu::QuantisedTable> quantised_table() const {
    if (precision != ServingPrecision::int8) return nullptr;
    const model::Network& n = network();
    if (!cpu::int8_table_pays(n.num_items(), config.embedding_dim)) return nullptr;
    std::lock_guard<std::mutex> lock(quantised_mutex);
    const std::uint64_t version = n.version();
    if (!quantised || quantised_version != version) {
      const Tensor& E = n.item_table();
      quantised = std::make_shared<const cpu::QuantisedTable>(cpu::quantise_item_table(
          E.f32(), net->item_biases().value.f32(), n.num_items(), config.embedding_dim));
      quantised_version = version;
    }
    return quantised;
  }

  void check_ids(const std::int32_t* ids, std::int64_t n, const char* what) const {
    const std::int32_t V = network().num_items();
    for (std::int64_t i = 0; i < n; ++i)
      LL_CHECK(ids[i] >= 0 && ids[i] < V, what, ": item id ", ids[i], " at position ", i,
               " is outside the model's catalogue [0, ", V, ")");
  }

  // The masked loss of a batch; negatives are (B, L), or (n, B, L) for adaptive_hinge.
  Var forward_loss(const Tensor& sequences, const Tensor& negatives) {
    model::Network& n = network();
    const std::int64_t B = sequences.dim(0), L = sequences.dim(1);
    const std::string& loss = config.loss;
    const ops::LossKind kind = loss == "pointwise" ? ops::LossKind::pointwise
                               : loss == "bpr"     ? ops::LossKind::bpr
                               : loss == "hinge"   ? ops::LossKind::hinge
                                                   : ops::LossKind::adaptive_hinge;
    Tensor negs = negatives;
    if (kind != ops::LossKind::adaptive_hinge) {
      LL_CHECK(negatives.shape() == sequences.shape(), "train_step: negatives ", negatives.shape().str(),
               " do not match sequences ", sequences.shape().str());
      negs = negatives.reshape(Shape{1, B, L});
    }
    // The states (B, L+1, W): step t scores item t; the last is the final state.
    return n.training_loss(tape, sequences, negs, kind);
  }

  double gradients(const Tensor& sequences, const Tensor& negatives) {
    LL_CHECK(sequences.dtype() == DType::i32 && sequences.rank() == 2, "train_step: sequences must be an i32 (B, L) ",
             "tensor, got ", dtype_name(sequences.dtype()), " ", sequences.shape().str());
    LL_CHECK(negatives.dtype() == DType::i32, "train_step: negatives must be i32");
    LL_CHECK(sequences.device() == Device::cpu && negatives.device() == Device::cpu,
             "train_step: sequences and negatives must be host tensors (the model moves them to its device)");
    check_ids(sequences.i32(), sequences.numel(), "train_step: sequences");
    check_ids(negatives.i32(), negatives.numel(), "train_step: negatives");
    adam->zero_grad();
    tape.reset();
    Var loss = forward_loss(on_tape_device(tape, sequences), on_tape_device(tape, negatives));
    const double value = tape.value(loss).to(Device::cpu).f32()[0];
    tape.backward(loss);
    return value;
  }
};

ImplicitSequenceModel::ImplicitSequenceModel(ModelConfig config) {
  config.validate();
  impl_ = std::make_unique<Impl>(std::move(config));
}
ImplicitSequenceModel::~ImplicitSequenceModel() = default;
ImplicitSequenceModel::ImplicitSequenceModel(ImplicitSequenceModel&&) noexcept = default;
ImplicitSequenceModel& ImplicitSequenceModel::operator=(ImplicitSequenceModel&&) noexcept = default;

void ImplicitSequenceModel::initialize(std::int32_t num_items) {
  // The configured thread count already applies to building the tables.
  if (impl_->config.threads > 0) backend::get(Device::cpu).set_threads(impl_->config.threads);
  impl_->net = std::make_unique<model::Network>(impl_->config, num_items, impl_->rng);
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
}

void ImplicitSequenceModel::set_epochs_trained(int epochs) {
  LL_CHECK(epochs >= 0, "set_epochs_trained: negative epoch count ", epochs);
  impl_->epochs = epochs;
}

ServingPrecision parse_serving_precision(std::string_view name) {
  if (name == "f32") return ServingPrecision::f32;
  if (name == "int8") return ServingPrecision::int8;
  throw Error("unknown item table precision '" + std::string(name) + "' (expected f32 or int8)");
}

const char* serving_precision_name(ServingPrecision precision) {
  return precision == ServingPrecision::int8 ? "int8" : "f32";
}

void ImplicitSequenceModel::set_serving_precision(ServingPrecision precision) {
  LL_CHECK(precision == ServingPrecision::f32 || precision == ServingPrecision::int8,
           "set_serving_precision: unknown precision ", static_cast<int>(precision));
  if (precision == ServingPrecision::int8) {
    LL_CHECK(impl_->config.representation != "mixture", "set_serving_precision: the int8 item table serves ",
             "pooling, cnn and lstm models; a mixture model's scores are not one dot product per item");
    LL_CHECK(impl_->device == Device::cpu, "set_serving_precision: the int8 item table serves on device 'cpu' ",
             "only, this model is on '", impl_->config.device, "'");
  }
  std::lock_guard<std::mutex> lock(impl_->quantised_mutex);
  impl_->precision = precision;
  impl_->quantised.reset();
}

ServingPrecision ImplicitSequenceModel::serving_precision() const { return impl_->precision; }

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
           impl_->config.representation, " model");
  return *p;
}

double ImplicitSequenceModel::compute_gradients(const Tensor& sequences, const Tensor& negatives) {
  return impl_->gradients(sequences, negatives);
}

double ImplicitSequenceModel::train_step(const Tensor& sequences, const Tensor& negatives) {
  const double loss = impl_->gradients(sequences, negatives);
  impl_->adam->step();
  impl_->net->parameters_changed();
  return loss;
}

void ImplicitSequenceModel::fit(const SequenceInteractions& train, const FitCallbacks& callbacks) {
  Impl& m = *impl_;
  LL_CHECK(train.num_sequences > 0, "fit: the training data has no sequences");
  LL_CHECK(train.max_sequence_length >= 1, "fit: sequences must have length >= 1");
  LL_CHECK(static_cast<std::int64_t>(train.sequences.size()) == train.num_sequences * train.max_sequence_length,
           "fit: ", train.sequences.size(), " sequence entries for ", train.num_sequences, " x ",
           train.max_sequence_length);
  if (!initialized()) initialize(train.num_items);
  m.check_ids(train.sequences.data(), static_cast<std::int64_t>(train.sequences.size()), "fit");
  if (m.config.threads > 0) backend::get(Device::cpu).set_threads(m.config.threads);

  const std::int64_t N = train.num_sequences, L = train.max_sequence_length, B = m.config.batch_size;
  const std::int64_t V = m.net->num_items();
  const std::int64_t n_neg = m.config.loss == "adaptive_hinge" ? m.config.num_negative_samples : 1;
  std::vector<std::int64_t> order(static_cast<std::size_t>(N));
  Tensor batch = Tensor::empty({std::min(B, N), L}, DType::i32);
  Tensor negatives = Tensor::empty({n_neg * std::min(B, N) * L}, DType::i32);
  const std::int64_t total = (N + B - 1) / B;
  for (int iter = 0; iter < m.config.n_iter; ++iter) {
    const auto start = std::chrono::steady_clock::now();
    std::iota(order.begin(), order.end(), 0);
    m.rng.shuffle(order.begin(), order.end());
    double epoch_loss = 0.0;
    for (std::int64_t b = 0; b < total; ++b) {
      const std::int64_t rows = std::min(B, N - b * B);
      std::int32_t* dst = batch.i32();
      for (std::int64_t r = 0; r < rows; ++r)
        std::memcpy(dst + r * L, train.row(order[static_cast<std::size_t>(b * B + r)]), sizeof(std::int32_t) * L);
      std::int32_t* neg = negatives.i32();
      m.rng.fill_uniform_int(neg, n_neg * rows * L, V);
      Tensor seq_view = Tensor::borrow(dst, Shape{rows, L}, DType::i32);
      Tensor neg_view = n_neg > 1 || m.config.loss == "adaptive_hinge"
                            ? Tensor::borrow(neg, Shape{n_neg, rows, L}, DType::i32)
                            : Tensor::borrow(neg, Shape{rows, L}, DType::i32);
      epoch_loss += train_step(seq_view, neg_view);
      if (callbacks.on_batch) callbacks.on_batch(b + 1, total);
    }
    epoch_loss /= static_cast<double>(total);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const int epoch = m.epochs++;
    LL_CHECK(std::isfinite(epoch_loss) && epoch_loss != 0.0, "fit: degenerate epoch loss ", epoch_loss, " in epoch ",
             epoch, " (NaN, infinite or exactly zero; try a lower learning_rate)");
    if (callbacks.on_epoch) callbacks.on_epoch(EpochReport{epoch, epoch_loss, seconds});
  }
}

namespace {

// Serving runs on a per-thread, non-recording tape whose arena is reused, so a
// call allocates nothing once the thread has served a request of that size.
Tape& serving_tape(Device device) {
  thread_local Tape host_tape(false);
  thread_local std::unique_ptr<Tape> device_tape;
  Tape* tape = &host_tape;
  if (device != Device::cpu) {
    if (!device_tape) device_tape = std::make_unique<Tape>(false, device);
    tape = device_tape.get();
  }
  tape->reset();
  return *tape;
}

// Room for `count` values of T in the tape's arena (on its device).
template <class T>
T* arena_array(Tape& tape, std::int64_t count) {
  return static_cast<T*>(tape.arena().allocate(static_cast<std::size_t>(count) * sizeof(T)));
}

// Host memory to and from the tape's device (a plain copy on the host).
void to_tape(Tape& tape, void* dst, const void* src, std::size_t bytes) {
  allocator_for(tape.device()).copy(dst, tape.device(), src, Device::cpu, bytes);
}
void from_tape(Tape& tape, void* dst, const void* src, std::size_t bytes) {
  allocator_for(tape.device()).copy(dst, Device::cpu, src, tape.device(), bytes);
}

// The host's (rows, length) ids as a tensor the tape's ops can read.
Tensor ids_on_tape(Tape& tape, const std::int32_t* ids, std::int64_t rows, std::int64_t length) {
  const Tensor host = Tensor::borrow(const_cast<std::int32_t*>(ids), Shape{rows, length}, DType::i32);
  return on_tape_device(tape, host);
}

// scores (rows, V) from final states (rows, W).
void score_all(model::Network& net, Tape& tape, const float* states, std::int64_t rows, float* scores) {
  const ModelConfig& config = net.config();
  const Tensor& E = net.item_table();  // Bloom: the summed rows
  backend::get(E.device())
      .score_catalogue(states, rows, E.f32(), net.item_biases().value.f32(), net.num_items(), config.embedding_dim,
                       config.representation == "mixture" ? config.num_mixtures : 0, scores, tape.arena());
}

}  // namespace

void ImplicitSequenceModel::score_batch(const std::int32_t* sequences, std::int64_t rows, std::int64_t length,
                                        float* scores) const {
  model::Network& net = impl_->network();
  LL_CHECK(length >= 1, "score_batch: sequences must have length >= 1, got ", length);
  LL_CHECK(rows >= 0, "score_batch: negative row count ", rows);
  if (rows == 0) return;
  impl_->check_ids(sequences, rows * length, "score_batch");
  Tape& tape = serving_tape(impl_->device);
  Tensor final_states = net.final_states(tape, ids_on_tape(tape, sequences, rows, length));
  if (tape.device() == Device::cpu) {
    score_all(net, tape, final_states.f32(), rows, scores);
    return;
  }
  const std::int64_t n = rows * net.num_items();
  float* device_scores = arena_array<float>(tape, n);
  score_all(net, tape, final_states.f32(), rows, device_scores);
  from_tape(tape, scores, device_scores, static_cast<std::size_t>(n) * sizeof(float));
}

std::vector<float> ImplicitSequenceModel::predict(std::span<const std::int32_t> sequence,
                                                  std::span<const std::int32_t> item_ids) const {
  const std::int32_t V = num_items();
  LL_CHECK(!sequence.empty(), "predict: the sequence is empty");
  impl_->check_ids(item_ids.data(), static_cast<std::int64_t>(item_ids.size()), "predict: item_ids");
  std::vector<float> all(static_cast<std::size_t>(V));
  score_batch(sequence.data(), 1, static_cast<std::int64_t>(sequence.size()), all.data());
  if (item_ids.empty()) return all;
  std::vector<float> out(item_ids.size());
  for (std::size_t i = 0; i < item_ids.size(); ++i) out[i] = all[static_cast<std::size_t>(item_ids[i])];
  return out;
}

std::vector<Recommendation> ImplicitSequenceModel::recommend(std::span<const std::int32_t> sequence, int k,
                                                             bool exclude_seen) const {
  LL_CHECK(k >= 1, "recommend: k must be >= 1, got ", k);
  std::vector<Recommendation> out(static_cast<std::size_t>(std::min<std::int64_t>(k, num_items())));
  out.resize(recommend_into(sequence, k, exclude_seen, out));
  return out;
}

namespace {

// The fused catalogue pass: the k best of each row's final state. excluded
// (V), out (rows, k) and counts (rows) are host memory: on a device they
// are copied through the tape's arena.
// With `quantised`, the int8 table's scan and float32 re-ranking (host only,
// the same answer).
void top_k_all(model::Network& net, Tape& tape, const float* states, std::int64_t rows, const unsigned char* excluded,
               int k, backend::ScoredItem* out, std::size_t* counts, const cpu::QuantisedTable* quantised) {
  const ModelConfig& config = net.config();
  const Tensor& E = net.item_table();  // Bloom: the summed rows
  const std::int64_t V = net.num_items(), M = config.representation == "mixture" ? config.num_mixtures : 0;
  backend::Backend& be = backend::get(E.device());
  if (quantised != nullptr) {
    cpu::top_k_catalogue_int8(*quantised, states, rows, E.f32(), net.item_biases().value.f32(), excluded, k, out,
                              counts, tape.arena());
    return;
  }
  if (tape.device() == Device::cpu) {
    be.top_k_catalogue(states, rows, E.f32(), net.item_biases().value.f32(), V, config.embedding_dim, M, excluded, k,
                       out, counts, tape.arena());
    return;
  }
  auto* d_excluded = arena_array<unsigned char>(tape, V);
  auto* d_out = arena_array<backend::ScoredItem>(tape, rows * k);
  auto* d_counts = arena_array<std::size_t>(tape, rows);
  to_tape(tape, d_excluded, excluded, static_cast<std::size_t>(V));
  be.top_k_catalogue(states, rows, E.f32(), net.item_biases().value.f32(), V, config.embedding_dim, M, d_excluded, k,
                     d_out, d_counts, tape.arena());
  from_tape(tape, out, d_out, static_cast<std::size_t>(rows * k) * sizeof(backend::ScoredItem));
  from_tape(tape, counts, d_counts, static_cast<std::size_t>(rows) * sizeof(std::size_t));
}

// Marks padding and `ids` in a per-thread mask of V zeros for one catalogue
// pass, and clears them again on the way out, exceptions included, so the
// mask is all zeros for the next call.
class SeenMask {
 public:
  SeenMask(std::vector<unsigned char>& mask, std::span<const std::int32_t> ids) : mask_(mask), ids_(ids) { set(1); }
  ~SeenMask() { set(0); }
  SeenMask(const SeenMask&) = delete;
  SeenMask& operator=(const SeenMask&) = delete;

 private:
  void set(unsigned char value) {
    mask_[0] = value;  // padding is never recommended
    for (std::int32_t id : ids_) mask_[static_cast<std::size_t>(id)] = value;
  }
  std::vector<unsigned char>& mask_;
  std::span<const std::int32_t> ids_;
};

// recommend_batch with seen items excluded writes the rows' scores out and
// takes each row's top k under its own mask when the table is at most this
// size (its scores and table then stay in cache).
constexpr std::int64_t per_row_scan_max_table_bytes = std::int64_t{1} << 20;

}  // namespace

std::size_t ImplicitSequenceModel::recommend_into(std::span<const std::int32_t> sequence, int k, bool exclude_seen,
                                                  std::span<Recommendation> out) const {
  LL_CHECK(k >= 1, "recommend: k must be >= 1, got ", k);
  model::Network& net = impl_->network();
  const std::int32_t V = num_items();
  LL_CHECK(out.size() >= static_cast<std::size_t>(std::min<std::int64_t>(k, V)), "recommend: room for ", out.size(),
           " results, k is ", k);
  LL_CHECK(!sequence.empty(), "recommend: the sequence is empty");
  const auto length = static_cast<std::int64_t>(sequence.size());
  impl_->check_ids(sequence.data(), length, "score_batch");
  // Per-thread buffers: they grow to the largest catalogue once.
  thread_local std::vector<unsigned char> seen;
  thread_local std::vector<backend::ScoredItem> best;
  seen.resize(static_cast<std::size_t>(V));
  best.resize(static_cast<std::size_t>(k));
  Tape& tape = serving_tape(impl_->device);
  Tensor final_states = net.final_states(tape, ids_on_tape(tape, sequence.data(), 1, length));
  const SeenMask mask(seen, exclude_seen ? sequence : std::span<const std::int32_t>());
  std::size_t n = 0;
  top_k_all(net, tape, final_states.f32(), 1, seen.data(), k, best.data(), &n, impl_->quantised_table().get());
  for (std::size_t i = 0; i < n; ++i) out[i] = Recommendation{best[i].item, best[i].score};
  return n;
}

void ImplicitSequenceModel::recommend_batch(const std::int32_t* sequences, std::int64_t rows, std::int64_t length,
                                            int k, bool exclude_seen, Recommendation* out,
                                            std::size_t* counts) const {
  LL_CHECK(k >= 1, "recommend_batch: k must be >= 1, got ", k);
  LL_CHECK(length >= 1, "recommend_batch: sequences must have length >= 1, got ", length);
  LL_CHECK(rows >= 0, "recommend_batch: negative row count ", rows);
  if (rows == 0) return;
  model::Network& net = impl_->network();
  const std::int32_t V = num_items();
  impl_->check_ids(sequences, rows * length, "recommend_batch");
  if (rows == 1 && exclude_seen) {
    // One row (what a lock-step caller of `limelight recommend` sends): its
    // own seen mask, so the catalogue pass keeps k candidates, not k + length
    // (a heap of 209 for a 199-item history cost more than the scan).
    counts[0] = recommend_into(std::span<const std::int32_t>(sequences, static_cast<std::size_t>(length)), k, true,
                               std::span<Recommendation>(out, static_cast<std::size_t>(k)));
    return;
  }
  Tape& tape = serving_tape(impl_->device);
  Tensor final_states = net.final_states(tape, ids_on_tape(tape, sequences, rows, length));
  const std::int64_t table_bytes =
      static_cast<std::int64_t>(V) * net.config().embedding_dim * static_cast<std::int64_t>(sizeof(float));
  const cpu::QuantisedTable* quantised = impl_->quantised_table().get();
  if (exclude_seen && tape.device() == Device::cpu && quantised == nullptr &&
      table_bytes <= per_row_scan_max_table_bytes) {
    // A cache-sized table: the rows' scores written out (score_batch's, the
    // same call on the same states), then each row's top k under its own
    // seen mask. k + length candidates made the heap the larger part of the
    // work (a 199-item history over 1,683 items: a heap of 209 per row,
    // about 430 insertions).
    float* scores = arena_array<float>(tape, rows * V);
    score_all(net, tape, final_states.f32(), rows, scores);
    thread_local std::vector<unsigned char> seen;
    thread_local std::vector<backend::ScoredItem> best;
    seen.resize(static_cast<std::size_t>(V));
    best.resize(static_cast<std::size_t>(k));
    backend::Backend& be = backend::get(Device::cpu);
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::span<const std::int32_t> row(sequences + r * length, static_cast<std::size_t>(length));
      const SeenMask mask(seen, row);
      const std::size_t n = be.top_k(scores + r * V, V, seen.data(), k, best.data());
      for (std::size_t i = 0; i < n; ++i)
        out[r * k + static_cast<std::int64_t>(i)] = Recommendation{best[i].item, best[i].score};
      counts[r] = n;
    }
    return;
  }
  // Seen items differ by row: each row's best k + length (padding excluded)
  // hold its best k unseen ones, which are then picked out.
  const std::int64_t wanted = exclude_seen ? k + length : k;
  thread_local std::vector<unsigned char> padding_only;
  thread_local std::vector<backend::ScoredItem> candidates;
  thread_local std::vector<std::size_t> found;
  thread_local std::vector<std::int32_t> row_seen;
  padding_only.assign(static_cast<std::size_t>(V), 0);
  padding_only[0] = 1;
  candidates.resize(static_cast<std::size_t>(rows * wanted));
  found.resize(static_cast<std::size_t>(rows));
  top_k_all(net, tape, final_states.f32(), rows, padding_only.data(), static_cast<int>(wanted), candidates.data(),
            found.data(), quantised);
  for (std::int64_t r = 0; r < rows; ++r) {
    if (exclude_seen) {
      row_seen.assign(sequences + r * length, sequences + (r + 1) * length);
      std::sort(row_seen.begin(), row_seen.end());
    }
    std::size_t n = 0;
    const backend::ScoredItem* cand = candidates.data() + r * wanted;
    for (std::size_t i = 0; i < found[static_cast<std::size_t>(r)] && n < static_cast<std::size_t>(k); ++i) {
      if (exclude_seen && std::binary_search(row_seen.begin(), row_seen.end(), cand[i].item)) continue;
      out[r * k + static_cast<std::int64_t>(n++)] = Recommendation{cand[i].item, cand[i].score};
    }
    counts[r] = n;
  }
}

std::pair<Tensor, Tensor> ImplicitSequenceModel::user_representation(const Tensor& sequences) const {
  model::Network& net = impl_->network();
  LL_CHECK(sequences.dtype() == DType::i32 && sequences.rank() == 2, "user_representation: sequences must be an ",
           "i32 (B, L) tensor, got ", sequences.shape().str());
  LL_CHECK(sequences.device() == Device::cpu, "user_representation: sequences must be a host tensor");
  impl_->check_ids(sequences.i32(), sequences.numel(), "user_representation");
  Tape& tape = serving_tape(impl_->device);
  const Tensor states = tape.value(net.states(tape, on_tape_device(tape, sequences))).to(Device::cpu);
  const std::int64_t B = sequences.dim(0), L = sequences.dim(1), W = net.state_width();
  Tensor all = Tensor::empty({B, L, W}), last = Tensor::empty({B, W});
  for (std::int64_t b = 0; b < B; ++b) {
    std::memcpy(all.f32() + b * L * W, states.f32() + b * (L + 1) * W, sizeof(float) * L * W);
    std::memcpy(last.f32() + b * W, states.f32() + (b * (L + 1) + L) * W, sizeof(float) * W);
  }
  return {all, last};
}

}  // namespace limelight
