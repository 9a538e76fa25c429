// The fused sequence loss: target scoring, the four masked losses and their
// mean in one op, forward and backward. Fusing removes a dozen full passes
// over (B, L) tensors and the staging of per-target embedding gradients.
// Rows are split across threads; embedding-table gradients are applied by
// partitioning item ids across threads, so every table row is accumulated by
// one thread in a fixed order and the result does not depend on scheduling.
#include <cmath>

#include "backend/cpu_math.hpp"
#include "backend/parallel.hpp"
#include "ops/common.hpp"

namespace limelight::ops {
using namespace detail;

namespace {

struct Shapes {
  std::int64_t B, L, S, W, D, M, N;
};

inline float dot(const float* __restrict a, const float* __restrict b, std::int64_t n) {
  float s = 0.0f;
  for (std::int64_t k = 0; k < n; ++k) s += a[k] * b[k];
  return s;
}

// Mixture head for one state and item: fills w (M softmax weights) and s (M
// taste scores); returns the score without bias.
inline float mixture_forward(const float* rep, const float* e, std::int64_t M, std::int64_t D, float* w, float* s) {
  float mx = -INFINITY;
  for (std::int64_t m = 0; m < M; ++m) {
    w[m] = dot(rep + (M + m) * D, e, D);
    mx = std::max(mx, w[m]);
  }
  float z = 0.0f;
  for (std::int64_t m = 0; m < M; ++m) z += w[m] = std::exp(w[m] - mx);
  float score = 0.0f;
  for (std::int64_t m = 0; m < M; ++m) {
    w[m] /= z;
    s[m] = dot(rep + m * D, e, D);
    score += w[m] * s[m];
  }
  return score;
}

inline float score_one(const float* rep, const float* E, const float* bias, std::int32_t id, const Shapes& s,
                       float* w, float* sm) {
  const float* e = E + static_cast<std::int64_t>(id) * s.D;
  const float base = s.M > 0 ? mixture_forward(rep, e, s.M, s.D, w, sm) : dot(rep, e, s.D);
  return base + (bias ? bias[id] : 0.0f);
}

// d loss / d positive and d loss / d negative for one position.
inline void loss_element(LossKind kind, float p, float n, float& value, float& d_p, float& d_n) {
  switch (kind) {
    case LossKind::pointwise: {
      const float sp = cpu::fast_sigmoid(p), sn = cpu::fast_sigmoid(n);
      value = (1.0f - sp) + sn;
      d_p = -sp * (1.0f - sp);
      d_n = sn * (1.0f - sn);
      break;
    }
    case LossKind::bpr: {
      const float s = cpu::fast_sigmoid(p - n);
      value = 1.0f - s;
      d_p = -s * (1.0f - s);
      d_n = -d_p;
      break;
    }
    default: {
      const float x = n - p + 1.0f;
      value = x > 0.0f ? x : 0.0f;
      d_n = x >= 0.0f ? 1.0f : 0.0f;
      d_p = -d_n;
    }
  }
}

// saved[0] = targets (B, L), saved[1] = negatives (N, B, L), saved[2] =
// coefficients (N + 1, B, L): d loss_element / d score for the positive and
// each negative (zero where masked or, for adaptive_hinge, not the maximum).
// ints: kind, M, chunk count; scalar = 1 / number of unmasked positions.
void sequence_loss_backward(Tape& t, const Node& n) {
  const Tensor& targets = n.saved[0];
  const Tensor& negatives = n.saved[1];
  const float* coef = n.saved[2].f32();
  const Tensor& states = t.value(n.in[0]);
  const Tensor& E = t.value(n.in[1]);
  Shapes s{targets.dim(0), targets.dim(1), states.dim(1), states.dim(2), E.dim(1), n.ints[1], negatives.dim(0)};
  const float g = t.grad(n.out).f32()[0] * n.scalar;
  const float* Ep = E.f32();
  const float* rep = states.f32();
  const std::int64_t BL = s.B * s.L;
  auto id_of = [&](std::int64_t j, std::int64_t r) {
    return j == 0 ? targets.i32()[r] : negatives.i32()[(j - 1) * BL + r];
  };

  if (wants(t, n.in[0])) {
    float* d_states = t.grad(n.in[0]).f32();
    cpu::parallel_chunks(s.B, 2, [&](int, std::int64_t b0, std::int64_t b1) {
      float w[64], sm[64];
      for (std::int64_t b = b0; b < b1; ++b)
        for (std::int64_t l = 0; l < s.L; ++l) {
          const std::int64_t r = b * s.L + l;
          const float* rp = rep + (b * s.S + l) * s.W;
          float* dr = d_states + (b * s.S + l) * s.W;
          for (std::int64_t j = 0; j <= s.N; ++j) {
            const float c = coef[j * BL + r] * g;
            if (c == 0.0f) continue;
            const float* e = Ep + static_cast<std::int64_t>(id_of(j, r)) * s.D;
            if (s.M == 0) {
              for (std::int64_t k = 0; k < s.D; ++k) dr[k] += c * e[k];
            } else {
              const float mixed = mixture_forward(rp, e, s.M, s.D, w, sm);
              for (std::int64_t m = 0; m < s.M; ++m) {
                const float d_taste = c * w[m], d_logit = c * w[m] * (sm[m] - mixed);
                for (std::int64_t k = 0; k < s.D; ++k) {
                  dr[m * s.D + k] += d_taste * e[k];
                  dr[(s.M + m) * s.D + k] += d_logit * e[k];
                }
              }
            }
          }
        }
    }, static_cast<int>(n.ints[2]));
  }

  Parameter* table_param = t.parameter_of(n.in[1]);
  Parameter* bias_param = n.in[2].valid() ? t.parameter_of(n.in[2]) : nullptr;
  const bool d_table = wants(t, n.in[1]), d_bias = wants(t, n.in[2]);
  if (!d_table && !d_bias) return;
  const bool sparse = (table_param && table_param->sparse) || (bias_param && bias_param->sparse);
  float* dE = d_table && !(table_param && table_param->sparse) ? t.grad(n.in[1]).f32() : nullptr;
  float* db = d_bias && !(bias_param && bias_param->sparse) ? t.grad(n.in[2]).f32() : nullptr;
  // Thread k applies the entries whose item id is k modulo the thread count;
  // a sparse gradient (one shared row map) is applied by one thread.
  const int parts = sparse ? 1 : cpu::num_threads();
  const cpu::IdPartition partition(parts);
  cpu::parallel_chunks(parts, 2, [&](int, std::int64_t p0, std::int64_t p1) {
    float w[64], sm[64];
    for (std::int64_t j = 0; j <= s.N; ++j)
      for (std::int64_t r = 0; r < BL; ++r) {
        const float c = coef[j * BL + r] * g;
        if (c == 0.0f) continue;
        const std::int32_t id = id_of(j, r);
        if (id == 0 || partition.owner(id) < p0 || partition.owner(id) >= p1) continue;
        const float* rp = rep + ((r / s.L) * s.S + r % s.L) * s.W;
        if (d_table) {
          float* dst = dE ? dE + static_cast<std::int64_t>(id) * s.D : table_param->sparse_grad.row(id);
          if (s.M == 0) {
            for (std::int64_t k = 0; k < s.D; ++k) dst[k] += c * rp[k];
          } else {
            const float* e = Ep + static_cast<std::int64_t>(id) * s.D;
            const float mixed = mixture_forward(rp, e, s.M, s.D, w, sm);
            for (std::int64_t m = 0; m < s.M; ++m) {
              const float d_taste = c * w[m], d_logit = c * w[m] * (sm[m] - mixed);
              for (std::int64_t k = 0; k < s.D; ++k)
                dst[k] += d_taste * rp[m * s.D + k] + d_logit * rp[(s.M + m) * s.D + k];
            }
          }
        }
        if (d_bias) {
          float* dst = db ? db + id : bias_param->sparse_grad.row(id);
          dst[0] += c;
        }
      }
  });
}

}  // namespace

Var sequence_loss(Tape& t, Var states, Var table, Var bias, const Tensor& targets, const Tensor& negatives,
                  LossKind kind, std::int64_t num_mixtures) {
  const char* op = "sequence_loss";
  const Tensor& R = f32_input(t, states, op, "states");
  const Tensor& E = f32_input(t, table, op, "table");
  LL_CHECK(E.rank() == 2, op, ": table must be (V, D), got ", E.shape().str());
  const std::int64_t V = E.dim(0), D = E.dim(1), M = num_mixtures;
  const float* bias_p = nullptr;
  if (bias.valid()) {
    const Tensor& b = f32_input(t, bias, op, "bias");
    LL_CHECK(b.numel() == V, op, ": bias ", b.shape().str(), " does not match a table of ", V, " rows");
    bias_p = b.f32();
  }
  LL_CHECK(targets.dtype() == DType::i32 && targets.rank() == 2, op, ": targets must be i32 (B, L), got ",
           targets.shape().str());
  const std::int64_t B = targets.dim(0), L = targets.dim(1);
  LL_CHECK(M >= 0 && M <= 64, op, ": num_mixtures must be in [0, 64], got ", M);
  const std::int64_t W = M > 0 ? 2 * M * D : D;
  LL_CHECK(R.rank() == 3 && R.dim(0) == B && R.dim(1) >= L && R.dim(2) == W, op, ": states ", R.shape().str(),
           " do not fit targets ", targets.shape().str(), " (expected (", B, ", >= ", L, ", ", W, "))");
  LL_CHECK(negatives.dtype() == DType::i32 && negatives.rank() == 3 && negatives.dim(1) == B && negatives.dim(2) == L,
           op, ": negatives must be i32 (N, ", B, ", ", L, "), got ", negatives.shape().str());
  const std::int64_t N = negatives.dim(0);
  LL_CHECK(N >= 1 && (kind == LossKind::adaptive_hinge || N == 1), op, ": ", N,
           " negative samples per position; only adaptive_hinge takes more than one");
  for (const Tensor* ids : {&targets, &negatives}) {
    const std::int32_t* p = ids->i32();
    for (std::int64_t i = 0; i < ids->numel(); ++i)
      LL_CHECK(p[i] >= 0 && p[i] < V, op, ": item id ", p[i], " at position ", i, " is outside [0, ", V, ")");
  }
  Shapes s{B, L, R.dim(1), W, D, M, N};
  const std::int64_t BL = B * L;
  Tensor coef = t.arena().tensor(Shape{N + 1, B, L});
  const float* rep = R.f32();
  const float* Ep = E.f32();
  const std::int32_t* tg = targets.i32();
  const std::int32_t* ng = negatives.i32();
  double partial_sum[256] = {}, partial_count[256] = {};
  const int chunks = cpu::parallel_chunks(B, 2, [&](int c, std::int64_t b0, std::int64_t b1) {
    float w[64], sm[64];
    double sum = 0.0, count = 0.0;
    float* cf = coef.f32();
    for (std::int64_t b = b0; b < b1; ++b)
      for (std::int64_t l = 0; l < L; ++l) {
        const std::int64_t r = b * L + l;
        for (std::int64_t j = 0; j <= N; ++j) cf[j * BL + r] = 0.0f;
        if (tg[r] == 0) continue;  // padding: masked out
        const float* rp = rep + (b * s.S + l) * W;
        const float p = score_one(rp, Ep, bias_p, tg[r], s, w, sm);
        std::int64_t best = 0;
        float neg = score_one(rp, Ep, bias_p, ng[r], s, w, sm);
        for (std::int64_t k = 1; k < N; ++k) {
          const float v = score_one(rp, Ep, bias_p, ng[k * BL + r], s, w, sm);
          if (v > neg) {  // strictly greater: ties keep the lowest index
            neg = v;
            best = k;
          }
        }
        float value, d_p, d_n;
        loss_element(kind, p, neg, value, d_p, d_n);
        sum += value;
        count += 1.0;
        cf[r] = d_p;
        cf[(1 + best) * BL + r] = d_n;
      }
    partial_sum[c] = sum;
    partial_count[c] = count;
  });
  double sum = 0.0, count = 0.0;
  for (int c = 0; c < chunks; ++c) {
    sum += partial_sum[c];
    count += partial_count[c];
  }
  LL_CHECK(count > 0.0, op, ": every target in the batch is padding (id 0); nothing to learn from");
  Tensor out = new_tensor(t, Shape{1});
  out.f32()[0] = static_cast<float>(sum / count);
  bool rg = needs_grad(t, {states, table, bias});
  Var r = t.output(out, rg);
  if (rg) {
    Node n;
    n.backward = sequence_loss_backward;
    n.out = r;
    n.in[0] = states;
    n.in[1] = table;
    n.in[2] = bias;
    n.ints[0] = static_cast<std::int64_t>(kind);
    n.ints[1] = M;
    n.ints[2] = chunks;
    n.scalar = static_cast<float>(1.0 / count);
    n.saved[0] = targets;
    n.saved[1] = negatives;
    n.saved[2] = coef;
    t.push(n);
  }
  return r;
}

}  // namespace limelight::ops
