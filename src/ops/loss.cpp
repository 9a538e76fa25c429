// The fused sequence loss: target scoring, the four masked losses and their
// mean in one op, forward and backward. Fusing removes a dozen full passes
// over (B, L) tensors and the staging of per-target embedding gradients.
#include "ops/common.hpp"

namespace limelight::ops {
using namespace detail;

namespace {

struct LossAttrs {
  backend::LossShape shape;
  float inverse_count;  // the mean's 1 / (unmasked positions)
};

// saved[0] = targets (B, L), saved[1] = negatives (N, B, L), saved[2] = the
// backend's coefficients (N + 1, B, L): d loss_element / d score.
void sequence_loss_backward(Tape& t, const Node& n) {
  const LossAttrs a = n.attrs.get<LossAttrs>();
  Backend& be = backend_of(t, "sequence_loss backward", {n.out});
  const float d_loss = t.grad_scalar(n.out) * a.inverse_count;
  be.sequence_loss_backward(a.shape, d_loss, t.value(n.in[0]).f32(), t.value(n.in[1]).f32(), n.saved[0].i32(),
                            n.saved[1].i32(), n.saved[2].f32(), grad_or_null(t, n.in[0]), table_grad(t, n.in[1]),
                            table_grad(t, n.in[2]), n.payload);
}

// saved[0] = sequences (B, L), saved[1] = negatives (N, B, L), saved[2] = coef.
void pooled_sequence_loss_backward(Tape& t, const Node& n) {
  const LossAttrs a = n.attrs.get<LossAttrs>();
  Backend& be = backend_of(t, "pooled_sequence_loss backward", {n.out});
  const float d_loss = t.grad_scalar(n.out) * a.inverse_count;
  be.pooled_sequence_loss_backward(a.shape, d_loss, t.value(n.in[0]).f32(), n.saved[0].i32(), n.saved[1].i32(),
                                   n.saved[2].f32(), table_grad(t, n.in[0]), table_grad(t, n.in[1]), t.arena(),
                                   n.payload);
}

// The (V, D) table both losses score against.
const Tensor& loss_table(Tape& t, Var table, const char* op) {
  const Tensor& E = f32_input(t, table, op, "table");
  LL_CHECK(E.rank() == 2, op, ": table must be (V, D), got ", E.shape().str());
  return E;
}

// The item bias's V values, or null without one.
const float* loss_bias(Tape& t, Var bias, std::int64_t V, const char* op) {
  if (!bias.valid()) return nullptr;
  const Tensor& b = f32_input(t, bias, op, "bias");
  LL_CHECK(b.numel() == V, op, ": bias ", b.shape().str(), " does not match a table of ", V, " rows");
  return b.f32();
}

// The negatives of (B, L) positions, (N, B, L); returns N.
std::int64_t negatives_per_position(const Tensor& negatives, std::int64_t B, std::int64_t L, LossKind kind,
                                    const char* op) {
  LL_CHECK(negatives.dtype() == DType::i32 && negatives.rank() == 3 && negatives.dim(1) == B && negatives.dim(2) == L,
           op, ": negatives must be i32 (N, ", B, ", ", L, "), got ", negatives.shape().str());
  const std::int64_t N = negatives.dim(0);
  LL_CHECK(N >= 1 && (kind == LossKind::adaptive_hinge || N == 1), op, ": ", N,
           " negative samples per position; only adaptive_hinge takes more than one");
  return N;
}

// The loss's mean as the op's output, and its node: what either backward
// needs, `ids` being the targets or the sequences.
Var record_loss(Tape& t, const char* op, const Backend::LossTotals& totals, bool requires_grad, BackwardFn backward,
                std::initializer_list<Var> inputs, const backend::LossShape& s, const Tensor& ids,
                const Tensor& negatives, const Tensor& coef, const BackendPayload& payload) {
  LL_CHECK(totals.count > 0.0, op, ": every target in the batch is padding (id 0); nothing to learn from");
  const auto mean = static_cast<float>(totals.sum / totals.count);
  const Var loss = record(t, scalar_tensor(t, mean), requires_grad, backward, inputs, [&](Node& n) {
    n.attrs.put(LossAttrs{s, static_cast<float>(1.0 / totals.count)});
    n.saved[0] = ids;
    n.saved[1] = negatives;
    n.saved[2] = coef;
    n.payload = payload;
  });
  t.set_host_scalar(loss, mean);  // the totals came back to the host: no second read
  return loss;
}

}  // namespace

Var pooled_sequence_loss(Tape& t, Var table, Var bias, const Tensor& sequences, const Tensor& negatives,
                         LossKind kind) {
  const char* op = "pooled_sequence_loss";
  const Tensor& E = loss_table(t, table, op);
  const std::int64_t V = E.dim(0), D = E.dim(1);
  const float* bias_p = loss_bias(t, bias, V, op);
  LL_CHECK(sequences.dtype() == DType::i32 && sequences.rank() == 2, op, ": sequences must be i32 (B, L), got ",
           sequences.shape().str());
  const std::int64_t B = sequences.dim(0), L = sequences.dim(1);
  const std::int64_t N = negatives_per_position(negatives, B, L, kind, op);
  Backend& be = backend_of(t, op, {table, bias}, {&sequences, &negatives});
  LL_CHECK(be.supports(backend::Primitive::pooled_sequence_loss), op, ": the ", be.name(),
           " backend has no fused pooling loss");
  check_ids_before_flagging_kernel(be, sequences, V, op);
  check_ids_before_flagging_kernel(be, negatives, V, op);
  const backend::LossShape s{B, L, L + 1, D, V, D, 0, N};
  Tensor coef = t.arena().tensor(Shape{N + 1, B, L});
  const bool rg = needs_grad(t, {table, bias});
  BackendPayload payload;
  const auto totals = be.pooled_sequence_loss_forward(kind, s, E.f32(), bias_p, sequences.i32(), negatives.i32(),
                                                      coef.f32(), t.arena(), rg ? &payload : nullptr);
  return record_loss(t, op, totals, rg, pooled_sequence_loss_backward, {table, bias}, s, sequences, negatives, coef,
                     payload);
}

Var sequence_loss(Tape& t, Var states, Var table, Var bias, const Tensor& targets, const Tensor& negatives,
                  LossKind kind, std::int64_t num_mixtures) {
  const char* op = "sequence_loss";
  const Tensor& R = f32_input(t, states, op, "states");
  const Tensor& E = loss_table(t, table, op);
  const std::int64_t V = E.dim(0), D = E.dim(1), M = num_mixtures;
  const float* bias_p = loss_bias(t, bias, V, op);
  LL_CHECK(targets.dtype() == DType::i32 && targets.rank() == 2, op, ": targets must be i32 (B, L), got ",
           targets.shape().str());
  const std::int64_t B = targets.dim(0), L = targets.dim(1);
  LL_CHECK(M >= 0 && M <= 64, op, ": num_mixtures must be in [0, 64], got ", M);
  const std::int64_t W = M > 0 ? 2 * M * D : D;
  LL_CHECK(R.rank() == 3 && R.dim(0) == B && R.dim(1) >= L && R.dim(2) == W, op, ": states ", R.shape().str(),
           " do not fit targets ", targets.shape().str(), " (expected (", B, ", >= ", L, ", ", W, "))");
  const std::int64_t N = negatives_per_position(negatives, B, L, kind, op);
  Backend& be = backend_of(t, op, {states, table, bias}, {&targets, &negatives});
  check_ids_before_flagging_kernel(be, targets, V, op);
  check_ids_before_flagging_kernel(be, negatives, V, op);
  const backend::LossShape s{B, L, R.dim(1), W, V, D, M, N};
  Tensor coef = t.arena().tensor(Shape{N + 1, B, L});
  const bool rg = needs_grad(t, {states, table, bias});
  BackendPayload payload;
  const auto totals = be.sequence_loss_forward(kind, s, R.f32(), E.f32(), bias_p, targets.i32(), negatives.i32(),
                                               coef.f32(), rg ? &payload : nullptr);
  return record_loss(t, op, totals, rg, sequence_loss_backward, {states, table, bias}, s, targets, negatives, coef,
                     payload);
}

}  // namespace limelight::ops
