// Representations: pooling, causal CNN, LSTM and mixture-of-tastes, written
// on the ops of include/limelight/ops.hpp. Layouts are batch-major (B, T, W)
// where the reference is channel-first (B, W, T); values are the same.
#include "model/network.hpp"

#include <algorithm>
#include <cmath>

#include "backend/cpu/parallel.hpp"

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
  cpu::parallel_chunks(cpu::num_threads(), blocks, 2, [&](int, std::int64_t b0, std::int64_t b1) {
    for (std::int64_t b = b0; b < b1; ++b) {
      Rng block = streams.fork(static_cast<std::uint64_t>(b));
      const std::int64_t begin = b * normal_block;
      fill_normal_block(block, out + begin, std::min(normal_block, n - begin), stddev);
    }
  });
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

}  // namespace

Parameter& Network::add(const std::string& name, Tensor value, bool sparse) {
  params_.emplace_back(name, std::move(value), sparse);
  return params_.back();
}

Network::Network(const ModelConfig& config, std::int32_t num_items, Rng& rng)
    : config_(config), num_items_(num_items) {
  config_.validate();
  LL_CHECK(num_items >= 2, "ImplicitSequenceModel: num_items must be at least 2 (padding and one item), got ",
           num_items);
  const std::int64_t D = config.embedding_dim;
  // Item embeddings ~ N(0, (1/D)^2) with the padding row zero; biases zero.
  Tensor emb = normal_tensor({num_items, D}, 1.0 / static_cast<double>(D), rng);
  for (std::int64_t d = 0; d < D; ++d) emb.f32()[d] = 0.0f;
  add("item_embeddings.weight", emb, config.sparse);
  add("item_biases.weight", Tensor::zeros({num_items, 1}), config.sparse);
  state_width_ = D;
  const std::string& rep = config.representation;
  if (rep == "lstm" || rep == "mixture") {
    const double bound = 1.0 / std::sqrt(static_cast<double>(D));
    add("lstm.weight_ih_l0", uniform_tensor({4 * D, D}, bound, rng));
    add("lstm.weight_hh_l0", uniform_tensor({4 * D, D}, bound, rng));
    add("lstm.bias_ih_l0", uniform_tensor({4 * D}, bound, rng));
    add("lstm.bias_hh_l0", uniform_tensor({4 * D}, bound, rng));
    if (rep == "mixture") {
      const std::int64_t M = config.num_mixtures;
      add("projection.weight", uniform_tensor({2 * M * D, D, 1}, bound, rng));
      add("projection.bias", uniform_tensor({2 * M * D}, bound, rng));
      state_width_ = 2 * M * D;
    }
  } else if (rep == "cnn") {
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

Var Network::states(Tape& tape, const Tensor& sequences) {
  LL_CHECK(sequences.rank() == 2, "user_representation: sequences must be (B, L), got ", sequences.shape().str());
  Var emb = ops::embedding(tape, param(tape, 0), sequences);  // (B, L, D)
  const std::string& rep = config_.representation;
  if (rep == "pooling") return ops::running_pool(tape, emb);
  if (rep == "lstm") return lstm_states(tape, emb);
  if (rep == "mixture") {
    Var h = lstm_states(tape, emb);
    // The 1x1 projection is a linear map of each step's state.
    return ops::linear(tape, h, param(tape, 6), param(tape, 7));
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

Tensor Network::final_states(Tape& tape, const Tensor& sequences) {
  LL_CHECK(sequences.rank() == 2, "predict: sequences must be (B, L), got ", sequences.shape().str());
  const std::int64_t B = sequences.dim(0), L = sequences.dim(1);
  const std::string& rep = config_.representation;
  Tensor input = sequences;
  if (rep == "cnn") {
    // The last state depends on the last 1 + sum_i (k_i - 1) d_i items only;
    // earlier ones are never read, so they can be left out exactly.
    std::int64_t field = 1;
    for (int i = 0; i < config_.cnn.num_layers; ++i)
      field += (layer_value(config_.cnn.kernel_width, i) - 1) * layer_value(config_.cnn.dilation, i);
    if (field < L) {
      input = tape.arena().tensor(Shape{B, field}, DType::i32);
      for (std::int64_t b = 0; b < B; ++b)
        std::copy(sequences.i32() + b * L + (L - field), sequences.i32() + (b + 1) * L, input.i32() + b * field);
    }
  }
  const std::int64_t steps = input.dim(1) + 1;
  if (rep == "mixture") {
    Var h = lstm_states(tape, ops::embedding(tape, param(tape, 0), input));
    Var last = ops::slice(tape, h, 1, steps - 1, 1);
    return tape.value(ops::linear(tape, last, param(tape, 6), param(tape, 7))).reshape(Shape{B, state_width_});
  }
  Var all = states(tape, input);
  return tape.value(ops::slice(tape, all, 1, steps - 1, 1)).reshape(Shape{B, state_width_});
}

Var Network::loss(Tape& tape, Var states, const Tensor& targets, const Tensor& negatives, ops::LossKind kind) {
  const std::int64_t M = config_.representation == "mixture" ? config_.num_mixtures : 0;
  return ops::sequence_loss(tape, states, param(tape, 0), param(tape, 1), targets, negatives, kind, M);
}

}  // namespace limelight::model
