// Differentiable operations on tape variables.
//
// Each op checks its inputs (names the op and the shapes on error), computes
// its output eagerly into the tape's arena and records a node when an input
// needs a gradient. Sequence tensors are batch-major (B, T, D): time is dim 1,
// features are the last, contiguous dim. Integer id tensors are DType::i32.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "limelight/op_kinds.hpp"
#include "limelight/tape.hpp"

namespace limelight::ops {

// Embedding lookup: table (V, D), ids (...) i32 -> (..., D). Row 0 is padding:
// it never receives gradient. A sparse table parameter gets a row-sparse gradient.
Var embedding(Tape& t, Var table, const Tensor& ids);

// a (M, K) @ b (K, N) -> (M, N); trans_a / trans_b use a^T / b^T instead.
Var matmul(Tape& t, Var a, Var b, bool trans_a = false, bool trans_b = false);
// x (..., K) @ weight (N, K)^T + bias (N) -> (..., N). bias may be invalid (no bias).
Var linear(Tape& t, Var x, Var weight, Var bias);

Var add(Tape& t, Var a, Var b);  // same shapes
Var sub(Tape& t, Var a, Var b);
Var mul(Tape& t, Var a, Var b);
Var scale(Tape& t, Var a, float factor);
Var add_scalar(Tape& t, Var a, float value);
Var bias_add(Tape& t, Var x, Var bias);  // x (..., N) + bias (N)

Var tanh(Tape& t, Var x);
Var relu(Tape& t, Var x);
Var sigmoid(Tape& t, Var x);
Var softmax(Tape& t, Var x, int dim);  // over one dimension

Var sum(Tape& t, Var x);              // all elements -> (1)
Var mean(Tape& t, Var x);             // all elements -> (1)
Var sum_dim(Tape& t, Var x, int dim);  // removes dim
Var cumsum(Tape& t, Var x, int dim);
// Zero rows inserted before index 0 of `dim` (left padding along time for dim 1).
Var pad_left(Tape& t, Var x, int dim, std::int64_t amount);
Var slice(Tape& t, Var x, int dim, std::int64_t start, std::int64_t length);
Var concat(Tape& t, Var a, Var b, int dim);

// Elementwise maximum of same-shaped inputs; on ties the lowest index wins and
// alone receives the gradient (as PyTorch's max over a stacked dimension).
Var maximum(Tape& t, const std::vector<Var>& xs);
// sum(x * mask) / sum(mask) with mask a constant of x's shape -> (1).
Var masked_mean(Tape& t, Var x, const Tensor& mask);

// Dilated 1-D convolution over time without padding (a cross-correlation):
// x (B, T, C) with weight (O, C, K) and bias (O) -> (B, T - (K-1)*dilation, O),
// y[b, t, o] = bias[o] + sum_{j, c} weight[o, c, j] * x[b, t + j*dilation, c].
Var conv1d(Tape& t, Var x, Var weight, Var bias, std::int64_t dilation);

// One LSTM layer over a whole sequence, PyTorch's formulas and gate order
// (i, f, g, o): x (B, T, D), weight_ih (4H, D), weight_hh (4H, H), biases (4H);
// h and c start at zero. Returns every hidden state, (B, T, H).
Var lstm(Tape& t, Var x, Var weight_ih, Var weight_hh, Var bias_ih, Var bias_hh);

// Scores of target items: rep (B, T, D), table (V, D), bias (V, 1), ids (B, T)
// -> (B, T), score = rep[b, t] . table[id] + bias[id].
Var score_items(Tape& t, Var rep, Var table, Var bias, const Tensor& ids);
// Mixture-of-tastes scores: rep (B, T, 2*M*D) holding M taste vectors then M
// attention vectors per step; w = softmax_m(att[m] . e), u = sum_m w[m] taste[m],
// score = u . e + bias[id] with e = table[id].
Var mixture_score(Tape& t, Var rep, Var table, Var bias, const Tensor& ids, std::int64_t num_mixtures);

}  // namespace limelight::ops

namespace limelight::ops {
// Spotlight's running pooling: x (B, T, D) -> (B, T+1, D) with state 0 zero and
// state t = (x[0] + ... + x[t-1]) / (n + 1), n counting the non-zero entries
// of x[0..t-1] per component (so padding steps, which are zero, do not count).
Var running_pool(Tape& t, Var x);
}  // namespace limelight::ops

namespace limelight::ops {

// The masked sequence losses of the reference, fused with target scoring and
// the mean: states (B, S, W) with S >= L, where step t of states scores the
// target targets[b, t]; negatives (N, B, L) (N = 1 except adaptive_hinge).
// Scores are state . table[id] + bias[id], or the mixture head when
// num_mixtures > 0 (W = 2 * num_mixtures * D). Per position, with p the
// positive score and n the negative one (adaptive_hinge: the highest of the N,
// lowest index on ties, and only it gets gradient):
//   pointwise (1 - sigma(p)) + sigma(n); bpr 1 - sigma(p - n);
//   hinge and adaptive_hinge max(0, n - p + 1) (gradient passes at 0, as clamp's).
// The result (1) is the sum over positions with targets != 0 divided by their count.
Var sequence_loss(Tape& t, Var states, Var table, Var bias, const Tensor& targets, const Tensor& negatives,
                  LossKind kind, std::int64_t num_mixtures = 0);

// The pooling model's loss in one op: sequence_loss(running_pool(
// embedding(table, sequences)), table, bias, sequences, negatives, kind),
// the windows' own items as targets, without the (B, L, D) intermediates.
// Equal to that composition up to float rounding (its dot products sum in a
// different order). Needs a backend with Primitive::pooled_sequence_loss.
Var pooled_sequence_loss(Tape& t, Var table, Var bias, const Tensor& sequences, const Tensor& negatives,
                         LossKind kind);
}  // namespace limelight::ops

namespace limelight::ops {

// One causal CNN layer fused: y = act(conv1d(left_pad(x, pad), weight, bias,
// dilation)) + residual, with x (B, T, C), weight (O, C, K[, 1]) and output
// (B, T + pad - (K-1)*dilation, O). The padding is read as zeros, never
// materialised. residual (optional) is (B, Tr, O) with Tr <= the output
// length, aligned to the end: it is added to the last Tr steps.
Var causal_conv(Tape& t, Var x, Var weight, Var bias, std::int64_t dilation, std::int64_t pad, Activation act,
                Var residual = Var{});
}  // namespace limelight::ops
