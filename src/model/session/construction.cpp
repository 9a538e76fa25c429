// A SessionModel: the SessionPlan it builds from a model's parameters (the
// tables laid out for a step and for scoring, the model's fingerprint, state
// 0), and the sessions it starts.
#include <algorithm>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "limelight/error.hpp"
#include "limelight/session.hpp"
#include "model/session/hasher.hpp"
#include "model/session/kernels.hpp"
#include "model/session/plan.hpp"

namespace limelight {

using detail::Rep;
using detail::SessionPlan;

namespace {

const Parameter& find_parameter(const std::vector<const Parameter*>& params, const std::string& name,
                                std::initializer_list<std::int64_t> shape, const char* rep) {
  for (const Parameter* p : params)
    if (p->name == name) {
      std::vector<std::int64_t> want(shape);
      bool ok = p->value.rank() == static_cast<int>(want.size());
      for (std::size_t i = 0; ok && i < want.size(); ++i) ok = p->value.dim(static_cast<int>(i)) == want[i];
      LL_CHECK(ok, "SessionModel: parameter '", name, "' of this ", rep, " model has shape ", p->value.shape().str(),
               ", which sessions cannot serve");
      return *p;
    }
  detail::fail("SessionModel: this ", rep, " model has no parameter '", name,
               "' (sessions serve plain item embedding tables; Bloom embeddings are not supported)");
}

// W (rows, cols) row-major into W^T (cols, rows).
std::vector<float> transposed(const float* w, std::int64_t rows, std::int64_t cols) {
  std::vector<float> t(static_cast<std::size_t>(rows * cols));
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) t[static_cast<std::size_t>(c * rows + r)] = w[r * cols + c];
  return t;
}

int layer_value(const std::vector<int>& values, int layer) {
  return values.size() == 1 ? values[0] : values[static_cast<std::size_t>(layer)];
}

}  // namespace

SessionModel::SessionModel(const ImplicitSequenceModel& model) : plan_(std::make_unique<SessionPlan>()) {
  SessionPlan& p = *plan_;
  const ModelConfig& config = model.config();
  // Sessions compute on the host from the model's parameters in place.
  LL_CHECK(config.device == "cpu", "SessionModel: the model is on device '", config.device,
           "'; sessions run on the CPU (load the model with device cpu)");
  p.model = &model;
  p.V = model.num_items();  // Error when the model is not initialised
  p.D = config.embedding_dim;
  const std::string r = representation_name(config.representation);
  p.rep = detail::session_rep(config.representation);
  p.M = p.rep == Rep::mixture ? config.num_mixtures : 0;
  p.W = p.rep == Rep::mixture ? 2 * p.M * p.D : p.D;
  p.trained_steps = model.optimizer_steps();
  const std::vector<const Parameter*> params = model.parameters();
  const std::int64_t V = p.V, D = p.D, G = 4 * D;
  p.E = find_parameter(params, "item_embeddings.weight", {V, D}, r.c_str()).value.f32();
  p.bias = find_parameter(params, "item_biases.weight", {V, 1}, r.c_str()).value.f32();
  p.padded_v = (V + detail::kBlock - 1) / detail::kBlock * detail::kBlock;
  p.blocked_E.assign(static_cast<std::size_t>(p.padded_v * D), 0.0f);
  for (std::int64_t v = 0; v < V; ++v)
    for (std::int64_t d = 0; d < D; ++d)
      p.blocked_E[static_cast<std::size_t>(((v / detail::kBlock) * D + d) * detail::kBlock + v % detail::kBlock)] =
          p.E[v * D + d];
  p.padded_bias.assign(static_cast<std::size_t>(p.padded_v), 0.0f);
  std::copy(p.bias, p.bias + V, p.padded_bias.begin());

  detail::Hasher h;
  h.bytes(r.data(), r.size());
  h.u64(static_cast<std::uint64_t>(V));
  h.u64(static_cast<std::uint64_t>(D));
  h.u64(static_cast<std::uint64_t>(p.M));
  for (const Parameter* param : params) {
    h.bytes(param->name.data(), param->name.size());
    h.bytes(param->value.f32(), param->value.nbytes());
  }
  if (p.rep == Rep::cnn) {
    h.u64(static_cast<std::uint64_t>(config.cnn.num_layers));
    for (int i = 0; i < config.cnn.num_layers; ++i) {
      h.u64(static_cast<std::uint64_t>(layer_value(config.cnn.kernel_width, i)));
      h.u64(static_cast<std::uint64_t>(layer_value(config.cnn.dilation, i)));
    }
    h.bytes(config.cnn.nonlinearity.data(), config.cnn.nonlinearity.size());
    h.u64(config.cnn.residual ? 1 : 0);
  }
  p.fingerprint = h.digest();

  if (p.rep == Rep::lstm || p.rep == Rep::mixture) {
    p.w_ih_t = transposed(find_parameter(params, "lstm.weight_ih_l0", {G, D}, r.c_str()).value.f32(), G, D);
    p.w_hh_t = transposed(find_parameter(params, "lstm.weight_hh_l0", {G, D}, r.c_str()).value.f32(), G, D);
    const float* b_ih = find_parameter(params, "lstm.bias_ih_l0", {G}, r.c_str()).value.f32();
    const float* b_hh = find_parameter(params, "lstm.bias_hh_l0", {G}, r.c_str()).value.f32();
    p.gate_bias.resize(static_cast<std::size_t>(G));
    for (std::int64_t g = 0; g < G; ++g) p.gate_bias[static_cast<std::size_t>(g)] = b_ih[g] + b_hh[g];
    // The zero step before the first item: a zero input from zero (h, c).
    p.h0.assign(static_cast<std::size_t>(D), 0.0f);
    p.c0.assign(static_cast<std::size_t>(D), 0.0f);
    std::vector<float> z(static_cast<std::size_t>(G));
    detail::lstm_step(p.gate_bias.data(), p.w_hh_t.data(), p.h0.data(), p.c0.data(), z.data(), 1, D);
    if (p.rep == Rep::mixture) {
      const std::int64_t W = p.W;
      p.proj_t = transposed(find_parameter(params, "projection.weight", {W, D, 1}, r.c_str()).value.f32(), W, D);
      const float* pb = find_parameter(params, "projection.bias", {W}, r.c_str()).value.f32();
      p.proj_bias.assign(pb, pb + W);
      p.rep0.resize(static_cast<std::size_t>(W));
      p.mixture_project(p.h0.data(), p.rep0.data());
    }
  }
  if (p.rep == Rep::cnn) {
    p.relu = config.cnn.nonlinearity == "relu";
    p.residual = config.cnn.residual;
    std::int64_t offset = 0;
    for (int i = 0; i < config.cnn.num_layers; ++i) {
      detail::CnnLayer layer;
      layer.kernel = layer_value(config.cnn.kernel_width, i);
      layer.dilation = layer_value(config.cnn.dilation, i);
      layer.span = (layer.kernel - 1) * layer.dilation + 1;
      layer.ring = offset;
      offset += layer.span * D;
      p.field += layer.span - 1;
      const std::string name = "cnn_" + std::to_string(i);
      const float* w = find_parameter(params, name + ".weight", {D, D, layer.kernel, 1}, r.c_str()).value.f32();
      const float* b = find_parameter(params, name + ".bias", {D}, r.c_str()).value.f32();
      layer.taps.resize(static_cast<std::size_t>(layer.kernel * D * D));
      for (std::int64_t o = 0; o < D; ++o)
        for (std::int64_t c = 0; c < D; ++c)
          for (std::int64_t j = 0; j < layer.kernel; ++j)
            layer.taps[static_cast<std::size_t>((j * D + c) * D + o)] = w[(o * D + c) * layer.kernel + j];
      layer.bias.assign(b, b + D);
      p.layers.push_back(std::move(layer));
    }
    p.cnn_state = offset;
    p.cnn_fresh.assign(static_cast<std::size_t>(offset + D), 0.0f);
    p.cnn_advance(p.cnn_fresh.data(), -1, 0);
  }
}

SessionModel::~SessionModel() = default;
SessionModel::SessionModel(SessionModel&&) noexcept = default;
SessionModel& SessionModel::operator=(SessionModel&&) noexcept = default;

const ImplicitSequenceModel& SessionModel::model() const { return *plan_->model; }
std::uint64_t SessionModel::fingerprint() const { return plan_->fingerprint; }

Session SessionModel::start(SessionOptions options) const {
  const SessionPlan& p = *plan_;
  LL_CHECK(p.model->optimizer_steps() == p.trained_steps, "SessionModel: the model has been trained since this ",
           "SessionModel was built (", p.trained_steps, " optimizer steps then, ", p.model->optimizer_steps(),
           " now); build a new SessionModel");
  LL_CHECK(options.max_events >= 0 && options.max_events <= detail::kMaxEvents,
           "SessionModel::start: max_events must be in [0, ", detail::kMaxEvents, "] (0: unbounded), got ",
           options.max_events);
  Session s;
  s.plan_ = &p;
  s.max_events_ = options.max_events;
  p.fresh(s);
  return s;
}

Session SessionModel::start(std::span<const std::int32_t> history, SessionOptions options) const {
  Session s = start(options);
  // A bounded session's state depends on its last N events only, so a long
  // history can skip a prefix. The skip is a multiple of N, which keeps every
  // ring slot (event e at e mod N) where pushing it all would put it; the CNN
  // (rings of other sizes, and cheap steps) pushes everything.
  const std::int64_t N = options.max_events, length = static_cast<std::int64_t>(history.size());
  const std::int64_t skip = N > 0 && plan_->rep != Rep::cnn && length > 2 * N ? (length - N) / N * N : 0;
  for (std::int64_t i = 0; i < skip; ++i)
    LL_CHECK(history[static_cast<std::size_t>(i)] >= 0 && history[static_cast<std::size_t>(i)] < plan_->V,
             "SessionModel::start: history item ", history[static_cast<std::size_t>(i)], " at position ", i,
             " is outside the model's catalogue [0, ", plan_->V, ")");
  s.push(history.subspan(static_cast<std::size_t>(skip)));
  s.events_ += skip;
  return s;
}

}  // namespace limelight
