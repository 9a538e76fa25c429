// Gradient checks by finite differences for every op, on random shapes and
// on the edge cases the models hit: batch 1, sequence length 1, rows that
// are all padding.
#include "gradcheck.hpp"

using namespace limelight;
using gradcheck::check;
using gradcheck::random_tensor;

namespace {
Tensor ids_tensor(const std::vector<std::int32_t>& ids, const Shape& shape) { return Tensor::from_vector(ids, shape); }
}  // namespace

TEST_CASE("gradcheck: elementwise ops") {
  Rng rng(11);
  for (Shape s : {Shape{3, 4}, Shape{1, 1}, Shape{2, 3, 5}}) {
    auto a = random_tensor(s, rng), b = random_tensor(s, rng);
    check("add", {a, b}, [](Tape& t, auto& v) { return ops::add(t, v[0], v[1]); });
    check("sub", {a, b}, [](Tape& t, auto& v) { return ops::sub(t, v[0], v[1]); });
    check("mul", {a, b}, [](Tape& t, auto& v) { return ops::mul(t, v[0], v[1]); });
    check("scale", {a}, [](Tape& t, auto& v) { return ops::scale(t, v[0], -2.5f); });
    check("add_scalar", {a}, [](Tape& t, auto& v) { return ops::add_scalar(t, v[0], 1.0f); });
    check("tanh", {a}, [](Tape& t, auto& v) { return ops::tanh(t, v[0]); });
    check("sigmoid", {a}, [](Tape& t, auto& v) { return ops::sigmoid(t, v[0]); });
    // relu away from its kink, where a finite difference is meaningless
    Tensor r = a.clone();
    for (std::int64_t i = 0; i < r.numel(); ++i)
      if (std::fabs(r.f32()[i]) < 0.05f) r.f32()[i] = 0.3f;
    check("relu", {r}, [](Tape& t, auto& v) { return ops::relu(t, v[0]); });
  }
}

TEST_CASE("gradcheck: bias_add, matmul, linear") {
  Rng rng(12);
  check("bias_add", {random_tensor({2, 3, 4}, rng), random_tensor({4}, rng)},
        [](Tape& t, auto& v) { return ops::bias_add(t, v[0], v[1]); });
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      Shape sa = ta ? Shape{4, 3} : Shape{3, 4};
      Shape sb = tb ? Shape{5, 4} : Shape{4, 5};
      check("matmul", {random_tensor(sa, rng), random_tensor(sb, rng)},
            [ta, tb](Tape& t, auto& v) { return ops::matmul(t, v[0], v[1], ta, tb); });
    }
  check("matmul 1x1", {random_tensor({1, 1}, rng), random_tensor({1, 1}, rng)},
        [](Tape& t, auto& v) { return ops::matmul(t, v[0], v[1]); });
  check("linear", {random_tensor({2, 3, 4}, rng), random_tensor({5, 4}, rng), random_tensor({5}, rng)},
        [](Tape& t, auto& v) { return ops::linear(t, v[0], v[1], v[2]); });
  // 80 rows: split across threads, with per-chunk weight gradients
  check("linear, chunked rows", {random_tensor({2, 40, 4}, rng), random_tensor({5, 4}, rng), random_tensor({5}, rng)},
        [](Tape& t, auto& v) { return ops::linear(t, v[0], v[1], v[2]); });
  check("linear no bias", {random_tensor({1, 4}, rng), random_tensor({2, 4}, rng)},
        [](Tape& t, auto& v) { return ops::linear(t, v[0], v[1], Var{}); });
}

TEST_CASE("gradcheck: reductions, scans and softmax") {
  Rng rng(13);
  auto x = random_tensor({2, 3, 4}, rng);
  check("sum", {x}, [](Tape& t, auto& v) { return ops::sum(t, v[0]); });
  check("mean", {x}, [](Tape& t, auto& v) { return ops::mean(t, v[0]); });
  for (int dim = 0; dim < 3; ++dim) {
    check("sum_dim", {x}, [dim](Tape& t, auto& v) { return ops::sum_dim(t, v[0], dim); });
    check("cumsum", {x}, [dim](Tape& t, auto& v) { return ops::cumsum(t, v[0], dim); });
    check("softmax", {x}, [dim](Tape& t, auto& v) { return ops::softmax(t, v[0], dim); });
  }
  check("cumsum T=1", {random_tensor({1, 1, 3}, rng)}, [](Tape& t, auto& v) { return ops::cumsum(t, v[0], 1); });
  Tensor mask = Tensor::from_vector(std::vector<float>{1, 0, 1, 1, 0, 0}, {2, 3});
  check("masked_mean", {random_tensor({2, 3}, rng)}, [mask](Tape& t, auto& v) { return ops::masked_mean(t, v[0], mask); });
  check("maximum", {random_tensor({2, 3}, rng), random_tensor({2, 3}, rng), random_tensor({2, 3}, rng)},
        [](Tape& t, auto& v) { return ops::maximum(t, v); });
}

TEST_CASE("gradcheck: pad_left, slice, concat") {
  Rng rng(14);
  auto x = random_tensor({2, 3, 4}, rng);
  for (int dim = 0; dim < 3; ++dim) {
    check("pad_left", {x}, [dim](Tape& t, auto& v) { return ops::pad_left(t, v[0], dim, 2); });
    check("slice", {x}, [dim](Tape& t, auto& v) { return ops::slice(t, v[0], dim, 1, 1); });
    check("concat", {x, random_tensor(dim == 0 ? Shape{1, 3, 4} : dim == 1 ? Shape{2, 2, 4} : Shape{2, 3, 1}, rng)},
          [dim](Tape& t, auto& v) { return ops::concat(t, v[0], v[1], dim); });
  }
}

TEST_CASE("gradcheck: embedding and scoring, padding rows never get gradient") {
  Rng rng(15);
  auto table = random_tensor({6, 4}, rng, 0.5f);
  auto bias = random_tensor({6, 1}, rng, 0.5f);
  // row 1 is all padding; id 3 repeats so gradients must add
  Tensor ids = ids_tensor({2, 3, 3, 5, 0, 0, 0, 0}, {2, 4});
  check("embedding", {table}, [ids](Tape& t, auto& v) { return ops::embedding(t, v[0], ids); }, {{0, 4}});
  check("score_items", {random_tensor({2, 4, 4}, rng), table, bias},
        [ids](Tape& t, auto& v) { return ops::score_items(t, v[0], v[1], v[2], ids); }, {{1, 4}, {2, 1}});
  Tensor one = ids_tensor({4}, {1, 1});
  check("score_items B=1 T=1", {random_tensor({1, 1, 4}, rng), table, bias},
        [one](Tape& t, auto& v) { return ops::score_items(t, v[0], v[1], v[2], one); });
  check("mixture_score", {random_tensor({2, 4, 2 * 3 * 4}, rng), table, bias},
        [ids](Tape& t, auto& v) { return ops::mixture_score(t, v[0], v[1], v[2], ids, 3); }, {{1, 4}, {2, 1}});

  // The padding row: a gradient flowing through id 0 must not reach row 0.
  Parameter p("table", table.clone());
  Tape tape;
  Var out = ops::embedding(tape, tape.parameter(p), ids);
  tape.backward(ops::sum(tape, out));
  for (std::int64_t d = 0; d < 4; ++d) CHECK(p.grad.f32()[d] == 0.0f);
  CHECK(p.grad.f32()[3 * 4] == doctest::Approx(2.0f));  // id 3 used twice
}

TEST_CASE("large embedding backward (split across threads by id) equals the serial sparse one") {
  Rng rng(21);
  const std::int64_t V = 97, D = 32, n = 4096;
  Tensor table = random_tensor({V, D}, rng);
  std::vector<std::int32_t> id_values(static_cast<std::size_t>(n));
  for (auto& v : id_values) v = static_cast<std::int32_t>(rng.uniform_int(V));
  Tensor ids = Tensor::from_vector(id_values, {n});
  Tensor weights = random_tensor({n, D}, rng);
  Parameter dense("dense", table.clone()), sparse("sparse", table.clone(), true);
  for (Parameter* p : {&dense, &sparse}) {
    Tape tape;
    Var e = ops::embedding(tape, tape.parameter(*p), ids);
    tape.backward(ops::sum(tape, ops::mul(tape, e, tape.constant(weights))));
  }
  const auto& rows = sparse.sparse_grad.rows();
  for (std::size_t k = 0; k < rows.size(); ++k)
    for (std::int64_t d = 0; d < D; ++d)
      REQUIRE(dense.grad.f32()[rows[k] * D + d] == sparse.sparse_grad.values()[k * static_cast<std::size_t>(D) + d]);
  for (std::int64_t d = 0; d < D; ++d) CHECK(dense.grad.f32()[d] == 0.0f);
}

TEST_CASE("sparse embedding gradients equal the dense ones on touched rows") {
  Rng rng(16);
  auto table = random_tensor({7, 3}, rng);
  Tensor ids = ids_tensor({1, 4, 4, 0, 6, 1}, {2, 3});
  Tensor rep = random_tensor({2, 3, 3}, rng);
  Parameter dense("dense", table.clone()), sparse("sparse", table.clone(), true);
  for (Parameter* p : {&dense, &sparse}) {
    Tape tape;
    Var r = tape.constant(rep);
    Var e = tape.parameter(*p);
    Var s = ops::add(tape, ops::score_items(tape, r, e, Var{}, ids), ops::sum_dim(tape, ops::embedding(tape, e, ids), 2));
    tape.backward(ops::sum(tape, ops::mul(tape, s, s)));
  }
  std::vector<std::int32_t> rows = sparse.sparse_grad.rows();
  std::sort(rows.begin(), rows.end());
  CHECK(rows == std::vector<std::int32_t>{1, 4, 6});
  const auto& touched = sparse.sparse_grad.rows();
  for (std::size_t k = 0; k < touched.size(); ++k)
    for (int d = 0; d < 3; ++d)
      CHECK(sparse.sparse_grad.values()[k * 3 + d] == doctest::Approx(dense.grad.f32()[touched[k] * 3 + d]));
  for (int d = 0; d < 3; ++d) CHECK(dense.grad.f32()[d] == 0.0f);
}

TEST_CASE("gradcheck: running_pool, with padding steps") {
  Rng rng(19);
  Tensor x = random_tensor({3, 4, 2}, rng);
  for (int d = 0; d < 2; ++d) x.f32()[(1 * 4 + 0) * 2 + d] = x.f32()[(1 * 4 + 1) * 2 + d] = 0.0f;  // row 1 left-padded
  for (int s = 0; s < 4; ++s)
    for (int d = 0; d < 2; ++d) x.f32()[(2 * 4 + s) * 2 + d] = 0.0f;  // row 2 all padding
  check("running_pool", {random_tensor({2, 3, 2}, rng)}, [](Tape& t, auto& v) { return ops::running_pool(t, v[0]); });
  check("running_pool T=1", {random_tensor({1, 1, 3}, rng)}, [](Tape& t, auto& v) { return ops::running_pool(t, v[0]); });
  Tape tape;
  Var out = ops::running_pool(tape, tape.constant(x));
  const float* o = tape.value(out).f32();
  // state after one real item is e/2 (the divisor is items seen + 1), before any item 0
  CHECK(o[(1 * 5 + 2) * 2 + 0] == 0.0f);
  CHECK(o[(1 * 5 + 3) * 2 + 0] == doctest::Approx(x.f32()[(1 * 4 + 2) * 2 + 0] / 2.0f));
  for (int s = 0; s < 5; ++s) CHECK(o[(2 * 5 + s) * 2 + 1] == 0.0f);
}

TEST_CASE("gradcheck: dilated causal conv1d") {
  Rng rng(17);
  for (auto [K, dil, T] : {std::tuple{3, 1, 5}, std::tuple{2, 2, 4}, std::tuple{1, 1, 1}, std::tuple{3, 2, 5}}) {
    check("conv1d", {random_tensor({2, T, 3}, rng), random_tensor({4, 3, K}, rng), random_tensor({4}, rng)},
          [dil](Tape& t, auto& v) { return ops::conv1d(t, v[0], v[1], v[2], dil); });
  }
  check("conv1d 4-d weight, B=1", {random_tensor({1, 3, 2}, rng), random_tensor({2, 2, 3, 1}, rng), random_tensor({2}, rng)},
        [](Tape& t, auto& v) { return ops::conv1d(t, v[0], v[1], v[2], 1); });
}

TEST_CASE("gradcheck: causal_conv with padding, activations and residuals") {
  Rng rng(20);
  struct Conf {
    int K, dil, pad, T;
    ops::Activation act;
    bool residual;
  };
  for (Conf c : {Conf{3, 1, 3, 4, ops::Activation::tanh, true}, Conf{2, 1, 2, 5, ops::Activation::tanh, false},
                 Conf{2, 1, 1, 5, ops::Activation::tanh, false}, Conf{3, 2, 4, 3, ops::Activation::relu, true},
                 Conf{1, 1, 0, 1, ops::Activation::none, false}, Conf{3, 1, 2, 1, ops::Activation::tanh, true}}) {
    CAPTURE(c.K);
    CAPTURE(c.pad);
    const int To = c.T + c.pad - (c.K - 1) * c.dil;
    std::vector<Tensor> in = {random_tensor({2, c.T, 3}, rng), random_tensor({3, 3, c.K, 1}, rng, 0.5f),
                              random_tensor({3}, rng, 0.5f)};
    if (c.residual) in.push_back(random_tensor({2, std::min(To, c.T), 3}, rng));
    // keep relu away from its kink
    check("causal_conv", in, [c](Tape& t, auto& v) {
      return ops::causal_conv(t, v[0], v[1], v[2], c.dil, c.pad, c.act, c.residual ? v[3] : Var{});
    });
  }
}

TEST_CASE("gradcheck: lstm") {
  Rng rng(18);
  for (auto [B, T, D, H] : {std::tuple{2, 4, 3, 3}, std::tuple{1, 1, 2, 2}, std::tuple{3, 2, 2, 4}}) {
    check("lstm",
          {random_tensor({B, T, D}, rng), random_tensor({4 * H, D}, rng, 0.5f), random_tensor({4 * H, H}, rng, 0.5f),
           random_tensor({4 * H}, rng, 0.5f), random_tensor({4 * H}, rng, 0.5f)},
          [](Tape& t, auto& v) { return ops::lstm(t, v[0], v[1], v[2], v[3], v[4]); });
  }
}

TEST_CASE("ops reject bad shapes and ids with clear errors") {
  Tape t;
  Var a = t.constant(Tensor::zeros({2, 3}));
  Var b = t.constant(Tensor::zeros({3, 2}));
  CHECK_THROWS_WITH_AS(ops::add(t, a, b), doctest::Contains("add: shapes differ, (2, 3) vs (3, 2)"), Error);
  CHECK_THROWS_WITH_AS(ops::matmul(t, a, a), doctest::Contains("matmul: inner dimensions differ"), Error);
  Var table = t.constant(Tensor::zeros({5, 2}));
  CHECK_THROWS_WITH_AS(ops::embedding(t, table, Tensor::from_vector(std::vector<std::int32_t>{1, 5}, {2})),
                       doctest::Contains("item id 5 at position 1 is outside [0, 5)"), Error);
  CHECK_THROWS_AS(ops::slice(t, a, 1, 2, 2), Error);
}
