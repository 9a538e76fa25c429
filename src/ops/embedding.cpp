// Embedding ops: the lookup, and target scoring (plain dot product, and the
// mixture-of-tastes head). Their backward passes write table gradients
// densely or row-sparsely, and never into row 0, the padding row.
#include "ops/common.hpp"

namespace limelight::ops {
using namespace detail;

namespace {

struct MixtureAttrs {
  std::int64_t num_mixtures;
};

const Tensor& check_table(Tape& t, Var table, Var bias, const char* op) {
  const Tensor& E = f32_input(t, table, op, "table");
  LL_CHECK(E.rank() == 2, op, ": table must be (V, D), got ", E.shape().str());
  if (bias.valid()) {
    const Tensor& b = f32_input(t, bias, op, "bias");
    LL_CHECK(b.rank() == 2 && b.dim(0) == E.dim(0) && b.dim(1) == 1, op, ": bias must be (", E.dim(0),
             ", 1), got ", b.shape().str());
  }
  return E;
}

// saved[0] = ids.
void embedding_backward(Tape& t, const Node& n) {
  const Tensor& ids = n.saved[0];
  const Tensor& E = t.value(n.in[0]);
  backend_of(t, "embedding backward", {n.out})
      .scatter_add_rows(t.grad(n.out).f32(), E.dim(0), E.dim(1), ids.i32(), ids.numel(), table_grad(t, n.in[0]));
}

// The backward of a scoring op (score_items, mixture_score; saved[0] =
// ids): score_backward(be, E, ids, entries) writes the rep gradient and,
// into entries (rows, D; null when the table wants none), the gradient of
// each row's item embedding, which is then scattered into the table; the
// bias gets the score gradient itself.
template <class ScoreBackward>
void scoring_backward(Tape& t, const Node& n, const char* op, ScoreBackward&& score_backward) {
  Backend& be = backend_of(t, op, {n.out});
  const Tensor& ids = n.saved[0];
  const Tensor& E = t.value(n.in[1]);
  const std::int64_t V = E.dim(0), D = E.dim(1), rows = ids.numel();
  float* entries = wants(t, n.in[1]) ? t.arena().tensor(Shape{rows, D}).f32() : nullptr;
  score_backward(be, E, ids, entries);
  if (entries) be.scatter_add_rows(entries, V, D, ids.i32(), rows, table_grad(t, n.in[1]));
  if (wants(t, n.in[2])) be.scatter_add_rows(t.grad(n.out).f32(), V, 1, ids.i32(), rows, table_grad(t, n.in[2]));
}

void score_items_backward(Tape& t, const Node& n) {
  scoring_backward(t, n, "score_items backward", [&](Backend& be, const Tensor& E, const Tensor& ids, float* entries) {
    be.score_rows_backward(t.grad(n.out).f32(), t.value(n.in[0]).f32(), E.f32(), E.dim(1), ids.i32(), ids.numel(),
                           grad_or_null(t, n.in[0]), entries);
  });
}

// saved[1] = the softmax weights (rows, M).
void mixture_backward(Tape& t, const Node& n) {
  const std::int64_t M = n.attrs.get<MixtureAttrs>().num_mixtures;
  auto mixture = [&](Backend& be, const Tensor& E, const Tensor& ids, float* entries) {
    be.mixture_score_backward(t.grad(n.out).f32(), t.value(n.in[0]).f32(), E.f32(), E.dim(0), E.dim(1), M, ids.i32(),
                              ids.numel(), n.saved[1].f32(), grad_or_null(t, n.in[0]), entries);
  };
  scoring_backward(t, n, "mixture_score backward", mixture);
}

}  // namespace

Var embedding(Tape& t, Var table, const Tensor& ids) {
  const Tensor& E = check_table(t, table, Var{}, "embedding");
  Backend& be = backend_of(t, "embedding", {table}, {&ids});
  const std::int64_t D = E.dim(1);
  check_ids_before_flagging_kernel(be, ids, E.dim(0), "embedding");
  LL_CHECK(ids.rank() < Shape::max_rank, "embedding: ids of rank ", ids.rank(), " leave no room for D");
  Tensor out = new_tensor(t, ids.shape().appended(D));
  be.gather_rows(E.f32(), E.dim(0), D, ids.i32(), ids.numel(), out.f32());
  return record(t, out, needs_grad(t, {table}), embedding_backward, {table}, [&](Node& n) { n.saved[0] = ids; });
}

Var score_items(Tape& t, Var rep, Var table, Var bias, const Tensor& ids) {
  const Tensor& E = check_table(t, table, bias, "score_items");
  const Tensor& R = f32_input(t, rep, "score_items", "rep");
  const std::int64_t D = E.dim(1);
  LL_CHECK(R.rank() >= 1 && R.dim(R.rank() - 1) == D && R.numel() / D == ids.numel(), "score_items: rep ",
           R.shape().str(), " does not match ids ", ids.shape().str(), " and embedding width ", D);
  Backend& be = backend_of(t, "score_items", {rep, table, bias}, {&ids});
  check_ids(be, ids, E.dim(0), "score_items");
  Tensor out = new_tensor(t, ids.shape());
  be.score_rows(R.f32(), E.f32(), bias.valid() ? t.value(bias).f32() : nullptr, D, ids.i32(), ids.numel(),
                out.f32());
  return record(t, out, needs_grad(t, {rep, table, bias}), score_items_backward, {rep, table, bias},
                [&](Node& n) { n.saved[0] = ids; });
}

Var mixture_score(Tape& t, Var rep, Var table, Var bias, const Tensor& ids, std::int64_t num_mixtures) {
  const Tensor& E = check_table(t, table, bias, "mixture_score");
  const Tensor& R = f32_input(t, rep, "mixture_score", "rep");
  const std::int64_t D = E.dim(1), M = num_mixtures;
  LL_CHECK(M >= 1 && M <= 64, "mixture_score: num_mixtures must be in [1, 64], got ", M);
  LL_CHECK(R.rank() >= 1 && R.dim(R.rank() - 1) == 2 * M * D && R.numel() / (2 * M * D) == ids.numel(),
           "mixture_score: rep ", R.shape().str(), " does not match ids ", ids.shape().str(), " with ", M,
           " mixtures of width ", D);
  Backend& be = backend_of(t, "mixture_score", {rep, table, bias}, {&ids});
  check_ids_before_flagging_kernel(be, ids, E.dim(0), "mixture_score");
  const std::int64_t rows = ids.numel();
  Tensor out = new_tensor(t, ids.shape());
  Tensor weights = t.arena().tensor(Shape{rows, M});
  be.mixture_score(R.f32(), E.f32(), bias.valid() ? t.value(bias).f32() : nullptr, E.dim(0), D, M, ids.i32(), rows,
                   out.f32(), weights.f32());
  return record(t, out, needs_grad(t, {rep, table, bias}), mixture_backward, {rep, table, bias}, [&](Node& n) {
    n.attrs.put(MixtureAttrs{M});
    n.saved[0] = ids;
    n.saved[1] = weights;
  });
}

}  // namespace limelight::ops
