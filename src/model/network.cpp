// Representations: pooling, causal CNN, LSTM and mixture-of-tastes, written
// on the ops of include/limelight/ops.hpp. Layouts are batch-major (B, T, W)
// where the reference is channel-first (B, W, T); values are the same.
#include "model/network.hpp"

#include <algorithm>
#include <cmath>

#include "backend/backend.hpp"
#include "backend/cpu/parallel.hpp"
#include "limelight/bloom.hpp"

namespace limelight::model {

namespace {

// Normal draws in blocks of a fixed size, block b from its own stream (a fork
// of one generator drawn for the tensor), so blocks fill in parallel and the
// values depend on the seed alone, not on the thread count. Each polar-method
// pair gives two values. A 10M-item table is 320M draws: one stream on one
// thread took longer than the rest of building the model.
constexpr std::int64_t normal_block = 1 << 16;

void fill_normal_block(Rng& rng, float* out, std::int64_t n, double stddev) {
  std::int64_t i = 0;
  while (i < n) {
    const double u = 2.0 * rng.uniform() - 1.0;
    const double v = 2.0 * rng.uniform() - 1.0;
    const double s = u * u + v * v;
    if (!(s > 0.0 && s < 1.0)) continue;
    const double f = std::sqrt(-2.0 * std::log(s) / s) * stddev;
    out[i++] = static_cast<float>(u * f);
    if (i < n) out[i++] = static_cast<float>(v * f);
  }
}

Tensor normal_tensor(const Shape& shape, double stddev, Rng& rng) {
  Tensor t = Tensor::empty(shape);
  const Rng streams(rng.next_u64());
  const std::int64_t n = t.numel(), blocks = (n + normal_block - 1) / normal_block;
  float* out = t.f32();
  // Each block draws from its own fork of the stream, so the values do not
  // depend on how the blocks are spread over threads. The model's configured
  // thread count applies here as in the ops, not OpenMP's default.
  const int threads = static_cast<int>(std::min<std::int64_t>(cpu::num_threads(), blocks));
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
  for (std::int64_t b = 0; b < blocks; ++b) {
    Rng block = streams.fork(static_cast<std::uint64_t>(b));
    const std::int64_t begin = b * normal_block;
    fill_normal_block(block, out + begin, std::min(normal_block, n - begin), stddev);
  }
  return t;
}

// Rows [begin, end) of normal_tensor({rows, D}): the same values, drawing
// only the blocks that hold them, so that a rank's shard of a sharded table
// is its rows of the one-process table without the whole table in memory.
Tensor normal_rows(std::int64_t D, std::int64_t begin, std::int64_t end, double stddev, Rng& rng) {
  Tensor t = Tensor::empty({end - begin, D});
  const Rng streams(rng.next_u64());
  const std::int64_t first = begin * D, last = end * D;  // flat positions [first, last)
  const std::int64_t b0 = first / normal_block, b1 = (last + normal_block - 1) / normal_block;
  float* out = t.f32();
  const int threads = static_cast<int>(std::max<std::int64_t>(1, std::min<std::int64_t>(cpu::num_threads(), b1 - b0)));
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    std::vector<float> block_values(static_cast<std::size_t>(normal_block));
#pragma omp for schedule(static)
    for (std::int64_t b = b0; b < b1; ++b) {
      Rng block = streams.fork(static_cast<std::uint64_t>(b));
      const std::int64_t block_begin = b * normal_block, lo = std::max(first, block_begin);
      const std::int64_t hi = std::min(last, block_begin + normal_block);
      // The block is drawn from its start (the polar method's pairs), up to what is kept.
      fill_normal_block(block, block_values.data(), hi - block_begin, stddev);
      std::copy(block_values.data() + (lo - block_begin), block_values.data() + (hi - block_begin),
                out + (lo - first));
    }
  }
  return t;
}

// PyTorch's default for LSTM and convolution weights: U(-bound, bound).
Tensor uniform_tensor(const Shape& shape, double bound, Rng& rng) {
  Tensor t = Tensor::empty(shape);
  for (std::int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = static_cast<float>((2.0 * rng.uniform() - 1.0) * bound);
  return t;
}

int layer_value(const std::vector<int>& values, int layer) {
  return values.size() == 1 ? values[0] : values[static_cast<std::size_t>(layer)];
}

// Host ids built for a step (Bloom's hashed rows, a renumbered batch): in
// the tape's arena on the CPU, where they are used in place; on the heap
// for a device tape, whose arena is the device's memory (they go there
// with Tensor::to).
Tensor host_ids(Tape& tape, const Shape& shape) {
  return tape.device() == Device::cpu ? tape.arena().tensor(shape, DType::i32) : Tensor::empty(shape, DType::i32);
}

}  // namespace

Parameter& Network::add(const std::string& name, Tensor value, bool sparse) {
  params_.emplace_back(name, std::move(value), sparse);
  return params_.back();
}

Network::Network(const ModelConfig& config, std::int32_t num_items, Rng& rng, ItemRows rows)
    : config_(config), num_items_(num_items), rows_(rows) {
  config_.validate();
  LL_CHECK(num_items >= 2, "ImplicitSequenceModel: num_items must be at least 2 (padding and one item), got ",
           num_items);
  if (rows_.end < 0) rows_ = {0, num_items};
  LL_CHECK(rows_.begin >= 0 && rows_.begin <= rows_.end && rows_.end <= num_items, "Network: item rows [",
           rows_.begin, ", ", rows_.end, ") outside the catalogue of ", num_items);
  const std::int64_t D = config.embedding_dim;
  // Item embeddings ~ N(0, (1/D)^2) with the padding row zero; biases zero.
  // A Bloom table has the compressed row count and the reference's nested name.
  if (bloom()) {
    const std::int64_t rows = bloom_compressed_rows(config.bloom.compression_ratio, num_items);
    compressed_rows_ = rows;
    const int H = config.bloom.num_hash_functions;
    bloom_hashes_ = Tensor::from_vector(bloom_hash_table(num_items, rows, H), Shape{num_items, H});
    if (rows_.compressed_end < 0) rows_.compressed_begin = 0, rows_.compressed_end = sharded() ? -1 : rows;
    LL_CHECK(rows_.compressed_begin >= 0 && rows_.compressed_begin <= rows_.compressed_end &&
                 rows_.compressed_end <= rows,
             "Network: compressed rows [", rows_.compressed_begin, ", ", rows_.compressed_end,
             ") outside the Bloom table of ", rows, " (a sharded Bloom table needs its block)");
    // A shard draws its block of the one-process table's values.
    Tensor emb = sharded() ? normal_rows(D, rows_.compressed_begin, rows_.compressed_end, 1.0 / static_cast<double>(D), rng)
                           : normal_tensor({rows, D}, 1.0 / static_cast<double>(D), rng);
    if (rows_.compressed_begin == 0 && rows_.compressed_end > 0)
      for (std::int64_t d = 0; d < D; ++d) emb.f32()[d] = 0.0f;
    add("item_embeddings.embeddings.weight", emb, config.sparse);
  } else if (sharded()) {
    Tensor emb = normal_rows(D, rows_.begin, rows_.end, 1.0 / static_cast<double>(D), rng);
    if (rows_.begin == 0 && rows_.end > 0)
      for (std::int64_t d = 0; d < D; ++d) emb.f32()[d] = 0.0f;
    add("item_embeddings.weight", emb, config.sparse);
  } else {
    Tensor emb = normal_tensor({num_items, D}, 1.0 / static_cast<double>(D), rng);
    for (std::int64_t d = 0; d < D; ++d) emb.f32()[d] = 0.0f;
    add("item_embeddings.weight", emb, config.sparse);
  }
  add("item_biases.weight", Tensor::zeros({rows_.end - rows_.begin, 1}), config.sparse);
  state_width_ = D;
  const Representation rep = config.representation;
  if (rep == Representation::lstm || rep == Representation::mixture) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(D));
    add("lstm.weight_ih_l0", uniform_tensor({4 * D, D}, bound, rng));
    add("lstm.weight_hh_l0", uniform_tensor({4 * D, D}, bound, rng));
    add("lstm.bias_ih_l0", uniform_tensor({4 * D}, bound, rng));
    add("lstm.bias_hh_l0", uniform_tensor({4 * D}, bound, rng));
    if (rep == Representation::mixture) {
      const std::int64_t M = config.num_mixtures;
      add("projection.weight", uniform_tensor({2 * M * D, D, 1}, bound, rng));
      add("projection.bias", uniform_tensor({2 * M * D}, bound, rng));
      state_width_ = 2 * M * D;
    }
  } else if (rep == Representation::cnn) {
    for (int i = 0; i < config.cnn.num_layers; ++i) {
      const int k = layer_value(config.cnn.kernel_width, i);
      const double bound = 1.0 / std::sqrt(static_cast<double>(D * k));
      add("cnn_" + std::to_string(i) + ".weight", uniform_tensor({D, D, k, 1}, bound, rng));
      add("cnn_" + std::to_string(i) + ".bias", uniform_tensor({D}, bound, rng));
    }
  }
}

std::vector<Parameter*> Network::parameters() {
  std::vector<Parameter*> out;
  for (Parameter& p : params_) out.push_back(&p);
  return out;
}

Parameter* Network::find(const std::string& name) {
  for (Parameter& p : params_)
    if (p.name == name) return &p;
  return nullptr;
}

Var Network::lstm_states(Tape& tape, Var embedded) {
  Var x = ops::pad_left(tape, embedded, 1, 1);  // the extra zero step before the first item
  return ops::lstm(tape, x, param(tape, 2), param(tape, 3), param(tape, 4), param(tape, 5));
}

Var Network::embed(Tape& tape, const Tensor& ids) {
  LL_CHECK(!sharded(), "this rank holds item rows [", rows_.begin, ", ", rows_.end, ") of a table sharded across ",
           "ranks; it embeds only the rows a step fetches from their owners");
  if (!bloom()) return ops::embedding(tape, param(tape, 0), ids);
  if (!tape.recording()) return ops::embedding(tape, tape.constant(item_table()), ids);
  // Sum over the hash axis of the compressed rows each id hashes to. The
  // hashing is host code: the ids are the host's, and the hashed rows go to
  // the tape's device.
  LL_CHECK(ids.dtype() == DType::i32, "embedding: ids must be i32, got ", dtype_name(ids.dtype()));
  LL_CHECK(ids.device() == Device::cpu, "embedding: a Bloom table hashes host ids; these are on ",
           device_name(ids.device()));
  const std::int64_t H = bloom_hashes_.dim(1), V = num_items_;
  Tensor hashed = host_ids(tape, ids.shape().appended(H));
  const std::int32_t* id = ids.i32();
  for (std::int64_t i = 0; i < ids.numel(); ++i) {
    LL_CHECK(id[i] >= 0 && id[i] < V, "embedding: item id ", id[i], " at position ", i, " is outside [0, ", V, ")");
    std::copy_n(bloom_hashes_.i32() + id[i] * H, H, hashed.i32() + i * H);
  }
  return ops::sum_dim(tape, ops::embedding(tape, param(tape, 0), hashed.to(tape.device())), ids.rank());
}

const Tensor& Network::item_table() const {
  LL_CHECK(!sharded(), "this model's item table is sharded across ranks (this rank holds rows [", rows_.begin, ", ",
           rows_.end, ") of ", num_items_, "): serve it from the saved model file, which holds them all");
  if (!bloom()) return params_[0].value;
  if (item_table_valid_.load(std::memory_order_acquire)) return item_table_;
  std::lock_guard<std::mutex> lock(item_table_mutex_);
  if (!item_table_valid_.load(std::memory_order_relaxed)) {
    const std::int64_t V = num_items_, D = config_.embedding_dim, H = bloom_hashes_.dim(1);
    const Device device = params_[0].value.device();
    if (!item_table_.defined() || item_table_.numel() != V * D) item_table_ = Tensor::empty({V, D}, DType::f32, device);
    // In chunks of items, so the (items, H, D) gather stays small for large catalogues.
    constexpr std::int64_t chunk = 8192;
    Tape tape(false, device);
    for (std::int64_t i0 = 0; i0 < V; i0 += chunk) {
      const std::int64_t n = std::min(chunk, V - i0);
      tape.reset();
      Var table = tape.constant(params_[0].value);
      const Tensor hashes = Tensor::borrow(bloom_hashes_.i32() + i0 * H, Shape{n, H}, DType::i32).to(device);
      const Tensor& rows = tape.value(ops::sum_dim(tape, ops::embedding(tape, table, hashes), 1));
      Tensor::borrow(item_table_.f32() + i0 * D, Shape{n, D}, DType::f32, device).copy_from(rows);
    }
    // Other threads serve from the table on their own streams: its writes
    // are done before it is published.
    allocator_for(device).synchronize();
    item_table_valid_.store(true, std::memory_order_release);
  }
  return item_table_;
}

Var Network::training_loss(Tape& tape, const Tensor& sequences, const Tensor& negatives, ops::LossKind kind) {
  LL_CHECK(!sharded(), "training_loss: this rank holds item rows [", rows_.begin, ", ", rows_.end,
           ") of a sharded table; a sharded step scores through training_loss_on_rows");
  if (!bloom()) {
    // Pooling's gather, running mean and scoring in one op where the backend has it.
    if (config_.representation == Representation::pooling &&
        backend::get(params_[0].value.device()).supports(backend::Primitive::pooled_sequence_loss))
      return ops::pooled_sequence_loss(tape, param(tape, 0), param(tape, 1), sequences, negatives, kind);
    return loss(tape, states(tape, sequences), sequences, negatives, kind);
  }
  // With Bloom embeddings the step works on the batch's own items: the U
  // distinct ids of sequences and negatives (the padding id first, so local id
  // 0 is still padding), their summed embeddings (U, D) and biases (U, 1), and
  // the batch renumbered into 0..U-1. The ops then run unchanged, and the
  // gradients reach only the compressed rows and biases the batch used.
  // The renumbering is host code: the batch is the host's, and what it
  // builds goes to the tape's device.
  LL_CHECK(sequences.device() == Device::cpu && negatives.device() == Device::cpu,
           "training_loss: a Bloom network renumbers a host batch; this one is on ",
           device_name(sequences.device()));
  thread_local std::vector<std::int32_t> local_of;  // -1 for ids not in the batch
  if (local_of.size() < static_cast<std::size_t>(num_items_)) local_of.assign(static_cast<std::size_t>(num_items_), -1);
  const std::int64_t n_seq = sequences.numel(), n_neg = negatives.numel();
  Tensor ids = host_ids(tape, Shape{n_seq + n_neg + 1});
  Tensor local_seq = host_ids(tape, sequences.shape());
  Tensor local_neg = host_ids(tape, negatives.shape());
  std::int32_t count = 0;
  auto renumber = [&](const Tensor& in, const Tensor& out) {
    for (std::int64_t i = 0; i < in.numel(); ++i) {
      const std::int32_t id = in.i32()[i];
      LL_CHECK(id >= 0 && id < num_items_, "train_step: item id ", id, " at position ", i, " is outside [0, ",
               num_items_, ")");
      std::int32_t& local = local_of[static_cast<std::size_t>(id)];
      if (local < 0) {
        local = count;
        ids.i32()[count++] = id;
      }
      out.i32()[i] = local;
    }
  };
  local_of[0] = count;
  ids.i32()[count++] = 0;
  try {
    renumber(sequences, local_seq);
    renumber(negatives, local_neg);
  } catch (...) {
    for (std::int32_t i = 0; i < count; ++i) local_of[static_cast<std::size_t>(ids.i32()[i])] = -1;
    throw;
  }
  for (std::int32_t i = 0; i < count; ++i) local_of[static_cast<std::size_t>(ids.i32()[i])] = -1;
  const Tensor batch_ids = Tensor::borrow(ids.raw(), Shape{count}, DType::i32);
  const Device device = tape.device();
  Var table = embed(tape, batch_ids);                                     // (U, D)
  Var bias = ops::embedding(tape, param(tape, 1), batch_ids.to(device));  // (U, 1)
  return composed_loss_on_rows(tape, table, bias, local_seq.to(device), local_neg.to(device), kind);
}

Network::BloomRows Network::bloom_rows(const std::int32_t* items, std::int64_t n) const {
  const std::int64_t H = bloom_hashes_.dim(1);
  const std::int32_t* hashes = bloom_hashes_.i32();
  BloomRows out;
  out.rows.push_back(0);
  for (std::int64_t i = 0; i < n; ++i) out.rows.insert(out.rows.end(), hashes + items[i] * H, hashes + (items[i] + 1) * H);
  std::sort(out.rows.begin(), out.rows.end());
  out.rows.erase(std::unique(out.rows.begin(), out.rows.end()), out.rows.end());
  out.hashes = Tensor::empty({n, H}, DType::i32);
  for (std::int64_t i = 0; i < n * H; ++i)
    out.hashes.i32()[i] = static_cast<std::int32_t>(
        std::lower_bound(out.rows.begin(), out.rows.end(), hashes[items[i / H] * H + i % H]) - out.rows.begin());
  return out;
}

Var Network::bloom_sum(Tape& tape, Var compressed, const Tensor& hashes) {
  return ops::sum_dim(tape, ops::embedding(tape, compressed, hashes), 1);
}

Var Network::bloom_training_loss_on_rows(Tape& tape, Var compressed, const Tensor& hashes, Var bias,
                                         const Tensor& sequences, const Tensor& negatives, ops::LossKind kind) {
  return composed_loss_on_rows(tape, bloom_sum(tape, compressed, hashes), bias, sequences, negatives, kind);
}

Var Network::training_loss_on_rows(Tape& tape, Var table, Var bias, const Tensor& sequences,
                                   const Tensor& negatives, ops::LossKind kind) {
  // Pooling's fused loss where the backend has it, as training_loss runs it.
  if (config_.representation == Representation::pooling &&
      backend::get(tape.value(table).device()).supports(backend::Primitive::pooled_sequence_loss))
    return ops::pooled_sequence_loss(tape, table, bias, sequences, negatives, kind);
  return composed_loss_on_rows(tape, table, bias, sequences, negatives, kind);
}

Var Network::composed_loss_on_rows(Tape& tape, Var table, Var bias, const Tensor& sequences,
                                   const Tensor& negatives, ops::LossKind kind) {
  Var all = states_from_embedded(tape, ops::embedding(tape, table, sequences));
  const std::int64_t M = config_.representation == Representation::mixture ? config_.num_mixtures : 0;
  return ops::sequence_loss(tape, all, table, bias, sequences, negatives, kind, M);
}

Var Network::states(Tape& tape, const Tensor& sequences) {
  LL_CHECK(sequences.rank() == 2, "user_representation: sequences must be (B, L), got ", sequences.shape().str());
  return states_from_embedded(tape, embed(tape, sequences));  // (B, L, D)
}

Var Network::states_from_embedded(Tape& tape, Var emb) {
  switch (config_.representation) {
    case Representation::pooling: return ops::running_pool(tape, emb);
    case Representation::lstm: return lstm_states(tape, emb);
    case Representation::mixture: {
      Var h = lstm_states(tape, emb);
      // The 1x1 projection is a linear map of each step's state.
      return ops::linear(tape, h, param(tape, 6), param(tape, 7));
    }
    case Representation::cnn: break;
  }
  // cnn: layer 0 pads one step more than causality needs, giving the L+1
  // states; its residual is the input shifted by that step (right-aligned).
  Var x = emb;
  const ops::Activation act = config_.cnn.nonlinearity == "relu" ? ops::Activation::relu : ops::Activation::tanh;
  for (int i = 0; i < config_.cnn.num_layers; ++i) {
    const std::int64_t k = layer_value(config_.cnn.kernel_width, i);
    const std::int64_t d = layer_value(config_.cnn.dilation, i);
    const std::int64_t pad = i == 0 ? k + (k - 1) * (d - 1) : (k - 1) * d;
    x = ops::causal_conv(tape, x, param(tape, 2 + 2 * static_cast<std::size_t>(i)),
                         param(tape, 3 + 2 * static_cast<std::size_t>(i)), d, pad, act,
                         config_.cnn.residual ? x : Var{});
  }
  return x;
}

Tensor Network::final_states(Tape& tape, const Tensor& sequences, const Var* item_rows) {
  LL_CHECK(sequences.rank() == 2, "predict: sequences must be (B, L), got ", sequences.shape().str());
  const std::int64_t B = sequences.dim(0), L = sequences.dim(1);
  const Representation rep = config_.representation;
  Tensor input = sequences;
  if (rep == Representation::cnn) {
    // The last state depends on the last 1 + sum_i (k_i - 1) d_i items only;
    // earlier ones are never read, so they can be left out exactly.
    std::int64_t field = 1;
    for (int i = 0; i < config_.cnn.num_layers; ++i)
      field += (layer_value(config_.cnn.kernel_width, i) - 1) * layer_value(config_.cnn.dilation, i);
    if (field < L) {
      input = tape.arena().tensor(Shape{B, field}, DType::i32);
      if (sequences.device() == Device::cpu) {
        for (std::int64_t b = 0; b < B; ++b)
          std::copy(sequences.i32() + b * L + (L - field), sequences.i32() + (b + 1) * L, input.i32() + b * field);
      } else {
        DeviceAllocator& device = allocator_for(sequences.device());
        for (std::int64_t b = 0; b < B; ++b)
          device.copy(input.i32() + b * field, input.device(), sequences.i32() + b * L + (L - field),
                      sequences.device(), sizeof(std::int32_t) * static_cast<std::size_t>(field));
      }
    }
  }
  const std::int64_t steps = input.dim(1) + 1;
  // The embeddings of the input: looked up in the table, or with
  // `item_rows`, in the rows a sharded table fetched (the input numbering them).
  Var embedded = item_rows != nullptr ? ops::embedding(tape, *item_rows, input) : embed(tape, input);
  if (rep == Representation::mixture) {
    Var h = lstm_states(tape, embedded);
    Var last = ops::slice(tape, h, 1, steps - 1, 1);
    return tape.value(ops::linear(tape, last, param(tape, 6), param(tape, 7))).reshape(Shape{B, state_width_});
  }
  Var all = states_from_embedded(tape, embedded);
  return tape.value(ops::slice(tape, all, 1, steps - 1, 1)).reshape(Shape{B, state_width_});
}

Var Network::loss(Tape& tape, Var states, const Tensor& targets, const Tensor& negatives, ops::LossKind kind) {
  LL_CHECK(!bloom(), "Network::loss: a Bloom network scores through training_loss");
  const std::int64_t M = config_.representation == Representation::mixture ? config_.num_mixtures : 0;
  return ops::sequence_loss(tape, states, param(tape, 0), param(tape, 1), targets, negatives, kind, M);
}

}  // namespace limelight::model
