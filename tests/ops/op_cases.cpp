// The case list: every op of include/limelight/ops.hpp on a few shapes,
// batch 1 and sequence length 1 among them, each with a double-precision
// reference of its forward written from the header's formulas.
#include "op_cases.hpp"

#include <cmath>
#include <cstring>
#include <limits>
#include <tuple>

namespace op_cases {

using namespace limelight;
using ops::Activation;
using ops::LossKind;

namespace {

// ---------------------------------------------------------------- inputs

Tensor randn(const Shape& shape, Rng& rng, float scale = 1.0f) {
  Tensor t = Tensor::empty(shape);
  for (std::int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = scale * static_cast<float>(rng.normal());
  return t;
}

Tensor id_tensor(const std::vector<std::int32_t>& ids, const Shape& shape) { return Tensor::from_vector(ids, shape); }

std::vector<std::int32_t> ids_of(const Tensor& t) { return std::vector<std::int32_t>(t.i32(), t.i32() + t.numel()); }

// ------------------------------------------------------------ references

struct Split3 {
  std::int64_t outer, n, inner;
};
Split3 split(const std::vector<std::int64_t>& dims, int dim) {
  Split3 s{1, dims[static_cast<std::size_t>(dim)], 1};
  for (int i = 0; i < dim; ++i) s.outer *= dims[static_cast<std::size_t>(i)];
  for (std::size_t i = static_cast<std::size_t>(dim) + 1; i < dims.size(); ++i) s.inner *= dims[i];
  return s;
}

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

template <class F>
Values map(const Values& x, F f) {
  Values y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = f(x[i]);
  return y;
}

double dot(const double* a, const double* b, std::int64_t n) {
  double s = 0.0;
  for (std::int64_t k = 0; k < n; ++k) s += a[k] * b[k];
  return s;
}

// A (M, K) or, transposed, stored (K, M); B (K, N) or stored (N, K).
Values matmul(const Values& a, const Values& b, std::int64_t M, std::int64_t K, std::int64_t N, bool ta, bool tb) {
  Values c(static_cast<std::size_t>(M * N), 0.0);
  for (std::int64_t m = 0; m < M; ++m)
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t k = 0; k < K; ++k) {
        const double av = ta ? a[static_cast<std::size_t>(k * M + m)] : a[static_cast<std::size_t>(m * K + k)];
        const double bv = tb ? b[static_cast<std::size_t>(n * K + k)] : b[static_cast<std::size_t>(k * N + n)];
        c[static_cast<std::size_t>(m * N + n)] += av * bv;
      }
  return c;
}

Values linear(const Values& x, const Values& W, const Values* bias, std::int64_t K, std::int64_t N) {
  const std::int64_t rows = static_cast<std::int64_t>(x.size()) / K;
  Values y(static_cast<std::size_t>(rows * N));
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t n = 0; n < N; ++n)
      y[static_cast<std::size_t>(r * N + n)] =
          dot(&x[static_cast<std::size_t>(r * K)], &W[static_cast<std::size_t>(n * K)], K) +
          (bias ? (*bias)[static_cast<std::size_t>(n)] : 0.0);
  return y;
}

#define AT(v, i) (v)[static_cast<std::size_t>(i)]

Values softmax(const Values& x, Split3 s) {
  Values y(x.size());
  for (std::int64_t o = 0; o < s.outer; ++o)
    for (std::int64_t i = 0; i < s.inner; ++i) {
      double z = 0.0;
      for (std::int64_t j = 0; j < s.n; ++j) z += std::exp(AT(x, (o * s.n + j) * s.inner + i));
      for (std::int64_t j = 0; j < s.n; ++j)
        AT(y, (o * s.n + j) * s.inner + i) = std::exp(AT(x, (o * s.n + j) * s.inner + i)) / z;
    }
  return y;
}

Values sum_dim(const Values& x, Split3 s) {
  Values y(static_cast<std::size_t>(s.outer * s.inner), 0.0);
  for (std::int64_t o = 0; o < s.outer; ++o)
    for (std::int64_t j = 0; j < s.n; ++j)
      for (std::int64_t i = 0; i < s.inner; ++i) AT(y, o * s.inner + i) += AT(x, (o * s.n + j) * s.inner + i);
  return y;
}

Values cumsum(const Values& x, Split3 s) {
  Values y(x.size());
  for (std::int64_t o = 0; o < s.outer; ++o)
    for (std::int64_t i = 0; i < s.inner; ++i) {
      double run = 0.0;
      for (std::int64_t j = 0; j < s.n; ++j) AT(y, (o * s.n + j) * s.inner + i) = run += AT(x, (o * s.n + j) * s.inner + i);
    }
  return y;
}

// out (outer, n_out, inner) with x's band (n_in wide) at `at`, zeros elsewhere.
Values place_band(const Values& x, Split3 s, std::int64_t n_out, std::int64_t at) {
  Values y(static_cast<std::size_t>(s.outer * n_out * s.inner), 0.0);
  for (std::int64_t o = 0; o < s.outer; ++o)
    for (std::int64_t j = 0; j < s.n; ++j)
      for (std::int64_t i = 0; i < s.inner; ++i)
        AT(y, (o * n_out + j + at) * s.inner + i) = AT(x, (o * s.n + j) * s.inner + i);
  return y;
}

Values slice(const Values& x, Split3 s, std::int64_t start, std::int64_t len) {
  Values y(static_cast<std::size_t>(s.outer * len * s.inner));
  for (std::int64_t o = 0; o < s.outer; ++o)
    for (std::int64_t j = 0; j < len; ++j)
      for (std::int64_t i = 0; i < s.inner; ++i)
        AT(y, (o * len + j) * s.inner + i) = AT(x, (o * s.n + j + start) * s.inner + i);
  return y;
}

// y[b, t, o] = act(bias[o] + sum_{j, c} w[o, c, j] xpad[b, t + j*dil, c]) (+ residual), with
// xpad = x behind `pad` zero steps; the residual (B, Tr, O) adds to the last Tr steps.
Values causal_conv(const Values& x, std::int64_t B, std::int64_t T, std::int64_t C, const Values& w, std::int64_t O,
                   std::int64_t K, const Values& bias, std::int64_t dil, std::int64_t pad, Activation act,
                   const Values* residual, std::int64_t Tr) {
  const std::int64_t To = T + pad - (K - 1) * dil;
  Values y(static_cast<std::size_t>(B * To * O));
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t t = 0; t < To; ++t)
      for (std::int64_t o = 0; o < O; ++o) {
        double v = AT(bias, o);
        for (std::int64_t j = 0; j < K; ++j) {
          const std::int64_t src = t + j * dil - pad;  // index into x; negative is padding
          if (src < 0) continue;
          for (std::int64_t c = 0; c < C; ++c) v += AT(w, (o * C + c) * K + j) * AT(x, (b * T + src) * C + c);
        }
        if (act == Activation::tanh) v = std::tanh(v);
        if (act == Activation::relu) v = v > 0.0 ? v : 0.0;
        if (residual && t >= To - Tr) v += AT(*residual, (b * Tr + t - (To - Tr)) * O + o);
        AT(y, (b * To + t) * O + o) = v;
      }
  return y;
}

// PyTorch's LSTM: gates = W_ih x + b_ih + W_hh h + b_hh split (i, f, g, o);
// c = sigma(f) c + sigma(i) tanh(g); h = sigma(o) tanh(c).
Values lstm(const Values& x, std::int64_t B, std::int64_t T, std::int64_t D, const Values& wih, const Values& whh,
            const Values& bih, const Values& bhh, std::int64_t H) {
  Values out(static_cast<std::size_t>(B * T * H));
  for (std::int64_t b = 0; b < B; ++b) {
    Values h(static_cast<std::size_t>(H), 0.0), c(static_cast<std::size_t>(H), 0.0), g(static_cast<std::size_t>(4 * H));
    for (std::int64_t t = 0; t < T; ++t) {
      for (std::int64_t r = 0; r < 4 * H; ++r)
        AT(g, r) = AT(bih, r) + AT(bhh, r) + dot(&AT(wih, r * D), &AT(x, (b * T + t) * D), D) +
                   dot(&AT(whh, r * H), h.data(), H);
      for (std::int64_t k = 0; k < H; ++k) {
        const double i = sigmoid(AT(g, k)), f = sigmoid(AT(g, H + k)), gg = std::tanh(AT(g, 2 * H + k)),
                     o = sigmoid(AT(g, 3 * H + k));
        AT(c, k) = f * AT(c, k) + i * gg;
        AT(h, k) = o * std::tanh(AT(c, k));
        AT(out, (b * T + t) * H + k) = AT(h, k);
      }
    }
  }
  return out;
}

// State 0 is zero; state t = (x[0] + ... + x[t-1]) / (n + 1), n counting the
// non-zero entries among x[0..t-1], per component.
Values running_pool(const Values& x, std::int64_t B, std::int64_t T, std::int64_t D) {
  Values y(static_cast<std::size_t>(B * (T + 1) * D), 0.0);
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t d = 0; d < D; ++d) {
      double sum = 0.0, n = 0.0;
      for (std::int64_t t = 1; t <= T; ++t) {
        const double v = AT(x, (b * T + t - 1) * D + d);
        sum += v;
        n += v != 0.0 ? 1.0 : 0.0;
        AT(y, (b * (T + 1) + t) * D + d) = sum / (n + 1.0);
      }
    }
  return y;
}

// The mixture head on one state (M tastes then M attentions, width D) and item e.
double mixture(const double* rep, const double* e, std::int64_t M, std::int64_t D) {
  double mx = -std::numeric_limits<double>::infinity();
  std::vector<double> logit(static_cast<std::size_t>(M));
  for (std::int64_t m = 0; m < M; ++m) mx = std::max(mx, AT(logit, m) = dot(rep + (M + m) * D, e, D));
  double z = 0.0, u = 0.0;
  for (std::int64_t m = 0; m < M; ++m) z += std::exp(AT(logit, m) - mx);
  for (std::int64_t m = 0; m < M; ++m) u += std::exp(AT(logit, m) - mx) / z * dot(rep + m * D, e, D);
  return u;
}

// One target's score: rep . e (M = 0) or the mixture head, plus the bias.
double item_score(const double* rep, const Values& table, const Values* bias, std::int32_t id, std::int64_t D,
                  std::int64_t M) {
  const double* e = &AT(table, static_cast<std::int64_t>(id) * D);
  return (M > 0 ? mixture(rep, e, M, D) : dot(rep, e, D)) + (bias ? AT(*bias, id) : 0.0);
}

struct LossConf {
  LossKind kind;
  std::int64_t B, L, S, D, M, N;
  bool bias;
};

double loss_element(LossKind kind, double p, double n) {
  switch (kind) {
    case LossKind::pointwise: return (1.0 - sigmoid(p)) + sigmoid(n);
    case LossKind::bpr: return 1.0 - sigmoid(p - n);
    default: return std::max(0.0, n - p + 1.0);
  }
}

LossScores loss_scores(const LossConf& k, const std::vector<Values>& x, const std::vector<std::int32_t>& targets,
                       const std::vector<std::int32_t>& negatives) {
  const std::int64_t W = k.M > 0 ? 2 * k.M * k.D : k.D, BL = k.B * k.L;
  const Values* bias = k.bias ? &x[2] : nullptr;
  LossScores s;
  for (std::int64_t b = 0; b < k.B; ++b)
    for (std::int64_t l = 0; l < k.L; ++l) {
      const std::int64_t r = b * k.L + l;
      if (AT(targets, r) == 0) continue;
      const double* rep = &AT(x[0], (b * k.S + l) * W);
      s.positive.push_back(item_score(rep, x[1], bias, AT(targets, r), k.D, k.M));
      std::vector<double> negs;
      for (std::int64_t j = 0; j < k.N; ++j) negs.push_back(item_score(rep, x[1], bias, AT(negatives, j * BL + r), k.D, k.M));
      s.negatives.push_back(negs);
    }
  return s;
}

double sequence_loss(const LossConf& k, const std::vector<Values>& x, const std::vector<std::int32_t>& targets,
                     const std::vector<std::int32_t>& negatives) {
  const LossScores s = loss_scores(k, x, targets, negatives);
  double sum = 0.0;
  for (std::size_t r = 0; r < s.positive.size(); ++r) {
    double n = s.negatives[r][0];
    for (double v : s.negatives[r]) n = std::max(n, v);  // the highest negative
    sum += loss_element(k.kind, s.positive[r], n);
  }
  return sum / static_cast<double>(s.positive.size());
}

// The pooling model's loss: x = {table (V, D), bias (V, 1) when k.bias}; the
// states are running_pool of the windows' rows, the windows their own targets.
std::vector<Values> pooled_inputs(const LossConf& k, const std::vector<Values>& x,
                                  const std::vector<std::int32_t>& sequences) {
  Values rows;
  for (std::int32_t id : sequences)
    for (std::int64_t d = 0; d < k.D; ++d) rows.push_back(AT(x[0], static_cast<std::int64_t>(id) * k.D + d));
  std::vector<Values> in = {running_pool(rows, k.B, k.L, k.D), x[0]};
  if (k.bias) in.push_back(x[1]);
  return in;
}

#undef AT

// ------------------------------------------------------------ the list

class CaseList {
 public:
  std::vector<Case> cases;
  Rng rng{20261201};

  Tensor r(const Shape& s, float scale = 1.0f) { return randn(s, rng, scale); }

  void add(Case c) { cases.push_back(std::move(c)); }

  void elementwise() {
    for (Shape s : {Shape{3, 4}, Shape{1, 1}, Shape{2, 3, 5}}) {
      const std::string at = std::string(" ").append(s.str());
      Tensor a = r(s), b = r(s);
      auto binary = [&](const char* name, auto op, auto f) {
        add({name + at, name, {a, b}, {}, [op](Tape& t, auto& v, auto&) { return op(t, v[0], v[1]); },
             [f](auto& x) {
               Values y(x[0].size());
               for (std::size_t i = 0; i < y.size(); ++i) y[i] = f(x[0][i], x[1][i]);
               return y;
             }});
      };
      binary("add", ops::add, [](double p, double q) { return p + q; });
      binary("sub", ops::sub, [](double p, double q) { return p - q; });
      binary("mul", ops::mul, [](double p, double q) { return p * q; });
      add({"scale" + at, "scale", {a}, {}, [](Tape& t, auto& v, auto&) { return ops::scale(t, v[0], -2.5f); },
           [](auto& x) { return map(x[0], [](double v) { return -2.5 * v; }); }});
      add({"add_scalar" + at, "add_scalar", {a}, {},
           [](Tape& t, auto& v, auto&) { return ops::add_scalar(t, v[0], 0.75f); },
           [](auto& x) { return map(x[0], [](double v) { return v + 0.75; }); }});
      add({"tanh" + at, "tanh", {a}, {}, [](Tape& t, auto& v, auto&) { return ops::tanh(t, v[0]); },
           [](auto& x) { return map(x[0], [](double v) { return std::tanh(v); }); }});
      add({"sigmoid" + at, "sigmoid", {a}, {}, [](Tape& t, auto& v, auto&) { return ops::sigmoid(t, v[0]); },
           [](auto& x) { return map(x[0], sigmoid); }});
      // relu's inputs stay away from its kink at 0
      Tensor k = a.clone();
      for (std::int64_t i = 0; i < k.numel(); ++i)
        if (std::fabs(k.f32()[i]) < 0.05f) k.f32()[i] = 0.3f;
      add({"relu" + at, "relu", {k}, {}, [](Tape& t, auto& v, auto&) { return ops::relu(t, v[0]); },
           [](auto& x) { return map(x[0], [](double v) { return v > 0.0 ? v : 0.0; }); }});
      const std::int64_t N = s[s.rank() - 1];
      add({"bias_add" + at, "bias_add", {a, r({N})}, {},
           [](Tape& t, auto& v, auto&) { return ops::bias_add(t, v[0], v[1]); }, [N](auto& x) {
             Values y(x[0].size());
             for (std::size_t i = 0; i < y.size(); ++i) y[i] = x[0][i] + x[1][i % static_cast<std::size_t>(N)];
             return y;
           }});
    }
  }

  void matmuls() {
    for (auto [M, K, N] : {std::tuple{3, 4, 5}, std::tuple{1, 1, 1}, std::tuple{1, 4, 2}})
      for (int ta = 0; ta < 2; ++ta)
        for (int tb = 0; tb < 2; ++tb) {
          const Shape sa = ta ? Shape{K, M} : Shape{M, K}, sb = tb ? Shape{N, K} : Shape{K, N};
          add({"matmul " + sa.str() + (ta ? "^T" : "") + " @ " + sb.str() + (tb ? "^T" : ""), "matmul", {r(sa), r(sb)},
               {}, [ta, tb](Tape& t, auto& v, auto&) { return ops::matmul(t, v[0], v[1], ta, tb); },
               [=](auto& x) { return matmul(x[0], x[1], M, K, N, ta, tb); }});
        }
    struct Lin {
      Shape x, w;
      bool bias;
    };
    for (Lin l : {Lin{{2, 3, 4}, {5, 4}, true}, Lin{{2, 40, 4}, {5, 4}, true}, Lin{{1, 4}, {2, 4}, false},
                  Lin{{2, 3, 4}, {3, 4, 1}, true}, Lin{{1, 1, 4}, {2, 4, 1}, false}, Lin{{1, 1, 3}, {1, 3}, true}}) {
      const std::int64_t K = l.w[1], N = l.w[0];
      std::vector<Tensor> in;
      in.reserve(3);
      in.push_back(r(l.x));
      in.push_back(r(l.w, 0.5f));
      if (l.bias) in.push_back(r({N}));
      add({"linear x " + l.x.str() + " w " + l.w.str() + (l.bias ? " + bias" : ""), "linear", in, {},
           [b = l.bias](Tape& t, auto& v, auto&) { return ops::linear(t, v[0], v[1], b ? v[2] : Var{}); },
           [K, N, b = l.bias](auto& x) { return linear(x[0], x[1], b ? &x[2] : nullptr, K, N); }});
    }
  }

  void softmaxes_and_reductions() {
    for (Shape s : {Shape{2, 3, 4}, Shape{1, 1, 3}}) {
      Tensor x = r(s);
      const auto dims = s.to_vector();
      const std::string at = std::string(" ").append(s.str());
      add({"sum" + at, "sum", {x}, {}, [](Tape& t, auto& v, auto&) { return ops::sum(t, v[0]); },
           [](auto& x) { return Values{sum_dim(x[0], {1, static_cast<std::int64_t>(x[0].size()), 1})[0]}; }});
      add({"mean" + at, "mean", {x}, {}, [](Tape& t, auto& v, auto&) { return ops::mean(t, v[0]); }, [](auto& x) {
             const auto n = static_cast<std::int64_t>(x[0].size());
             return Values{sum_dim(x[0], {1, n, 1})[0] / static_cast<double>(n)};
           }});
      for (int dim = 0; dim < 3; ++dim) {
        const Split3 sp = split(dims, dim);
        const std::string d = at + " dim " + std::to_string(dim);
        add({"softmax" + d, "softmax", {x}, {}, [dim](Tape& t, auto& v, auto&) { return ops::softmax(t, v[0], dim); },
             [sp](auto& x) { return softmax(x[0], sp); }});
        add({"sum_dim" + d, "sum_dim", {x}, {}, [dim](Tape& t, auto& v, auto&) { return ops::sum_dim(t, v[0], dim); },
             [sp](auto& x) { return sum_dim(x[0], sp); }});
        add({"cumsum" + d, "cumsum", {x}, {}, [dim](Tape& t, auto& v, auto&) { return ops::cumsum(t, v[0], dim); },
             [sp](auto& x) { return cumsum(x[0], sp); }});
      }
    }
    auto masked = [&](const std::vector<float>& mask, const Shape& s) {
      add({"masked_mean " + s.str(), "masked_mean", {r(s)}, {Tensor::from_vector(mask, s)},
           [](Tape& t, auto& v, auto& c) { return ops::masked_mean(t, v[0], c[0]); }, [mask](auto& x) {
             double num = 0.0, den = 0.0;
             for (std::size_t i = 0; i < mask.size(); ++i) {
               num += x[0][i] * mask[i];
               den += mask[i];
             }
             return Values{num / den};
           }});
    };
    masked({1, 0, 1, 1, 0, 0}, {2, 3});
    masked({1}, {1, 1});
    masked({0, 1, 0, 0, 1, 1, 1, 0}, {2, 4});
  }

  void shape_ops() {
    for (Shape s : {Shape{2, 3, 4}, Shape{1, 1, 3}}) {
      Tensor x = r(s);
      const auto dims = s.to_vector();
      for (int dim = 0; dim < 3; ++dim) {
        const Split3 sp = split(dims, dim);
        const std::string d = std::string(" ").append(s.str()).append(" dim ").append(std::to_string(dim));
        add({"pad_left" + d, "pad_left", {x}, {}, [dim](Tape& t, auto& v, auto&) { return ops::pad_left(t, v[0], dim, 2); },
             [sp](auto& x) { return place_band(x[0], sp, sp.n + 2, 2); }});
        const std::int64_t start = sp.n > 1 ? 1 : 0, len = 1;
        add({"slice" + d, "slice", {x}, {},
             [dim, start](Tape& t, auto& v, auto&) { return ops::slice(t, v[0], dim, start, len); },
             [sp, start](auto& x) { return slice(x[0], sp, start, len); }});
        std::vector<std::int64_t> other = dims;
        other[static_cast<std::size_t>(dim)] = 2;
        const Split3 so = split(other, dim);
        add({"concat" + d, "concat", {x, r(Shape(other))}, {},
             [dim](Tape& t, auto& v, auto&) { return ops::concat(t, v[0], v[1], dim); }, [sp, so](auto& x) {
               Values y = place_band(x[0], sp, sp.n + so.n, 0);
               const Values z = place_band(x[1], so, sp.n + so.n, sp.n);
               for (std::size_t i = 0; i < y.size(); ++i) y[i] += z[i];
               return y;
             }});
      }
    }
  }

  void maxima() {
    auto max_case = [&](const std::string& name, std::vector<Tensor> xs) {
      const std::int64_t n = xs[0].numel();
      // An element whose maximum two inputs reach (or nearly: a finite
      // difference of step 1e-6 must not cross it) is a kink.
      std::vector<bool> kink(static_cast<std::size_t>(n), false);
      for (std::int64_t i = 0; i < n; ++i) {
        float best = -INFINITY, second = -INFINITY;
        for (const Tensor& x : xs) {
          const float v = x.f32()[i];
          if (v > best) {
            second = best;
            best = v;
          } else {
            second = std::max(second, v);
          }
        }
        kink[static_cast<std::size_t>(i)] = best - second < 1e-4f;
      }
      Case c{name, "maximum", xs, {}, [](Tape& t, auto& v, auto&) { return ops::maximum(t, v); }, [](auto& x) {
               Values y = x[0];
               for (const Values& v : x)
                 for (std::size_t i = 0; i < y.size(); ++i) y[i] = std::max(y[i], v[i]);
               return y;
             }};
      if (xs.size() > 1) c.at_kink = [kink](std::size_t, std::int64_t i) { return kink[static_cast<std::size_t>(i)]; };
      add(std::move(c));
    };
    max_case("maximum of 3 (2, 3)", {r({2, 3}), r({2, 3}), r({2, 3})});
    max_case("maximum of 1 (1, 1)", {r({1, 1})});
    max_case("maximum of 5 (2, 2)", {r({2, 2}), r({2, 2}), r({2, 2}), r({2, 2}), r({2, 2})});
    // ties: element 0 between inputs 0 and 1, element 2 between all three,
    // element 4 between inputs 1 and 2: the lowest index alone gets gradient
    Tensor a = r({2, 3}), b = r({2, 3}), c = r({2, 3});
    for (int i = 0; i < 6; ++i) c.f32()[i] -= 5.0f;  // input 2 loses unless it ties
    b.f32()[0] = a.f32()[0] = 1.5f;
    a.f32()[2] = b.f32()[2] = c.f32()[2] = 2.0f;
    a.f32()[4] = -3.0f;
    b.f32()[4] = c.f32()[4] = 2.5f;
    max_case("maximum with ties (2, 3)", {a, b, c});
  }

  void convolutions() {
    struct Conv {
      int K, dil, T, B;
      bool four_d;
    };
    for (Conv c : {Conv{3, 1, 5, 2, false}, Conv{2, 2, 4, 2, false}, Conv{1, 1, 1, 1, false}, Conv{3, 2, 5, 2, false},
                   Conv{3, 1, 3, 1, true}, Conv{2, 3, 7, 5, false}}) {
      const int C = 3, O = 4;
      const Shape ws = c.four_d ? Shape{O, C, c.K, 1} : Shape{O, C, c.K};
      add({"conv1d K=" + std::to_string(c.K) + " dilation " + std::to_string(c.dil) + " x (" + std::to_string(c.B) +
               ", " + std::to_string(c.T) + ", 3) w " + ws.str(),
           "conv1d",
           {r({c.B, c.T, C}), r(ws, 0.5f), r({O}, 0.5f)},
           {},
           [d = c.dil](Tape& t, auto& v, auto&) { return ops::conv1d(t, v[0], v[1], v[2], d); },
           [c](auto& x) {
             return causal_conv(x[0], c.B, c.T, C, x[1], O, c.K, x[2], c.dil, 0, Activation::none, nullptr, 0);
           }});
    }
    struct Causal {
      int K, dil, pad, T, B;
      Activation act;
      int Tr;  // residual steps, 0 for none
    };
    for (Causal c : {Causal{3, 1, 2, 4, 2, Activation::tanh, 4}, Causal{2, 1, 1, 5, 2, Activation::tanh, 0},
                     Causal{3, 2, 4, 3, 2, Activation::relu, 3}, Causal{2, 1, 1, 4, 2, Activation::relu, 0},
                     Causal{1, 1, 0, 1, 1, Activation::none, 0}, Causal{3, 1, 2, 1, 1, Activation::tanh, 1},
                     Causal{2, 2, 2, 5, 2, Activation::none, 5}, Causal{3, 4, 8, 6, 6, Activation::tanh, 2},
                     Causal{2, 1, 1, 3, 1, Activation::none, 3}}) {
      const int C = 3, O = 3;
      const int To = c.T + c.pad - (c.K - 1) * c.dil;
      std::vector<Tensor> in = {r({c.B, c.T, C}), r({O, C, c.K, 1}, 0.5f), r({O}, 0.5f)};
      if (c.Tr) in.push_back(r({c.B, c.Tr, O}));
      const char* act = c.act == Activation::tanh ? "tanh" : c.act == Activation::relu ? "relu" : "none";
      Case k{"causal_conv " + std::string(act) + " K=" + std::to_string(c.K) + " dilation " + std::to_string(c.dil) +
                 " pad " + std::to_string(c.pad) + " x (" + std::to_string(c.B) + ", " + std::to_string(c.T) +
                 ", 3)" + (c.Tr ? " + residual of " + std::to_string(c.Tr) + " of " + std::to_string(To) : ""),
             "causal_conv",
             in,
             {},
             [c](Tape& t, auto& v, auto&) {
               return ops::causal_conv(t, v[0], v[1], v[2], c.dil, c.pad, c.act, c.Tr ? v[3] : Var{});
             },
             [c](auto& x) {
               return causal_conv(x[0], c.B, c.T, C, x[1], O, c.K, x[2], c.dil, c.pad, c.act, c.Tr ? &x[3] : nullptr,
                                  c.Tr);
             }};
      add(std::move(k));
    }
  }

  void lstms() {
    for (auto [B, T, D, H] : {std::tuple{2, 4, 3, 3}, std::tuple{1, 1, 2, 2}, std::tuple{3, 2, 2, 4},
                              std::tuple{6, 3, 2, 2}, std::tuple{1, 5, 1, 2}}) {
      add({"lstm x (" + std::to_string(B) + ", " + std::to_string(T) + ", " + std::to_string(D) + ") H=" +
               std::to_string(H),
           "lstm",
           {r({B, T, D}), r({4 * H, D}, 0.5f), r({4 * H, H}, 0.5f), r({4 * H}, 0.5f), r({4 * H}, 0.5f)},
           {},
           [](Tape& t, auto& v, auto&) { return ops::lstm(t, v[0], v[1], v[2], v[3], v[4]); },
           [B, T, D, H](auto& x) { return lstm(x[0], B, T, D, x[1], x[2], x[3], x[4], H); }});
    }
  }

  void pools() {
    auto pool_case = [&](const std::string& name, Tensor x) {
      const std::int64_t B = x.dim(0), T = x.dim(1), D = x.dim(2);
      // A zero entry is padding: its count is a step function of it, so no
      // finite difference is taken there (its gradient is checked in
      // test_gradcheck_double.cpp against the formula with the count held).
      std::vector<bool> zero(static_cast<std::size_t>(x.numel()));
      for (std::int64_t i = 0; i < x.numel(); ++i) zero[static_cast<std::size_t>(i)] = x.f32()[i] == 0.0f;
      Case c{name, "running_pool", {x}, {}, [](Tape& t, auto& v, auto&) { return ops::running_pool(t, v[0]); },
             [B, T, D](auto& x) { return running_pool(x[0], B, T, D); }};
      c.at_kink = [zero](std::size_t, std::int64_t i) { return zero[static_cast<std::size_t>(i)]; };
      add(std::move(c));
    };
    Tensor padded = r({3, 4, 2});
    for (int d = 0; d < 2; ++d) padded.f32()[(1 * 4 + 0) * 2 + d] = padded.f32()[(1 * 4 + 1) * 2 + d] = 0.0f;
    for (int i = 0; i < 8; ++i) padded.f32()[2 * 8 + i] = 0.0f;  // row 2 all padding
    padded.f32()[(0 * 4 + 2) * 2 + 1] = 0.0f;                      // one zero component mid-row
    pool_case("running_pool (3, 4, 2) with padding rows", padded);
    pool_case("running_pool (2, 3, 2)", r({2, 3, 2}));
    pool_case("running_pool (1, 1, 3)", r({1, 1, 3}));
    Tensor many = r({6, 3, 2});
    for (int d = 0; d < 2; ++d) many.f32()[(4 * 3 + 0) * 2 + d] = 0.0f;
    pool_case("running_pool (6, 3, 2) with a padded row", many);
  }

  void embeddings_and_scores() {
    const std::int64_t V = 6, D = 4;
    Tensor table = r({V, D}, 0.5f), bias = r({V, 1}, 0.5f);
    // id 0 is padding; id 3 repeats, so its gradients must add
    Tensor ids = id_tensor({2, 3, 3, 5, 0, 0, 1, 0}, {2, 4});
    Tensor one = id_tensor({4}, {1, 1});
    Tensor flat = id_tensor({5, 0, 1, 1, 2}, {5});
    for (const Tensor& id : {ids, one, flat}) {
      const auto v_ids = ids_of(id);
      add({"embedding ids " + id.shape().str(), "embedding", {table}, {id},
           [](Tape& t, auto& v, auto& c) { return ops::embedding(t, v[0], c[0]); }, [v_ids, D](auto& x) {
             Values y;
             for (std::int32_t i : v_ids)
               for (std::int64_t d = 0; d < D; ++d) y.push_back(x[0][static_cast<std::size_t>(i * D + d)]);
             return y;
           },
           {{0, 0, D}}});
    }
    for (const Tensor& id : {ids, one})
      for (bool with_bias : {true, false}) {
        const auto v_ids = ids_of(id);
        std::vector<Tensor> in = {r(id.shape().appended(D)), table};
        if (with_bias) in.push_back(bias);
        std::vector<ZeroGradient> zero = {{1, 0, D}};
        if (with_bias) zero.push_back({2, 0, 1});
        add({"score_items ids " + id.shape().str() + (with_bias ? " + bias" : ""), "score_items", in, {id},
             [with_bias](Tape& t, auto& v, auto& c) {
               return ops::score_items(t, v[0], v[1], with_bias ? v[2] : Var{}, c[0]);
             },
             [v_ids, D, with_bias](auto& x) {
               Values y;
               for (std::size_t i = 0; i < v_ids.size(); ++i)
                 y.push_back(item_score(&x[0][i * D], x[1], with_bias ? &x[2] : nullptr, v_ids[i], D, 0));
               return y;
             },
             zero});
      }
    struct Mix {
      Tensor ids;
      std::int64_t M;
      bool bias;
    };
    for (const Mix& m : {Mix{ids, 3, true}, Mix{one, 1, true}, Mix{ids, 2, false}, Mix{one, 4, false}}) {
      const auto v_ids = ids_of(m.ids);
      const std::int64_t M = m.M;
      std::vector<Tensor> in;
      in.reserve(3);
      in.push_back(r(m.ids.shape().appended(2 * M * D)));
      in.push_back(table);
      if (m.bias) in.push_back(bias);
      std::vector<ZeroGradient> zero = {{1, 0, D}};
      if (m.bias) zero.push_back({2, 0, 1});
      add({"mixture_score M=" + std::to_string(M) + " ids " + m.ids.shape().str() + (m.bias ? " + bias" : ""),
           "mixture_score", in, {m.ids},
           [M, b = m.bias](Tape& t, auto& v, auto& c) {
             return ops::mixture_score(t, v[0], v[1], b ? v[2] : Var{}, c[0], M);
           },
           [v_ids, D, M, b = m.bias](auto& x) {
             Values y;
             for (std::size_t i = 0; i < v_ids.size(); ++i)
               y.push_back(item_score(&x[0][i * 2 * M * D], x[1], b ? &x[2] : nullptr, v_ids[i], D, M));
             return y;
           },
           zero});
    }
  }

  void sequence_losses() {
    const std::int64_t V = 7, D = 3;
    struct Loss {
      LossKind kind;
      std::int64_t M, B, L, N;
      bool bias;
    };
    std::vector<Loss> confs;
    for (LossKind kind : {LossKind::pointwise, LossKind::bpr, LossKind::hinge, LossKind::adaptive_hinge})
      for (std::int64_t M : {0, 2}) confs.push_back({kind, M, 2, 3, kind == LossKind::adaptive_hinge ? 3 : 1, true});
    confs.push_back({LossKind::pointwise, 0, 1, 1, 1, true});
    confs.push_back({LossKind::adaptive_hinge, 2, 1, 1, 4, true});
    confs.push_back({LossKind::bpr, 0, 3, 2, 1, false});
    confs.push_back({LossKind::hinge, 1, 3, 2, 1, false});
    const char* kind_names[] = {"pointwise", "bpr", "hinge", "adaptive_hinge"};
    for (const Loss& l : confs) {
      const LossConf k{l.kind, l.B, l.L, l.L + 1, D, l.M, l.N, l.bias};
      const std::int64_t W = l.M > 0 ? 2 * l.M * D : D;
      // Targets: id 0 is padding (left-padded rows, as the data pipeline
      // makes); at least one target in every case is real.
      std::vector<std::int32_t> targets(static_cast<std::size_t>(l.B * l.L)), negatives;
      for (std::size_t i = 0; i < targets.size(); ++i)
        targets[i] = (i == 0 && targets.size() > 1) ? 0 : static_cast<std::int32_t>(1 + rng.uniform_int(V - 1));
      for (std::int64_t i = 0; i < l.N * l.B * l.L; ++i) negatives.push_back(static_cast<std::int32_t>(rng.uniform_int(V)));
      // Scores of order one leave the hinge active (n - p + 1 > 0) on most
      // positions; test_gradcheck_double.cpp checks that some are.
      std::vector<Tensor> in = {r({l.B, l.L + 1, W}, 0.7f), r({V, D}, 0.7f)};
      if (l.bias) in.push_back(r({V, 1}, 0.5f));
      std::vector<ZeroGradient> zero = {{1, 0, D}};
      if (l.bias) zero.push_back({2, 0, 1});
      Tensor t_ids = id_tensor(targets, {l.B, l.L}), n_ids = id_tensor(negatives, {l.N, l.B, l.L});
      Case c{std::string("sequence_loss ") + kind_names[static_cast<int>(l.kind)] +
                 (l.M ? " mixture M=" + std::to_string(l.M) : std::string(" dot")) + " B=" + std::to_string(l.B) +
                 " L=" + std::to_string(l.L) + " N=" + std::to_string(l.N) + (l.bias ? " + bias" : ""),
             "sequence_loss",
             in,
             {t_ids, n_ids},
             [l](Tape& t, auto& v, auto& c) {
               return ops::sequence_loss(t, v[0], v[1], l.bias ? v[2] : Var{}, c[0], c[1], l.kind, l.M);
             },
             [k, targets, negatives](auto& x) { return Values{sequence_loss(k, x, targets, negatives)}; },
             zero};
      c.loss_kind = l.kind;
      c.loss_scores = [k, targets, negatives](auto& x) { return loss_scores(k, x, targets, negatives); };
      add(std::move(c));
    }
  }

  // The fused pooling loss, with tables small enough for the backward's
  // private dense copies (V <= B * L) and large enough for its staged rows,
  // left-padded windows, and a nonzero padding row 0 (which must still get
  // no gradient while its entries count in the running mean).
  void pooled_sequence_losses() {
    struct Pooled {
      LossKind kind;
      std::int64_t V, B, L, N;
      bool bias;
    };
    const std::int64_t D = 3;
    std::vector<Pooled> confs;
    for (LossKind kind : {LossKind::pointwise, LossKind::bpr, LossKind::hinge, LossKind::adaptive_hinge})
      confs.push_back({kind, 5, 3, 4, kind == LossKind::adaptive_hinge ? 3 : 1, true});
    confs.push_back({LossKind::bpr, 40, 2, 3, 1, true});
    confs.push_back({LossKind::adaptive_hinge, 40, 2, 3, 2, false});
    confs.push_back({LossKind::pointwise, 4, 1, 1, 1, false});
    const char* kind_names[] = {"pointwise", "bpr", "hinge", "adaptive_hinge"};
    for (const Pooled& l : confs) {
      const LossConf k{l.kind, l.B, l.L, l.L + 1, D, 0, l.N, l.bias};
      std::vector<std::int32_t> sequences(static_cast<std::size_t>(l.B * l.L)), negatives;
      for (std::int64_t b = 0; b < l.B; ++b)
        for (std::int64_t t = 0; t < l.L; ++t)  // row b has b leading padding steps
          sequences[static_cast<std::size_t>(b * l.L + t)] =
              t < std::min(b, l.L - 1) ? 0 : static_cast<std::int32_t>(1 + rng.uniform_int(l.V - 1));
      for (std::int64_t i = 0; i < l.N * l.B * l.L; ++i) negatives.push_back(static_cast<std::int32_t>(rng.uniform_int(l.V)));
      std::vector<Tensor> in = {r({l.V, D}, 0.7f)};
      if (l.bias) in.push_back(r({l.V, 1}, 0.5f));
      std::vector<ZeroGradient> zero = {{0, 0, D}};
      if (l.bias) zero.push_back({1, 0, 1});
      Tensor s_ids = id_tensor(sequences, {l.B, l.L}), n_ids = id_tensor(negatives, {l.N, l.B, l.L});
      Case c{std::string("pooled_sequence_loss ") + kind_names[static_cast<int>(l.kind)] + " V=" +
                 std::to_string(l.V) + " B=" + std::to_string(l.B) + " L=" + std::to_string(l.L) +
                 " N=" + std::to_string(l.N) + (l.bias ? " + bias" : ""),
             "pooled_sequence_loss",
             in,
             {s_ids, n_ids},
             [l](Tape& t, auto& v, auto& c) {
               return ops::pooled_sequence_loss(t, v[0], l.bias ? v[1] : Var{}, c[0], c[1], l.kind);
             },
             [k, sequences, negatives](auto& x) {
               return Values{sequence_loss(k, pooled_inputs(k, x, sequences), sequences, negatives)};
             },
             zero};
      c.loss_kind = l.kind;
      c.loss_scores = [k, sequences, negatives](auto& x) {
        return loss_scores(k, pooled_inputs(k, x, sequences), sequences, negatives);
      };
      add(std::move(c));
    }
  }
};

}  // namespace

const std::vector<Case>& all_cases() {
  static const std::vector<Case> cases = [] {
    CaseList list;
    list.elementwise();
    list.matmuls();
    list.softmaxes_and_reductions();
    list.shape_ops();
    list.maxima();
    list.convolutions();
    list.lstms();
    list.pools();
    list.embeddings_and_scores();
    list.sequence_losses();
    list.pooled_sequence_losses();
    return std::move(list.cases);
  }();
  return cases;
}

std::vector<float> output_weights(const std::string& case_name, std::int64_t numel) {
  std::uint64_t seed = 1469598103934665603ull;  // FNV-1a of the name: stable across runs and platforms
  for (unsigned char ch : case_name) seed = (seed ^ ch) * 1099511628211ull;
  Rng rng(seed);
  std::vector<float> w(static_cast<std::size_t>(numel));
  for (float& v : w) v = static_cast<float>(rng.normal());
  return w;
}

}  // namespace op_cases
