// ImplicitSequenceModel's training: one step (the masked loss of a batch,
// its gradients and Adam's update) and fit's loop over shuffled minibatches
// with uniformly sampled negatives.
#include "limelight/model.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>

#include "backend/backend.hpp"
#include "distributed/data_parallel.hpp"
#include "limelight/distributed.hpp"
#include "limelight/ops.hpp"
#include "model/model_impl.hpp"

namespace limelight {

using model::on_tape_device;

ops::LossKind ImplicitSequenceModel::Impl::loss_kind() const {
  const std::string& loss = config.loss;
  return loss == "pointwise" ? ops::LossKind::pointwise
         : loss == "bpr"     ? ops::LossKind::bpr
         : loss == "hinge"   ? ops::LossKind::hinge
                             : ops::LossKind::adaptive_hinge;
}

Var ImplicitSequenceModel::Impl::forward_loss(const Tensor& sequences, const Tensor& negatives) {
  model::Network& n = network();
  const std::int64_t B = sequences.dim(0), L = sequences.dim(1);
  const ops::LossKind kind = loss_kind();
  Tensor negs = negatives;
  if (kind != ops::LossKind::adaptive_hinge) {
    LL_CHECK(negatives.shape() == sequences.shape(), "train_step: negatives ", negatives.shape().str(),
             " do not match sequences ", sequences.shape().str());
    negs = negatives.reshape(Shape{1, B, L});
  }
  // The states (B, L+1, W): step t scores item t; the last is the final state.
  return n.training_loss(tape, sequences, negs, kind);
}

double ImplicitSequenceModel::Impl::gradients(const Tensor& sequences, const Tensor& negatives, float seed) {
  LL_CHECK(sequences.dtype() == DType::i32 && sequences.rank() == 2, "train_step: sequences must be an i32 (B, L) ",
           "tensor, got ", dtype_name(sequences.dtype()), " ", sequences.shape().str());
  LL_CHECK(negatives.dtype() == DType::i32, "train_step: negatives must be i32");
  LL_CHECK(sequences.device() == Device::cpu && negatives.device() == Device::cpu,
           "train_step: sequences and negatives must be host tensors (the model moves them to its device)");
  check_ids(sequences.i32(), sequences.numel(), "train_step: sequences");
  check_ids(negatives.i32(), negatives.numel(), "train_step: negatives");
  adam->zero_grad();
  tape.reset();
  // A Bloom network renumbers and hashes the batch on the host and moves
  // what it builds to the device itself.
  const bool host_batch = network().bloom();
  Var loss = forward_loss(host_batch ? sequences : on_tape_device(tape, sequences),
                          host_batch ? negatives : on_tape_device(tape, negatives));
  const double value = tape.scalar(loss);
  tape.backward(loss, seed);
  return value;
}

double ImplicitSequenceModel::compute_gradients(const Tensor& sequences, const Tensor& negatives) {
  const double loss = impl_->gradients(sequences, negatives);
  impl_->publish();  // the gradients, for a caller that reads them from another thread
  return loss;
}

double ImplicitSequenceModel::Impl::step(const Tensor& sequences, const Tensor& negatives) {
  const double loss = gradients(sequences, negatives);
  adam->step();
  net->parameters_changed();
  return loss;
}

double ImplicitSequenceModel::train_step(const Tensor& sequences, const Tensor& negatives) {
  const double loss = impl_->step(sequences, negatives);
  impl_->publish();
  return loss;
}

void ImplicitSequenceModel::fit(const SequenceInteractions& train, const FitCallbacks& callbacks) {
  const std::unique_ptr<distributed::Communicator> one_process = distributed::local_communicator();
  fit(train, callbacks, *one_process);
}

namespace {

// The number of positions of `rows` rows of length L whose item is not
// padding: the count the loss's mean divides by.
std::int64_t targets_in(const std::int32_t* rows, std::int64_t n) {
  std::int64_t count = 0;
  for (std::int64_t i = 0; i < n; ++i) count += rows[i] != 0;
  return count;
}

}  // namespace

void ImplicitSequenceModel::fit(const SequenceInteractions& train, const FitCallbacks& callbacks,
                                distributed::Communicator& comm) {
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
  const int ranks = comm.size(), rank = comm.rank();
  LL_CHECK(ranks == 1 || !(m.config.sparse && m.device != Device::cpu), "fit: row-sparse gradients on a device ",
           "train in one process only in this version (across ranks, use dense gradients or the CPU)");
  distributed::GradientExchange exchange(comm);
  // The parameters every rank holds whole (with a sharded table, all but
  // the item rows, whose gradients go to their owners instead).
  std::vector<Parameter*> params = parameters();
  if (m.sharded_table) {
    LL_CHECK(m.shard_comm == &comm, "fit: the model's item table is sharded across another communicator");
    std::erase_if(params, [&](Parameter* p) { return p == &m.net->item_embeddings() || p == &m.net->item_biases(); });
  }
  Tensor slice_negatives = ranks > 1 ? Tensor::empty({n_neg * std::min(B, N) * L}, DType::i32) : Tensor{};
  for (int iter = 0; iter < m.config.n_iter; ++iter) {
    const auto start = std::chrono::steady_clock::now();
    std::iota(order.begin(), order.end(), 0);
    m.rng.shuffle(order.begin(), order.end());
    double epoch_loss = 0.0;
    for (std::int64_t b = 0; b < total; ++b) {
      const std::int64_t rows = std::min(B, N - b * B);
      // Every rank draws the whole batch's negatives, so that the stream
      // (and every later batch) is the one-process run's at any world size.
      std::int32_t* neg = negatives.i32();
      m.rng.fill_uniform_int(neg, n_neg * rows * L, V);
      const std::int64_t* batch_order = order.data() + b * B;
      if (ranks == 1) {
        std::int32_t* dst = batch.i32();
        for (std::int64_t r = 0; r < rows; ++r)
          std::memcpy(dst + r * L, train.row(batch_order[r]), sizeof(std::int32_t) * L);
        Tensor seq_view = Tensor::borrow(dst, Shape{rows, L}, DType::i32);
        Tensor neg_view = n_neg > 1 || m.config.loss == "adaptive_hinge"
                              ? Tensor::borrow(neg, Shape{n_neg, rows, L}, DType::i32)
                              : Tensor::borrow(neg, Shape{rows, L}, DType::i32);
        epoch_loss += m.step(seq_view, neg_view);
      } else {
        epoch_loss += m.distributed_step(train, batch_order, rows, neg, n_neg, rank, ranks, batch, slice_negatives,
                                         exchange, params);
      }
      if (callbacks.on_batch) callbacks.on_batch(b + 1, total);
    }
    m.publish();  // before the epoch's callback, which may hand the model to other threads
    epoch_loss /= static_cast<double>(total);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const int epoch = m.epochs++;
    LL_CHECK(std::isfinite(epoch_loss) && epoch_loss != 0.0, "fit: degenerate epoch loss ", epoch_loss, " in epoch ",
             epoch, " (NaN, infinite or exactly zero; try a lower learning_rate)");
    if (callbacks.on_epoch) callbacks.on_epoch(EpochReport{epoch, epoch_loss, seconds});
  }
}

double ImplicitSequenceModel::Impl::sharded_gradients(const Tensor& sequences, const Tensor& negatives,
                                                      bool has_targets, float seed) {
  adam->zero_grad();
  if (!has_targets) {
    // Nothing to score, but the owners' exchanges need every rank, in the
    // order of a step's: the fetches (Bloom's compressed rows first), then
    // the gradients.
    const std::vector<distributed::ShardedTable*> tables = {sharded_compressed.get(), sharded_table.get()};
    for (distributed::ShardedTable* t : tables)
      if (t != nullptr) t->fetch(nullptr, 0, {nullptr, nullptr});
    for (distributed::ShardedTable* t : tables)
      if (t != nullptr) t->push_gradients({nullptr, nullptr});
    return 0.0;
  }
  check_ids(sequences.i32(), sequences.numel(), "train_step: sequences");
  check_ids(negatives.i32(), negatives.numel(), "train_step: negatives");
  // The slice's distinct items, the padding id first (so that local id 0
  // is still padding), and the slice renumbered into them.
  std::vector<std::int32_t> ids(sequences.i32(), sequences.i32() + sequences.numel());
  ids.insert(ids.end(), negatives.i32(), negatives.i32() + negatives.numel());
  ids.push_back(0);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  const std::int64_t U = static_cast<std::int64_t>(ids.size()), D = config.embedding_dim;
  auto renumber = [&](const Tensor& in, Tensor& out) {
    for (std::int64_t i = 0; i < in.numel(); ++i)
      out.i32()[i] = static_cast<std::int32_t>(std::lower_bound(ids.begin(), ids.end(), in.i32()[i]) - ids.begin());
  };
  tape.reset();
  Tensor local_seq = tape.arena().tensor(sequences.shape(), DType::i32);
  Tensor local_neg = tape.arena().tensor(negatives.shape(), DType::i32);
  renumber(sequences, local_seq);
  renumber(negatives, local_neg);
  const ops::LossKind kind = loss_kind();
  if (kind != ops::LossKind::adaptive_hinge) local_neg = local_neg.reshape(Shape{1, sequences.dim(0), sequences.dim(1)});
  // Row-sparse like the table itself, so that the rows the backward
  // touches are the ones one process would touch (lazy Adam moves those).
  batch_biases = Parameter("item_biases.rows", Tensor::empty({U, 1}), config.sparse);
  Var loss;
  if (net->bloom()) {
    // The compressed rows the batch's items hash to, from their owners.
    const model::Network::BloomRows hashed = net->bloom_rows(ids.data(), U);
    const std::int64_t R = static_cast<std::int64_t>(hashed.rows.size());
    batch_rows = Parameter("item_embeddings.rows", Tensor::empty({R, D}), config.sparse);
    sharded_compressed->fetch(hashed.rows.data(), R, {batch_rows.value.f32()});
    sharded_table->fetch(ids.data(), U, {batch_biases.value.f32()});
    loss = net->bloom_training_loss_on_rows(tape, tape.parameter(batch_rows), hashed.hashes,
                                            tape.parameter(batch_biases), local_seq, local_neg, kind);
  } else {
    batch_rows = Parameter("item_embeddings.rows", Tensor::empty({U, D}), config.sparse);
    sharded_table->fetch(ids.data(), U, {batch_rows.value.f32(), batch_biases.value.f32()});
    loss = net->training_loss_on_rows(tape, tape.parameter(batch_rows), tape.parameter(batch_biases), local_seq,
                                      local_neg, kind);
  }
  const double value = tape.value(loss).f32()[0];
  tape.backward(loss, seed);
  // Each fetched parameter's gradient, laid out densely (row-sparse ones with
  // the flags of the rows the backward touched).
  auto dense_grad = [&](const Parameter& p, std::vector<float>& grad, std::vector<unsigned char>& touched) {
    if (!config.sparse) return;
    const std::int64_t n = p.value.dim(0), width = p.value.dim(1);
    grad.assign(static_cast<std::size_t>(n * width), 0.0f);
    touched.assign(static_cast<std::size_t>(n), 0);
    const SparseRows& g = p.sparse_grad;
    for (std::size_t i = 0; i < g.rows().size(); ++i) {
      const std::int32_t r = g.rows()[i];
      std::copy_n(g.values() + static_cast<std::int64_t>(i) * width, width, grad.data() + static_cast<std::int64_t>(r) * width);
      touched[static_cast<std::size_t>(r)] = 1;
    }
  };
  std::vector<float> rows_grad, biases_grad;
  std::vector<unsigned char> rows_touched, biases_touched;
  dense_grad(batch_rows, rows_grad, rows_touched);
  dense_grad(batch_biases, biases_grad, biases_touched);
  // One process looks a Bloom batch's biases up as a table (training_loss
  // in network.cpp), which touches every item of the batch but padding.
  if (net->bloom() && config.sparse) std::fill(biases_touched.begin() + 1, biases_touched.end(), 1);
  const float* g_rows = config.sparse ? rows_grad.data() : batch_rows.grad.f32();
  const float* g_biases = config.sparse ? biases_grad.data() : batch_biases.grad.f32();
  const unsigned char* t_rows = config.sparse ? rows_touched.data() : nullptr;
  const unsigned char* t_biases = config.sparse ? biases_touched.data() : nullptr;
  if (net->bloom()) {
    sharded_compressed->push_gradients({g_rows}, {t_rows});
    sharded_table->push_gradients({g_biases}, {t_biases});
  } else {
    sharded_table->push_gradients({g_rows, g_biases}, {t_rows, t_biases});
  }
  return value;
}

double ImplicitSequenceModel::Impl::distributed_step(const SequenceInteractions& train,
                                                     const std::int64_t* batch_order, std::int64_t rows,
                                                     const std::int32_t* negatives, std::int64_t n_neg, int rank,
                                                     int ranks, Tensor& batch, Tensor& slice_negatives,
                                                     distributed::GradientExchange& exchange,
                                                     const std::vector<Parameter*>& params) {
  const std::int64_t L = train.max_sequence_length;
  const distributed::Slice mine = distributed::batch_slice(rows, rank, ranks);
  // The global batch's mean divides by all its targets: each rank's loss is
  // the mean over its own, so it seeds its backward with its share.
  std::int64_t all_targets = 0, my_targets = 0;
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t n = targets_in(train.row(batch_order[r]), L);
    all_targets += n;
    if (r >= mine.begin && r < mine.end) my_targets += n;
  }
  std::int32_t* dst = batch.i32();
  for (std::int64_t r = 0; r < mine.size(); ++r)
    std::memcpy(dst + r * L, train.row(batch_order[mine.begin + r]), sizeof(std::int32_t) * L);
  // The slice's negatives: for each of the n_neg draws, its rows.
  std::int32_t* neg = slice_negatives.i32();
  for (std::int64_t k = 0; k < n_neg; ++k)
    std::memcpy(neg + k * mine.size() * L, negatives + (k * rows + mine.begin) * L,
                sizeof(std::int32_t) * mine.size() * L);
  LL_CHECK(all_targets > 0, "train_step: every target in the batch is padding (id 0); nothing to learn from");
  const double share = static_cast<double>(my_targets) / static_cast<double>(all_targets);
  Tensor seq_view = Tensor::borrow(dst, Shape{mine.size(), L}, DType::i32);
  Tensor neg_view = n_neg > 1 || config.loss == "adaptive_hinge"
                        ? Tensor::borrow(neg, Shape{n_neg, mine.size(), L}, DType::i32)
                        : Tensor::borrow(neg, Shape{mine.size(), L}, DType::i32);
  float loss_share = 0.0f;
  if (sharded_table) {
    loss_share = static_cast<float>(
        sharded_gradients(seq_view, neg_view, my_targets > 0, static_cast<float>(share)) * share);
  } else if (my_targets > 0) {
    loss_share = static_cast<float>(gradients(seq_view, neg_view, static_cast<float>(share)) * share);
  } else {
    // No targets here (an empty slice of a short batch): zero gradients,
    // and the collectives all the same.
    adam->zero_grad();
  }
  exchange.sum(params, &loss_share, 1);
  adam->step();
  net->parameters_changed();
  return loss_share;
}

}  // namespace limelight
