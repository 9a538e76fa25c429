// Embedding ops: the lookup, and the fused target scoring used by every loss
// and by predict (plain dot product, and the mixture-of-tastes head). Their
// backward passes write embedding gradients densely or row-sparsely, and
// never into row 0, the padding row.
#include <cmath>

#include "backend/parallel.hpp"
#include "ops/common.hpp"

namespace limelight::ops {
using namespace detail;

namespace {

void check_ids(const Tensor& ids, std::int64_t V, const char* op) {
  LL_CHECK(ids.dtype() == DType::i32, op, ": ids must be i32, got ", dtype_name(ids.dtype()));
  const std::int32_t* p = ids.i32();
  for (std::int64_t i = 0; i < ids.numel(); ++i)
    LL_CHECK(p[i] >= 0 && p[i] < V, op, ": item id ", p[i], " at position ", i, " is outside [0, ", V, ")");
}

// Adds row i of `grad` (n rows of width D) to table row ids[i], skipping row 0.
void table_scatter(Tape& t, Var table, const float* grad, const std::int32_t* ids, std::int64_t n, std::int64_t D) {
  Parameter* p = t.parameter_of(table);
  if (p && p->sparse) {
    for (std::int64_t i = 0; i < n; ++i) {
      if (ids[i] == 0) continue;
      float* dst = p->sparse_grad.row(ids[i]);
      accumulate(dst, grad + i * D, D);
    }
  } else {
    // Thread k adds the rows whose id is k modulo the thread count: no two
    // threads touch one row, and each row sums in a fixed order.
    float* dst = t.grad(table).f32();
    const int parts = n * D >= 65536 ? cpu::num_threads() : 1;
    const cpu::IdPartition partition(parts);
    cpu::parallel_chunks(parts, 2, [&](int, std::int64_t p0, std::int64_t p1) {
      for (std::int64_t i = 0; i < n; ++i) {
        const std::int32_t id = ids[i];
        if (id == 0 || partition.owner(id) < p0 || partition.owner(id) >= p1) continue;
        accumulate(dst + static_cast<std::int64_t>(id) * D, grad + i * D, D);
      }
    });
  }
}

void embedding_backward(Tape& t, const Node& n) {
  const Tensor& ids = n.saved[0];
  const std::int64_t D = t.value(n.in[0]).dim(1);
  table_scatter(t, n.in[0], t.grad(n.out).f32(), ids.i32(), ids.numel(), D);
}

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

// saved[0] = ids; ints[0] = D.
void score_items_backward(Tape& t, const Node& n) {
  const Tensor& ids = n.saved[0];
  const std::int64_t D = n.ints[0], rows = ids.numel();
  const std::int32_t* id = ids.i32();
  const float* g = t.grad(n.out).f32();
  const float* rep = t.value(n.in[0]).f32();
  const float* E = t.value(n.in[1]).f32();
  if (wants(t, n.in[0])) {
    float* d = t.grad(n.in[0]).f32();
    for (std::int64_t r = 0; r < rows; ++r) {
      const float* e = E + static_cast<std::int64_t>(id[r]) * D;
      for (std::int64_t k = 0; k < D; ++k) d[r * D + k] += g[r] * e[k];
    }
  }
  if (wants(t, n.in[1])) {
    // d table[id] += g * rep: staged per row, then scattered.
    Tensor staged = t.arena().tensor(Shape{rows, D});
    float* s = staged.f32();
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t k = 0; k < D; ++k) s[r * D + k] = g[r] * rep[r * D + k];
    table_scatter(t, n.in[1], s, id, rows, D);
  }
  if (wants(t, n.in[2])) table_scatter(t, n.in[2], g, id, rows, 1);
}

// saved[0] = ids, saved[1] = softmax weights (rows, M); ints[0] = D, ints[1] = M.
void mixture_backward(Tape& t, const Node& n) {
  const Tensor& ids = n.saved[0];
  const std::int64_t D = n.ints[0], M = n.ints[1], rows = ids.numel();
  const std::int32_t* id = ids.i32();
  const float* g = t.grad(n.out).f32();
  const float* rep = t.value(n.in[0]).f32();
  const float* E = t.value(n.in[1]).f32();
  const float* w = n.saved[1].f32();
  const bool d_rep = wants(t, n.in[0]), d_table = wants(t, n.in[1]);
  float* dr = d_rep ? t.grad(n.in[0]).f32() : nullptr;
  Tensor staged = d_table ? t.arena().zeros(Shape{rows, D}) : Tensor();
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* e = E + static_cast<std::int64_t>(id[r]) * D;
    const float* taste = rep + r * 2 * M * D;
    const float* att = taste + M * D;
    const float* wr = w + r * M;
    // score = sum_m w_m (taste_m . e); w = softmax(att_m . e)
    // d score / d logit_m = w_m (s_m - score_without_bias), s_m = taste_m . e
    float mixed = 0.0f;
    float s_m[64];
    for (std::int64_t m = 0; m < M; ++m) {
      float s = 0.0f;
      for (std::int64_t k = 0; k < D; ++k) s += taste[m * D + k] * e[k];
      s_m[m] = s;
      mixed += wr[m] * s;
    }
    for (std::int64_t m = 0; m < M; ++m) {
      const float d_logit = g[r] * wr[m] * (s_m[m] - mixed);
      const float d_taste = g[r] * wr[m];
      if (dr) {
        for (std::int64_t k = 0; k < D; ++k) {
          dr[r * 2 * M * D + m * D + k] += d_taste * e[k];
          dr[r * 2 * M * D + (M + m) * D + k] += d_logit * e[k];
        }
      }
      if (d_table) {
        float* st = staged.f32() + r * D;
        for (std::int64_t k = 0; k < D; ++k) st[k] += d_taste * taste[m * D + k] + d_logit * att[m * D + k];
      }
    }
  }
  if (d_table) table_scatter(t, n.in[1], staged.f32(), id, rows, D);
  if (wants(t, n.in[2])) table_scatter(t, n.in[2], g, id, rows, 1);
}

}  // namespace

Var embedding(Tape& t, Var table, const Tensor& ids) {
  const Tensor& E = check_table(t, table, Var{}, "embedding");
  const std::int64_t D = E.dim(1);
  check_ids(ids, E.dim(0), "embedding");
  LL_CHECK(ids.rank() < Shape::max_rank, "embedding: ids of rank ", ids.rank(), " leave no room for D");
  Tensor out = new_tensor(t, ids.shape().appended(D));
  cpu::parallel_chunks(ids.numel(), 4096, [&](int, std::int64_t i0, std::int64_t i1) {
    cpu::gather_rows(E.f32(), D, ids.i32() + i0, i1 - i0, out.f32() + i0 * D);
  });
  bool rg = needs_grad(t, {table});
  Var r = t.output(out, rg);
  if (rg) {
    Node n;
    n.backward = embedding_backward;
    n.out = r;
    n.in[0] = table;
    n.saved[0] = ids;
    t.push(n);
  }
  return r;
}

Var score_items(Tape& t, Var rep, Var table, Var bias, const Tensor& ids) {
  const Tensor& E = check_table(t, table, bias, "score_items");
  const Tensor& R = f32_input(t, rep, "score_items", "rep");
  const std::int64_t D = E.dim(1);
  LL_CHECK(R.rank() >= 1 && R.dim(R.rank() - 1) == D && R.numel() / D == ids.numel(), "score_items: rep ",
           R.shape().str(), " does not match ids ", ids.shape().str(), " and embedding width ", D);
  check_ids(ids, E.dim(0), "score_items");
  Tensor out = new_tensor(t, ids.shape());
  const float *r = R.f32(), *e = E.f32(), *b = bias.valid() ? t.value(bias).f32() : nullptr;
  const std::int32_t* id = ids.i32();
  float* o = out.f32();
  for (std::int64_t i = 0; i < ids.numel(); ++i) {
    const float* row = e + static_cast<std::int64_t>(id[i]) * D;
    float s = 0.0f;
    for (std::int64_t k = 0; k < D; ++k) s += r[i * D + k] * row[k];
    o[i] = s + (b ? b[id[i]] : 0.0f);
  }
  bool rg = needs_grad(t, {rep, table, bias});
  Var v = t.output(out, rg);
  if (rg) {
    Node n;
    n.backward = score_items_backward;
    n.out = v;
    n.in[0] = rep;
    n.in[1] = table;
    n.in[2] = bias;
    n.ints[0] = D;
    n.saved[0] = ids;
    t.push(n);
  }
  return v;
}

Var mixture_score(Tape& t, Var rep, Var table, Var bias, const Tensor& ids, std::int64_t num_mixtures) {
  const Tensor& E = check_table(t, table, bias, "mixture_score");
  const Tensor& R = f32_input(t, rep, "mixture_score", "rep");
  const std::int64_t D = E.dim(1), M = num_mixtures;
  LL_CHECK(M >= 1 && M <= 64, "mixture_score: num_mixtures must be in [1, 64], got ", M);
  LL_CHECK(R.rank() >= 1 && R.dim(R.rank() - 1) == 2 * M * D && R.numel() / (2 * M * D) == ids.numel(),
           "mixture_score: rep ", R.shape().str(), " does not match ids ", ids.shape().str(), " with ", M,
           " mixtures of width ", D);
  check_ids(ids, E.dim(0), "mixture_score");
  const std::int64_t rows = ids.numel();
  Tensor out = new_tensor(t, ids.shape());
  Tensor weights = t.arena().tensor(Shape{rows, M});
  const float *r = R.f32(), *e = E.f32(), *b = bias.valid() ? t.value(bias).f32() : nullptr;
  const std::int32_t* id = ids.i32();
  float* o = out.f32();
  float* w = weights.f32();
  for (std::int64_t i = 0; i < rows; ++i) {
    const float* row = e + static_cast<std::int64_t>(id[i]) * D;
    const float* taste = r + i * 2 * M * D;
    const float* att = taste + M * D;
    float* wi = w + i * M;
    float mx = -INFINITY;
    for (std::int64_t m = 0; m < M; ++m) {
      float s = 0.0f;
      for (std::int64_t k = 0; k < D; ++k) s += att[m * D + k] * row[k];
      wi[m] = s;
      mx = std::max(mx, s);
    }
    float z = 0.0f;
    for (std::int64_t m = 0; m < M; ++m) z += wi[m] = std::exp(wi[m] - mx);
    float score = 0.0f;
    for (std::int64_t m = 0; m < M; ++m) {
      wi[m] /= z;
      float s = 0.0f;
      for (std::int64_t k = 0; k < D; ++k) s += taste[m * D + k] * row[k];
      score += wi[m] * s;
    }
    o[i] = score + (b ? b[id[i]] : 0.0f);
  }
  bool rg = needs_grad(t, {rep, table, bias});
  Var v = t.output(out, rg);
  if (rg) {
    Node n;
    n.backward = mixture_backward;
    n.out = v;
    n.in[0] = rep;
    n.in[1] = table;
    n.in[2] = bias;
    n.ints[0] = D;
    n.ints[1] = M;
    n.saved[0] = ids;
    n.saved[1] = weights;
    t.push(n);
  }
  return v;
}

}  // namespace limelight::ops
