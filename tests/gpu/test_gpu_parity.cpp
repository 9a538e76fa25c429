// CPU-against-GPU parity of every GPU primitive, forward and backward, on
// random data: the CPU backend and ops (src/backend/cpu/, src/ops,
// src/optim) are the reference. Elementwise primitives written in the CPU's
// operation order (gather, sorted sparse rows, Adam, pooling) are held to
// float32 rounding of a single operation; dot-product results to the
// rounding bound of their sums. Skipped without a device.
#include <algorithm>
#include <map>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cuda/check.hpp"
#include "backend/cuda/primitives.hpp"
#include "kernels/scoring.cuh"
#include "gpu_test.hpp"
#include "limelight/adam.hpp"
#include "limelight/ops.hpp"
#include "limelight/tape.hpp"
#include "limelight_config.h"

using namespace limelight;
using namespace limelight::cuda;
using namespace limelight::cuda::raw;  // the kernels' own call forms
using gpu_test::check_close;
using gpu_test::random_floats;
using gpu_test::random_ids;

namespace {

DeviceBuffer zeros(Context& ctx, std::size_t bytes) {
  DeviceBuffer b = ctx.buffer(bytes);
  if (bytes) CUDA_CHECK(cudaMemsetAsync(b.data(), 0, bytes, ctx.stream()));
  return b;
}

std::vector<float> to_vector(const Tensor& t) { return t.to_vector(); }

Tensor tensor(const std::vector<float>& v, const Shape& s) { return Tensor::from_vector(v, s); }

// Elementwise |got - want| <= rel * scale + 1e-7, scale = sum of |terms|.
void check_bounded(const std::string& label, const std::vector<float>& got, const std::vector<float>& want,
                   const std::vector<float>& scale, double rel) {
  REQUIRE(got.size() == want.size());
  int bad = 0;
  std::size_t first = 0;
  for (std::size_t i = 0; i < got.size(); ++i)
    if (!(std::fabs(static_cast<double>(got[i]) - want[i]) <= rel * scale[i] + 1e-7)) {
      if (bad++ == 0) first = i;
    }
  INFO(label, ": ", bad, " of ", got.size(), " beyond the rounding bound; first at ", first, " got ",
       got.empty() ? 0.0f : got[first], " want ", want.empty() ? 0.0f : want[first]);
  CHECK(bad == 0);
}

}  // namespace

GPU_TEST_CASE("gpu parity: gemm, every transpose, padded leading dimensions") {
  Context ctx;
  std::mt19937 rng(1);
  const std::int64_t M = 37, N = 29, K = 53;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      const std::int64_t a_rows = ta ? K : M, a_cols = ta ? M : K, lda = a_cols + 3;
      const std::int64_t b_rows = tb ? N : K, b_cols = tb ? K : N, ldb = b_cols + 1;
      const std::int64_t ldc = N + 2;
      auto A = random_floats(static_cast<std::size_t>(a_rows * lda), rng);
      auto B = random_floats(static_cast<std::size_t>(b_rows * ldb), rng);
      auto C = random_floats(static_cast<std::size_t>(M * ldc), rng);
      std::vector<float> want = C, scale(C.size());
      cpu::backend().gemm(ta, tb, M, N, K, 1.5f, A.data(), lda, B.data(), ldb, 0.5f, want.data(), ldc);
      std::vector<float> absA(A.size()), absB(B.size());
      std::transform(A.begin(), A.end(), absA.begin(), [](float x) { return std::fabs(x); });
      std::transform(B.begin(), B.end(), absB.begin(), [](float x) { return std::fabs(x); });
      std::transform(C.begin(), C.end(), scale.begin(), [](float x) { return 0.5f * std::fabs(x); });
      cpu::backend().gemm(ta, tb, M, N, K, 1.5f, absA.data(), lda, absB.data(), ldb, 1.0f, scale.data(), ldc);
      DeviceBuffer dA = ctx.upload(A), dB = ctx.upload(B), dC = ctx.upload(C);
      gemm(ctx, ta, tb, M, N, K, 1.5f, dA.as<float>(), lda, dB.as<float>(), ldb, 0.5f, dC.as<float>(), ldc);
      check_bounded("gemm ta=" + std::to_string(ta) + " tb=" + std::to_string(tb), ctx.download<float>(dC, C.size()),
                    want, scale, 4.0 * K * 6e-8);
    }
}

GPU_TEST_CASE("gpu parity: embedding gather, atomic scatter and the deterministic sparse rows") {
  Context ctx;
  std::mt19937 rng(2);
  for (std::int64_t D : {1, 16, 37, 70}) {
    const std::int32_t V = 23;
    const std::int64_t n = 301;
    auto table = random_floats(static_cast<std::size_t>(V * D), rng);
    auto ids = random_ids(static_cast<std::size_t>(n), V, rng);
    ids[0] = 0;
    ids[5] = 0;
    auto grad = random_floats(static_cast<std::size_t>(n * D), rng);
    DeviceBuffer dT = ctx.upload(table), dI = ctx.upload(ids), dG = ctx.upload(grad);

    std::vector<float> want(static_cast<std::size_t>(n * D));
    cpu::backend().gather_rows(table.data(), V, D, ids.data(), n, want.data());
    DeviceBuffer out = ctx.buffer(want.size() * sizeof(float));
    gather_rows(ctx, dT.as<float>(), V, D, dI.as<std::int32_t>(), n, out.as<float>());
    CHECK(ctx.download<float>(out, want.size()) == want);

    auto base = random_floats(static_cast<std::size_t>(V * D), rng);
    std::vector<float> dense = base;
    cpu::backend().scatter_add_rows(grad.data(), V, D, ids.data(), n, backend::TableGrad{dense.data(), nullptr});
    DeviceBuffer dDense = ctx.upload(base);
    scatter_add_rows(ctx, dG.as<float>(), V, D, dI.as<std::int32_t>(), n, dDense.as<float>());
    auto got_dense = ctx.download<float>(dDense, dense.size());
    check_close("scatter_add_rows D=" + std::to_string(D), got_dense, dense, 1e-5, 1e-5);
    for (std::int64_t d = 0; d < D; ++d) CHECK(got_dense[static_cast<std::size_t>(d)] == base[static_cast<std::size_t>(d)]);

    // Reference: per id, the rows added in position order, id 0 skipped.
    std::map<std::int32_t, std::vector<float>> sums;
    for (std::int64_t i = 0; i < n; ++i) {
      if (ids[static_cast<std::size_t>(i)] == 0) continue;
      auto& s = sums.try_emplace(ids[static_cast<std::size_t>(i)], std::vector<float>(static_cast<std::size_t>(D), 0.0f))
                    .first->second;
      for (std::int64_t d = 0; d < D; ++d) s[static_cast<std::size_t>(d)] += grad[static_cast<std::size_t>(i * D + d)];
    }
    DeviceBuffer rows = ctx.buffer(static_cast<std::size_t>(n) * sizeof(std::int32_t));
    DeviceBuffer values = ctx.buffer(static_cast<std::size_t>(n * D) * sizeof(float));
    std::vector<float> first_values;
    for (int run = 0; run < 2; ++run) {
      const std::int64_t count = sparse_rows_sorted(ctx, dG.as<float>(), V, D, dI.as<std::int32_t>(), n,
                                                    rows.as<std::int32_t>(), values.as<float>());
      REQUIRE(count == static_cast<std::int64_t>(sums.size()));
      auto got_rows = ctx.download<std::int32_t>(rows, static_cast<std::size_t>(count));
      auto got_values = ctx.download<float>(values, static_cast<std::size_t>(count * D));
      std::size_t r = 0;
      for (const auto& [id, s] : sums) {
        CHECK(got_rows[r] == id);
        const std::vector<float> row(got_values.begin() + static_cast<std::ptrdiff_t>(r * D),
                                     got_values.begin() + static_cast<std::ptrdiff_t>((r + 1) * D));
        CHECK(row == s);  // same additions in the same order: the same bits
        ++r;
      }
      if (run == 0) first_values = got_values;
      else CHECK(got_values == first_values);
    }
  }
}

GPU_TEST_CASE("gpu parity: dense and lazy Adam against limelight::Adam") {
  Context ctx;
  std::mt19937 rng(3);
  AdamOptions options;
  options.lr = 0.01;
  options.weight_decay = 0.05;
  const std::int64_t V = 40, D = 8;
  Parameter dense("dense", tensor(random_floats(300, rng), Shape{100, 3}));
  Parameter table("table", tensor(random_floats(static_cast<std::size_t>(V * D), rng), Shape{V, D}), true);
  Adam adam({&dense, &table}, options);
  DeviceBuffer w = ctx.upload(dense.value.to_vector()), m = zeros(ctx, 300 * sizeof(float)),
               v = zeros(ctx, 300 * sizeof(float));
  DeviceBuffer tw = ctx.upload(table.value.to_vector()), tm = zeros(ctx, V * D * sizeof(float)),
               tv = zeros(ctx, V * D * sizeof(float));
  for (int step = 1; step <= 4; ++step) {
    adam.zero_grad();
    auto g = random_floats(300, rng);
    std::copy(g.begin(), g.end(), dense.grad.f32());
    for (std::int32_t id : random_ids(9, static_cast<std::int32_t>(V), rng)) {
      float* row = table.sparse_grad.row(id);
      for (std::int64_t d = 0; d < D; ++d) row[d] += static_cast<float>(d + 1) * 0.1f - 0.3f;
    }
    const auto& touched = table.sparse_grad.rows();
    std::vector<float> values(table.sparse_grad.values(), table.sparse_grad.values() + touched.size() * D);
    DeviceBuffer dg = ctx.upload(g), drows = ctx.upload(touched), dvalues = ctx.upload(values);
    adam.step();
    const AdamConstants c = adam_constants(backend::AdamStep::make(options.lr, options.beta1, options.beta2, options.eps,
                                                                         options.weight_decay, step));
    adam_dense(ctx, c, w.as<float>(), dg.as<float>(), m.as<float>(), v.as<float>(), 300);
    adam_lazy(ctx, c, tw.as<float>(), tm.as<float>(), tv.as<float>(), V, D, drows.as<std::int32_t>(),
              dvalues.as<float>(), static_cast<std::int64_t>(touched.size()));
    ctx.synchronize();
    const std::string at = " step " + std::to_string(step);
    check_close("dense w" + at, ctx.download<float>(w, 300), dense.value.to_vector(), 1e-6, 1e-9);
    check_close("dense m" + at, ctx.download<float>(m, 300), adam.exp_avg(0).to_vector(), 1e-6, 1e-9);
    check_close("dense v" + at, ctx.download<float>(v, 300), adam.exp_avg_sq(0).to_vector(), 1e-6, 1e-12);
    check_close("lazy w" + at, ctx.download<float>(tw, V * D), table.value.to_vector(), 1e-6, 1e-9);
    check_close("lazy m" + at, ctx.download<float>(tm, V * D), adam.exp_avg(1).to_vector(), 1e-6, 1e-9);
    check_close("lazy v" + at, ctx.download<float>(tv, V * D), adam.exp_avg_sq(1).to_vector(), 1e-6, 1e-12);
  }
}

GPU_TEST_CASE("gpu parity: fused masked sequence losses, forward and backward") {
  Context ctx;
  std::mt19937 rng(4);
  const std::int64_t B = 3, L = 5, S = 6, D = 16;
  const std::int32_t V = 40;
  for (ops::LossKind kind :
       {ops::LossKind::pointwise, ops::LossKind::bpr, ops::LossKind::hinge, ops::LossKind::adaptive_hinge})
    for (std::int64_t M : {0, 2}) {
      const std::int64_t N = kind == ops::LossKind::adaptive_hinge ? 3 : 1, W = M > 0 ? 2 * M * D : D;
      const std::string label = "loss kind " + std::to_string(static_cast<int>(kind)) + " M=" + std::to_string(M);
      auto ids = random_ids(static_cast<std::size_t>((N + 1) * B * L), V, rng);
      ids[2] = 0;  // padding targets are masked
      ids[7] = 0;
      Parameter states("states", tensor(random_floats(static_cast<std::size_t>(B * S * W), rng, 0.5f), Shape{B, S, W}));
      Parameter table("table", tensor(random_floats(static_cast<std::size_t>(V * D), rng, 0.5f), Shape{V, D}));
      Parameter bias("bias", tensor(random_floats(static_cast<std::size_t>(V), rng, 0.5f), Shape{V, 1}));
      Parameter sparse_table("sparse", table.value.clone(), true);
      const Tensor targets = Tensor::from_vector(std::vector<std::int32_t>(ids.begin(), ids.begin() + B * L), {B, L});
      const Tensor negatives =
          Tensor::from_vector(std::vector<std::int32_t>(ids.begin() + B * L, ids.end()), {N, B, L});
      Tape t;
      Var loss = ops::sequence_loss(t, t.parameter(states), t.parameter(table), t.parameter(bias), targets, negatives,
                                    kind, M);
      t.backward(loss);
      // The row-sparse reference scores with the same bias as the GPU side:
      // hinge losses touch an entry only where the margin is violated.
      Tape ts;
      ts.backward(ops::sequence_loss(ts, ts.constant(states.value), ts.parameter(sparse_table),
                                     ts.constant(bias.value), targets, negatives, kind, M));

      const LossShape s{B, L, S, W, D, M, N, V};
      const std::int64_t entries = (N + 1) * B * L;
      DeviceBuffer dS = ctx.upload(states.value.to_vector()), dT = ctx.upload(table.value.to_vector()),
                   dB = ctx.upload(bias.value.to_vector()), dI = ctx.upload(ids);
      DeviceBuffer coef = ctx.buffer(entries * sizeof(float)), result = ctx.buffer(3 * sizeof(float));
      sequence_loss_forward(ctx, kind, s, dS.as<float>(), dT.as<float>(), dB.as<float>(), dI.as<std::int32_t>(),
                            coef.as<float>(), result.as<float>());
      auto r = ctx.download<float>(result, 3);
      CHECK(r[2] == static_cast<float>(std::count_if(ids.begin(), ids.begin() + B * L, [](std::int32_t id) { return id != 0; })));
      check_close(label + " value", {r[0]}, {t.value(loss).f32()[0]}, 1e-5, 1e-6);

      DeviceBuffer d_states = zeros(ctx, static_cast<std::size_t>(B * S * W) * sizeof(float));
      DeviceBuffer d_entries = ctx.buffer(static_cast<std::size_t>(entries * D) * sizeof(float));
      DeviceBuffer d_bias_entries = ctx.buffer(static_cast<std::size_t>(entries) * sizeof(float));
      DeviceBuffer entry_ids = ctx.buffer(static_cast<std::size_t>(entries) * sizeof(std::int32_t));
      sequence_loss_backward(ctx, s, dS.as<float>(), dT.as<float>(), dI.as<std::int32_t>(), coef.as<float>(),
                             result.as<float>(), 1.0f, d_states.as<float>(), d_entries.as<float>(),
                             d_bias_entries.as<float>(), entry_ids.as<std::int32_t>());
      DeviceBuffer d_table = zeros(ctx, static_cast<std::size_t>(V * D) * sizeof(float));
      DeviceBuffer d_bias = zeros(ctx, static_cast<std::size_t>(V) * sizeof(float));
      scatter_add_rows(ctx, d_entries.as<float>(), V, D, entry_ids.as<std::int32_t>(), entries, d_table.as<float>());
      scatter_add_rows(ctx, d_bias_entries.as<float>(), V, 1, entry_ids.as<std::int32_t>(), entries,
                       d_bias.as<float>());
      ctx.synchronize();
      check_close(label + " d_states", ctx.download<float>(d_states, B * S * W), to_vector(states.grad), 1e-5, 1e-6);
      check_close(label + " d_table", ctx.download<float>(d_table, V * D), to_vector(table.grad), 1e-5, 1e-6);
      check_close(label + " d_bias", ctx.download<float>(d_bias, V), to_vector(bias.grad), 1e-5, 1e-6);

      // The sorted sparse rows touch exactly the rows the CPU's sparse gradient touches.
      DeviceBuffer rows = ctx.buffer(static_cast<std::size_t>(entries) * sizeof(std::int32_t));
      DeviceBuffer values = ctx.buffer(static_cast<std::size_t>(entries * D) * sizeof(float));
      const std::int64_t count = sparse_rows_sorted(ctx, d_entries.as<float>(), V, D, entry_ids.as<std::int32_t>(),
                                                    entries, rows.as<std::int32_t>(), values.as<float>());
      std::vector<std::int32_t> cpu_rows = sparse_table.sparse_grad.rows();
      std::sort(cpu_rows.begin(), cpu_rows.end());
      CHECK(ctx.download<std::int32_t>(rows, static_cast<std::size_t>(count)) == cpu_rows);
    }
}

GPU_TEST_CASE("gpu parity: running-mean pooling forward and backward") {
  Context ctx;
  std::mt19937 rng(5);
  for (std::int64_t T : {1, 9}) {
    const std::int64_t B = 4, D = 33;
    auto x = random_floats(static_cast<std::size_t>(B * T * D), rng);
    for (std::size_t i = 0; i < x.size(); i += 3) x[i] = 0.0f;  // padding positions are not counted
    auto g = random_floats(static_cast<std::size_t>(B * (T + 1) * D), rng);
    Parameter px("x", tensor(x, Shape{B, T, D}));
    Tape t;
    Var pooled = ops::running_pool(t, t.parameter(px));
    const std::vector<float> want = to_vector(t.value(pooled));
    t.backward(ops::sum(t, ops::mul(t, pooled, t.constant(tensor(g, Shape{B, T + 1, D})))));

    DeviceBuffer dx_in = ctx.upload(x), dg = ctx.upload(g);
    DeviceBuffer out = ctx.buffer(want.size() * sizeof(float)), div = ctx.buffer(want.size() * sizeof(float));
    DeviceBuffer dx = zeros(ctx, x.size() * sizeof(float));
    running_pool_forward(ctx, dx_in.as<float>(), B, T, D, out.as<float>(), div.as<float>());
    running_pool_backward(ctx, dg.as<float>(), div.as<float>(), B, T, D, dx.as<float>());
    check_close("running_pool out T=" + std::to_string(T), ctx.download<float>(out, want.size()), want, 1e-6, 0.0);
    check_close("running_pool dx T=" + std::to_string(T), ctx.download<float>(dx, x.size()), to_vector(px.grad), 1e-6,
                1e-9);
  }
}

GPU_TEST_CASE("gpu parity: mixture head forward and backward") {
  Context ctx;
  std::mt19937 rng(6);
  const std::int64_t rows = 11, D = 16, M = 3;
  const std::int32_t V = 30;
  auto ids = random_ids(static_cast<std::size_t>(rows), V, rng);
  ids[4] = 0;
  ids[6] = ids[1];
  Parameter rep("rep", tensor(random_floats(static_cast<std::size_t>(rows * 2 * M * D), rng, 0.5f),
                              Shape{rows, 2 * M * D}));
  Parameter table("table", tensor(random_floats(static_cast<std::size_t>(V * D), rng, 0.5f), Shape{V, D}));
  Parameter bias("bias", tensor(random_floats(static_cast<std::size_t>(V), rng), Shape{V, 1}));
  auto g = random_floats(static_cast<std::size_t>(rows), rng);
  const Tensor id_tensor = Tensor::from_vector(ids, {rows});
  Tape t;
  Var score = ops::mixture_score(t, t.parameter(rep), t.parameter(table), t.parameter(bias), id_tensor, M);
  const std::vector<float> want = to_vector(t.value(score));
  t.backward(ops::sum(t, ops::mul(t, score, t.constant(tensor(g, Shape{rows})))));

  DeviceBuffer dR = ctx.upload(rep.value.to_vector()), dT = ctx.upload(table.value.to_vector()),
               dB = ctx.upload(bias.value.to_vector()), dI = ctx.upload(ids), dg = ctx.upload(g);
  DeviceBuffer out = ctx.buffer(rows * sizeof(float)), weights = ctx.buffer(rows * M * sizeof(float));
  DeviceBuffer d_rep = zeros(ctx, static_cast<std::size_t>(rows * 2 * M * D) * sizeof(float));
  DeviceBuffer d_entries = ctx.buffer(static_cast<std::size_t>(rows * D) * sizeof(float));
  DeviceBuffer d_table = zeros(ctx, static_cast<std::size_t>(V * D) * sizeof(float));
  DeviceBuffer d_bias = zeros(ctx, static_cast<std::size_t>(V) * sizeof(float));
  mixture_score_forward(ctx, dR.as<float>(), dT.as<float>(), dB.as<float>(), V, D, M, dI.as<std::int32_t>(), rows,
                        out.as<float>(), weights.as<float>());
  mixture_score_backward(ctx, dg.as<float>(), dR.as<float>(), dT.as<float>(), V, D, M, dI.as<std::int32_t>(), rows,
                         weights.as<float>(), d_rep.as<float>(), d_entries.as<float>());
  scatter_add_rows(ctx, d_entries.as<float>(), V, D, dI.as<std::int32_t>(), rows, d_table.as<float>());
  scatter_add_rows(ctx, dg.as<float>(), V, 1, dI.as<std::int32_t>(), rows, d_bias.as<float>());
  ctx.synchronize();
  check_close("mixture out", ctx.download<float>(out, rows), want, 1e-5, 1e-6);
  check_close("mixture d_rep", ctx.download<float>(d_rep, rows * 2 * M * D), to_vector(rep.grad), 1e-5, 1e-6);
  check_close("mixture d_table", ctx.download<float>(d_table, V * D), to_vector(table.grad), 1e-5, 1e-6);
  check_close("mixture d_bias", ctx.download<float>(d_bias, V), to_vector(bias.grad), 1e-5, 1e-6);
}

GPU_TEST_CASE("gpu parity: whole-catalogue scores") {
  Context ctx;
  std::mt19937 rng(7);
  const std::int64_t B = 3, V = 1000, D = 24;
  auto users = random_floats(static_cast<std::size_t>(B * D), rng);
  auto table = random_floats(static_cast<std::size_t>(V * D), rng);
  auto bias = random_floats(static_cast<std::size_t>(V), rng);
  std::vector<float> want(static_cast<std::size_t>(B * V)), scale(want.size());
  cpu::backend().gemm(false, true, B, V, D, 1.0f, users.data(), D, table.data(), D, 0.0f, want.data(), V);
  std::vector<float> abs_users = users, abs_table = table;
  for (auto* v : {&abs_users, &abs_table})
    for (float& x : *v) x = std::fabs(x);
  cpu::backend().gemm(false, true, B, V, D, 1.0f, abs_users.data(), D, abs_table.data(), D, 0.0f, scale.data(), V);
  for (std::int64_t i = 0; i < B * V; ++i) {
    want[static_cast<std::size_t>(i)] += bias[static_cast<std::size_t>(i % V)];
    scale[static_cast<std::size_t>(i)] += std::fabs(bias[static_cast<std::size_t>(i % V)]);
  }
  DeviceBuffer dU = ctx.upload(users), dT = ctx.upload(table), dB = ctx.upload(bias);
  DeviceBuffer scores = ctx.buffer(want.size() * sizeof(float));
  score_catalogue(ctx, dU.as<float>(), B, dT.as<float>(), dB.as<float>(), V, D, scores.as<float>());
  check_bounded("score_catalogue", ctx.download<float>(scores, want.size()), want, scale, 4.0 * D * 6e-8);
}

namespace {

// The CPU's answer, recommend_into's order (higher score, then lower id; id 0
// and excluded ids never; NaN scores never), against the device's k per row.
void check_top_k(const std::string& label, const std::vector<std::int32_t>& got_ids,
                 const std::vector<float>& got_scores, const std::vector<float>& users, const std::vector<float>& table,
                 const std::vector<float>& bias, const std::vector<std::int32_t>& exclude, std::int64_t B,
                 std::int64_t X, std::int64_t V, std::int64_t D, int k) {
  int bad = 0;
  for (std::int64_t b = 0; b < B; ++b) {
    std::vector<std::pair<float, std::int32_t>> all;
    for (std::int32_t v = 1; v < V; ++v) {
      const auto first = exclude.begin() + b * X, last = exclude.begin() + (b + 1) * X;
      if (std::find(first, last, v) != last) continue;
      float s = 0.0f;
      for (std::int64_t d = 0; d < D; ++d)
        s += users[static_cast<std::size_t>(b * D + d)] * table[static_cast<std::size_t>(v * D + d)];
      s += bias[static_cast<std::size_t>(v)];
      if (!std::isnan(s)) all.emplace_back(s, v);
    }
    const std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(k), all.size());
    std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n), all.end(),
                      [](const auto& a, const auto& c) {
                        return a.first > c.first || (a.first == c.first && a.second < c.second);
                      });
    for (std::size_t j = 0; j < static_cast<std::size_t>(k); ++j) {
      const std::size_t at = static_cast<std::size_t>(b * k) + j;
      const bool ok = j < n ? got_ids[at] == all[j].second && got_scores[at] == all[j].first
                            : got_ids[at] == -1 && std::isinf(got_scores[at]) && got_scores[at] < 0;
      if (!ok && bad++ < 5)
        MESSAGE(label, " row ", b, " rank ", j, ": got (", got_ids[at], ", ", got_scores[at], ") want (",
                j < n ? all[j].second : -1, ", ", j < n ? all[j].first : -INFINITY, ")");
    }
  }
  INFO(label);
  CHECK(bad == 0);
}

// Small integers: every score is exact in float32, so the order (ties
// included) must match the CPU's exactly.
std::vector<float> small_integers(std::size_t n, std::mt19937& rng) {
  std::uniform_int_distribution<int> small(-2, 2);
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(small(rng));
  return v;
}

}  // namespace

GPU_TEST_CASE("gpu parity: fused scoring with top-k, ties, exclusions and short catalogues") {
  Context ctx;
  std::mt19937 rng(8);
  // Reduced sizes keep an odd width, a short and a multi-slice catalogue.
  const std::vector<std::int64_t> widths =
      gpu_test::reduced() ? std::vector<std::int64_t>{7} : std::vector<std::int64_t>{7, 8};
  const std::vector<int> ks = gpu_test::reduced() ? std::vector<int>{17, 128} : std::vector<int>{1, 17, 128};
  for (std::int64_t D : widths)
    for (std::int64_t V : {std::int64_t{50}, gpu_test::reduced() ? std::int64_t{700} : std::int64_t{3000}})
      for (int k : ks) {
        // 1, 2 and 3 users: tiles of one, two and four (one of them padding).
        const std::int64_t B = k == 17 ? 1 : k == 1 ? 2 : 3, X = 5;
        const auto users = small_integers(static_cast<std::size_t>(B * D), rng);
        const auto table = small_integers(static_cast<std::size_t>(V * D), rng);
        const auto bias = small_integers(static_cast<std::size_t>(V), rng);
        auto exclude = random_ids(static_cast<std::size_t>(B * X), static_cast<std::int32_t>(V), rng);
        exclude[1] = 0;
        DeviceBuffer dU = ctx.upload(users), dT = ctx.upload(table), dB = ctx.upload(bias), dX = ctx.upload(exclude);
        DeviceBuffer ids = ctx.buffer(static_cast<std::size_t>(B * k) * sizeof(std::int32_t));
        DeviceBuffer scores = ctx.buffer(static_cast<std::size_t>(B * k) * sizeof(float));
        score_top_k(ctx, dU.as<float>(), B, dT.as<float>(), dB.as<float>(), V, D, k, dX.as<std::int32_t>(), X,
                    ids.as<std::int32_t>(), scores.as<float>());
        ctx.synchronize();
        check_top_k("top-k D=" + std::to_string(D) + " V=" + std::to_string(V) + " k=" + std::to_string(k),
                    ctx.download<std::int32_t>(ids, static_cast<std::size_t>(B * k)),
                    ctx.download<float>(scores, static_cast<std::size_t>(B * k)), users, table, bias, exclude, B, X, V,
                    D, k);
      }
}

GPU_TEST_CASE("gpu parity: top-k over many slices and user tiles, two merge passes, NaN rows never returned") {
  Context ctx;
  std::mt19937 rng(9);
  // 11 users: a full tile of 8 and a partial one. 40 target blocks cut the
  // catalogue into 20 slices: 20 x 128 candidates per user need two merge
  // passes (5 slices and one pass on reduced sizes). D = 33 takes two lane
  // iterations per row.
  const std::int64_t B = 11, D = 33, X = 40;
  const std::int64_t V = gpu_test::reduced() ? 1300 : 5200;
  const int target_blocks = gpu_test::reduced() ? 8 : 40;
  auto users = small_integers(static_cast<std::size_t>(B * D), rng);
  auto table = small_integers(static_cast<std::size_t>(V * D), rng);
  const auto bias = small_integers(static_cast<std::size_t>(V), rng);
  for (std::int64_t v : {std::int64_t{3}, std::int64_t{777}, V - 1}) table[static_cast<std::size_t>(v * D + 5)] = NAN;
  // The exclusion lists hold each user's best items, so they matter.
  auto exclude = random_ids(static_cast<std::size_t>(B * X), static_cast<std::int32_t>(V), rng);
  for (int k : {128, 5}) {
    DeviceBuffer dU = ctx.upload(users), dT = ctx.upload(table), dB = ctx.upload(bias), dX = ctx.upload(exclude);
    DeviceBuffer ids = ctx.buffer(static_cast<std::size_t>(B * k) * sizeof(std::int32_t));
    DeviceBuffer scores = ctx.buffer(static_cast<std::size_t>(B * k) * sizeof(float));
    const std::size_t bytes = kernels::top_k_workspace(B, V, D, k, target_blocks);
    DeviceBuffer workspace = ctx.buffer(bytes);
    kernels::score_top_k(dU.as<float>(), B, dT.as<float>(), dB.as<float>(), V, D, k, dX.as<std::int32_t>(), X,
                         ids.as<std::int32_t>(), scores.as<float>(), workspace.data(), bytes, target_blocks,
                         ctx.fault_flag(), ctx.stream());
    ctx.synchronize();
    check_top_k("tiled top-k k=" + std::to_string(k), ctx.download<std::int32_t>(ids, static_cast<std::size_t>(B * k)),
                ctx.download<float>(scores, static_cast<std::size_t>(B * k)), users, table, bias, exclude, B, X, V, D,
                k);
  }
}

#if LIMELIGHT_CUDA_EMULATED
// What a device pays in cross-lane traffic for the scoring pass, as the
// emulator counts it (one per warp-wide shuffle): the per-user sums of each
// item are transpose-reduced within a group of 8 lanes, so a tile of U users
// takes U - 1 + 3 - log2 U shuffles per 4 items, where a warp sum per user
// took 5 per item and user.
GPU_TEST_CASE("gpu parity: the tile top-k takes at most 2 warp shuffles per item and user (emulator counts)") {
  Context ctx;
  std::mt19937 rng(10);
  const std::int64_t V = 640, D = 32;
  const int k = 10;
  const auto table = small_integers(static_cast<std::size_t>(V * D), rng);
  DeviceBuffer dT = ctx.upload(table);
  for (std::int64_t B : {1, 2, 3, 8, 11}) {
    const auto users = small_integers(static_cast<std::size_t>(B * D), rng);
    DeviceBuffer dU = ctx.upload(users);
    DeviceBuffer ids = ctx.buffer(static_cast<std::size_t>(B * k) * sizeof(std::int32_t));
    DeviceBuffer scores = ctx.buffer(static_cast<std::size_t>(B * k) * sizeof(float));
    ctx.synchronize();
    const std::uint64_t before = cuda_emulator::warp_shuffles();
    score_top_k(ctx, dU.as<float>(), B, dT.as<float>(), nullptr, V, D, k, nullptr, 0, ids.as<std::int32_t>(),
                scores.as<float>());
    ctx.synchronize();
    const double per = static_cast<double>(cuda_emulator::warp_shuffles() - before) / static_cast<double>(V * B);
    MESSAGE(B, " users: ", per, " warp shuffles per item and user");
    CHECK(per <= 2.0);
  }
}
#endif

TEST_CASE("gpu: top-k workspace is bounded by users x blocks x k, not by the catalogue") {
  // 512 users x 10M items x k 128 on a 132-multiprocessor device: the
  // first-pass candidates of a chunk-per-2048-items design took 5 GB.
  const std::size_t bytes = kernels::top_k_workspace(512, 10'000'000, 32, 128, 264);
  CHECK(bytes < (std::size_t{64} << 20));
  CHECK(kernels::top_k_workspace(512, 100'000'000, 32, 128, 264) == bytes);
  CHECK(kernels::top_k_workspace(1, 10'000'000, 32, 128, 264) < (std::size_t{1} << 20));
}

GPU_TEST_CASE("gpu parity: a mixture model's top k holds its scores for a bounded number of rows at a time") {
  Context ctx;
  std::mt19937 rng(12);
  const std::int64_t rows = 4, D = 4, M = 2, V = 1500;
  const int k = 7;
  const auto states = random_floats(static_cast<std::size_t>(rows * 2 * M * D), rng);
  const auto table = random_floats(static_cast<std::size_t>(V * D), rng);
  const auto bias = random_floats(static_cast<std::size_t>(V), rng);
  std::vector<unsigned char> excluded(static_cast<std::size_t>(V), 0);
  excluded[0] = excluded[17] = 1;
  std::vector<ScoredItem> want(static_cast<std::size_t>(rows * k));
  std::vector<std::size_t> want_n(static_cast<std::size_t>(rows));
  Arena arena;
  cpu::backend().top_k_catalogue(states.data(), rows, table.data(), bias.data(), V, D, M, excluded.data(), k,
                                 want.data(), want_n.data(), arena);
  DeviceBuffer dS = ctx.upload(states), dT = ctx.upload(table), dB = ctx.upload(bias), dE = ctx.upload(excluded);
  DeviceBuffer out = ctx.buffer(static_cast<std::size_t>(rows * k) * sizeof(ScoredItem));
  DeviceBuffer counts = ctx.buffer(static_cast<std::size_t>(rows) * sizeof(std::size_t));
  // Two rows' scores at a time: the call's memory stays well under the four rows' it would take at once.
  const std::size_t row_bytes = sizeof(float) * static_cast<std::size_t>(V), saved = mixture_scores_bytes;
  mixture_scores_bytes = 2 * row_bytes;
  const std::size_t before = ctx.allocator().stats().bytes_in_use;
  Arena device_arena(Device::cuda);
  top_k_catalogue(ctx, dS.as<float>(), rows, dT.as<float>(), dB.as<float>(), V, D, M, dE.as<unsigned char>(), k,
                  out.as<ScoredItem>(), counts.as<std::size_t>(), device_arena);
  ctx.synchronize();
  mixture_scores_bytes = saved;
  const std::size_t extra = ctx.allocator().stats().peak_bytes_in_use - before;
  CHECK(extra >= 2 * row_bytes);
  CHECK(extra < 3 * row_bytes);
  const auto got = ctx.download<ScoredItem>(out, static_cast<std::size_t>(rows * k));
  const auto got_n = ctx.download<std::size_t>(counts, static_cast<std::size_t>(rows));
  CHECK(got_n == want_n);
  for (std::size_t i = 0; i < want.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i].item == want[i].item);
    CHECK(got[i].score == doctest::Approx(want[i].score).epsilon(1e-5));
  }
}
