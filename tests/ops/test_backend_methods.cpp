// The Backend methods no op calls (the optimizer steps, whole-catalogue
// scoring and top-k) on every available backend against the CPU, as the op
// case list does for the rest, and the coverage check of the interface: every
// method of src/backend/backend.hpp is called by an op (whose case is in the
// list, test_backend_ops.cpp) or has a case here.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "backend/backend.hpp"
#include "backend/cuda_loader.hpp"
#include "limelight/ops.hpp"
#include "limelight/tape.hpp"

using namespace limelight;
using backend::ScoredItem;

namespace {

// The methods with a case below.
const std::set<std::string>& method_cases() {
  static const std::set<std::string> names = {"adam_dense", "adam_lazy", "score_catalogue", "top_k_catalogue",
                                              "top_k"};
  return names;
}

std::vector<Device> devices() {
  (void)backend::cuda_backend();  // registers the CUDA backend where there is one
  return backend::available();
}

// Small integers (as floats): dot products of a few of them are exact in
// float32 on any backend, so rankings compare exactly, ties included.
std::vector<float> small_integers(std::size_t n, std::mt19937& rng) {
  std::uniform_int_distribution<int> d(-4, 4);
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(d(rng));
  return v;
}

std::vector<float> normals(std::size_t n, std::mt19937& rng) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

Tensor on(Device d, const std::vector<float>& v) { return Tensor::from_vector(v, Shape{static_cast<std::int64_t>(v.size())}).to(d); }

// |got - want| <= 1e-5 (|want| + 1e-3): float32 rounding of a few operations
// in another order.
void check_close(const std::string& what, const std::vector<float>& got, const std::vector<float>& want) {
  REQUIRE_MESSAGE(got.size() == want.size(), what, ": ", got.size(), " values, the CPU has ", want.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    if (!(std::fabs(got[i] - want[i]) <= 1e-5 * (std::fabs(want[i]) + 1e-3)))
      FAIL(what, " [", i, "]: ", got[i], " vs the CPU's ", want[i]);
}

// A device buffer of `count` T, as a tensor of floats, and its host copy.
template <class T>
Tensor buffer_of(Device d, std::size_t count) {  // T's size a multiple of a float's
  static_assert(sizeof(T) % sizeof(float) == 0);
  return Tensor::zeros(Shape{static_cast<std::int64_t>(count * sizeof(T) / sizeof(float))}, DType::f32, d);
}
template <class T>
std::vector<T> host_items(const Tensor& t, std::size_t count) {
  const Tensor h = t.to(Device::cpu);
  std::vector<T> out(count);
  std::memcpy(out.data(), h.raw(), count * sizeof(T));
  return out;
}

// One Adam step of each kind on device d: the table, and both moments.
struct AdamRun {
  std::vector<float> w, m, v;
};

AdamRun adam_dense_on(Device d, const std::vector<float>& w0, const std::vector<float>& g,
                      const std::vector<float>& m0, const std::vector<float>& v0, const backend::AdamStep& c) {
  const Tensor w = on(d, w0), grad = on(d, g), m = on(d, m0), v = on(d, v0);
  backend::get(d).adam_dense(c, w.f32(), grad.f32(), m.f32(), v.f32(), w.numel());
  return {w.to_vector(), m.to_vector(), v.to_vector()};
}

// The row-sparse gradient of a (V, D) table as the embedding backward fills
// it on d (host rows on the CPU, device entries on a GPU), then adam_lazy.
AdamRun adam_lazy_on(Device d, const std::vector<float>& w0, const std::vector<float>& m0,
                     const std::vector<float>& v0, std::int64_t V, std::int64_t D, const std::vector<std::int32_t>& ids,
                     const backend::AdamStep& c) {
  Parameter table("table", Tensor::from_vector(w0, Shape{V, D}).to(d), true);
  Tape t(true, d);
  const Tensor id_tensor = Tensor::from_vector(ids, Shape{static_cast<std::int64_t>(ids.size())}).to(d);
  t.backward(ops::sum(t, ops::embedding(t, t.parameter(table), id_tensor)));
  const Tensor m = on(d, m0), v = on(d, v0);
  backend::get(d).adam_lazy(c, table.value.f32(), m.f32(), v.f32(), D, table.sparse_grad);
  return {table.value.to_vector(), m.to_vector(), v.to_vector()};
}

}  // namespace

TEST_CASE("backend methods: dense and lazy Adam steps on every backend match the CPU") {
  std::mt19937 rng(21);
  const auto c = backend::AdamStep::make(0.01, 0.9, 0.999, 1e-8, 1e-3, 3);
  const std::int64_t V = 9, D = 5;
  const auto w = normals(V * D, rng), g = normals(V * D, rng), m = normals(V * D, rng);
  std::vector<float> v = normals(V * D, rng);
  for (float& x : v) x = x * x;  // a second moment is not negative
  const std::vector<std::int32_t> ids = {3, 0, 7, 3, 1, 8, 3};  // a repeated row, padding
  const AdamRun dense_cpu = adam_dense_on(Device::cpu, w, g, m, v, c);
  const AdamRun lazy_cpu = adam_lazy_on(Device::cpu, w, m, v, V, D, ids, c);
  for (Device d : devices()) {
    CAPTURE(device_name(d));
    const AdamRun dense = adam_dense_on(d, w, g, m, v, c), lazy = adam_lazy_on(d, w, m, v, V, D, ids, c);
    check_close("adam_dense w", dense.w, dense_cpu.w);
    check_close("adam_dense m", dense.m, dense_cpu.m);
    check_close("adam_dense v", dense.v, dense_cpu.v);
    check_close("adam_lazy w", lazy.w, lazy_cpu.w);
    check_close("adam_lazy m", lazy.m, lazy_cpu.m);
    check_close("adam_lazy v", lazy.v, lazy_cpu.v);
  }
  // The rows no id touched keep their values and moments.
  for (std::int64_t r : {2, 4, 5, 6})
    for (std::int64_t k = 0; k < D; ++k) CHECK(lazy_cpu.w[r * D + k] == w[r * D + k]);
}

TEST_CASE("backend methods: catalogue scores and top k, dot and mixture heads, on every backend match the CPU") {
  std::mt19937 rng(22);
  const std::int64_t rows = 3, V = 40, D = 4;
  const int k = 6;
  const auto table = small_integers(V * D, rng), bias = small_integers(V, rng);
  std::vector<unsigned char> excluded(V, 0);
  for (std::int64_t i : {2, 9, 17}) excluded[static_cast<std::size_t>(i)] = 1;
  for (const std::int64_t M : {std::int64_t{0}, std::int64_t{2}}) {
    const std::int64_t W = M > 0 ? 2 * M * D : D;
    const auto states = small_integers(rows * W, rng);
    auto run = [&](Device d, std::vector<float>& scores, std::vector<ScoredItem>& best, std::vector<std::size_t>& n,
                   std::vector<ScoredItem>& one, std::size_t& one_n) {
      backend::Backend& be = backend::get(d);
      Arena scratch(d);
      const Tensor s = on(d, states), e = on(d, table), b = on(d, bias);
      // The flags as bytes in the device's memory (carried in a float tensor).
      std::vector<float> packed(static_cast<std::size_t>((V + 3) / 4), 0.0f);
      std::memcpy(packed.data(), excluded.data(), excluded.size());
      const Tensor flags = on(d, packed);
      const auto* flag_bytes = static_cast<const unsigned char*>(flags.raw());
      Tensor all = Tensor::zeros(Shape{rows * V}, DType::f32, d);
      be.score_catalogue(s.f32(), rows, e.f32(), b.f32(), V, D, M, all.f32(), scratch);
      scores = all.to_vector();
      Tensor out = buffer_of<ScoredItem>(d, static_cast<std::size_t>(rows * k));
      Tensor counts = buffer_of<std::size_t>(d, static_cast<std::size_t>(rows));
      be.top_k_catalogue(s.f32(), rows, e.f32(), b.f32(), V, D, M, flag_bytes, k, static_cast<ScoredItem*>(out.raw()),
                         static_cast<std::size_t*>(counts.raw()), scratch);
      best = host_items<ScoredItem>(out, static_cast<std::size_t>(rows * k));
      n = host_items<std::size_t>(counts, static_cast<std::size_t>(rows));
      Tensor single = buffer_of<ScoredItem>(d, static_cast<std::size_t>(k));
      one_n = be.top_k(all.f32() + V, V, flag_bytes, k, static_cast<ScoredItem*>(single.raw()));
      one = host_items<ScoredItem>(single, static_cast<std::size_t>(k));
    };
    std::vector<float> want_scores;
    std::vector<ScoredItem> want_best, want_one;
    std::vector<std::size_t> want_n;
    std::size_t want_one_n = 0;
    run(Device::cpu, want_scores, want_best, want_n, want_one, want_one_n);
    REQUIRE(want_one_n == static_cast<std::size_t>(k));
    for (Device d : devices()) {
      CAPTURE(device_name(d));
      CAPTURE(M);
      std::vector<float> scores;
      std::vector<ScoredItem> best, one;
      std::vector<std::size_t> n;
      std::size_t one_n = 0;
      run(d, scores, best, n, one, one_n);
      check_close("score_catalogue", scores, want_scores);
      CHECK(n == want_n);
      CHECK(one_n == want_one_n);
      for (std::size_t i = 0; i < best.size(); ++i) {
        CHECK_MESSAGE(best[i].item == want_best[i].item, "top_k_catalogue rank ", i);
        CHECK(best[i].score == want_best[i].score);
        CHECK(excluded[static_cast<std::size_t>(best[i].item)] == 0);
      }
      for (std::size_t i = 0; i < one_n; ++i) CHECK_MESSAGE(one[i].item == want_one[i].item, "top_k rank ", i);
    }
  }
}

// A new method of the Backend interface needs an op that calls it (and so
// a case in the op list, whose own check covers every op) or a case here.
TEST_CASE("backend methods: every method of the Backend interface is reached by an op's case or has its own") {
  const char* source = std::getenv("LIMELIGHT_SOURCE");
  REQUIRE_MESSAGE(source != nullptr, "LIMELIGHT_SOURCE is not set (tests/meson.build sets it)");
  auto read = [&](const std::string& path) {
    std::ifstream in(std::string(source) + "/" + path);
    REQUIRE_MESSAGE(in.good(), "cannot read ", path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  const std::string interface = read("src/backend/backend.hpp");
  std::string ops_code;
  for (const char* f : {"common.hpp", "conv.cpp", "elementwise.cpp", "embedding.cpp", "linear.cpp", "loss.cpp",
                        "reduce.cpp", "sequence.cpp", "shape.cpp"})
    ops_code += read(std::string("src/ops/") + f);
  // What a backend is rather than what it computes.
  const std::set<std::string> not_primitives = {"device", "name", "supports", "set_threads"};
  const std::regex method(R"(virtual\s+[\w:<>,\s\*&]+?[\s\*&](\w+)\()");
  std::vector<std::string> missing;
  std::size_t methods = 0;
  for (std::sregex_iterator it(interface.begin(), interface.end(), method), end; it != end; ++it) {
    const std::string name = (*it)[1];
    if (name == "Backend" || not_primitives.count(name)) continue;
    ++methods;
    const bool called_by_op = ops_code.find("." + name + "(") != std::string::npos ||
                              ops_code.find("Backend::" + name + ",") != std::string::npos;
    if (!called_by_op && !method_cases().count(name)) missing.push_back(name);
  }
  std::string list;
  for (const auto& m : missing) list += " " + m;
  CHECK_MESSAGE(missing.empty(), "Backend methods with no op calling them and no case here:", list);
  CHECK(methods > 40);  // the parse found the interface
  MESSAGE(methods, " Backend methods: ", methods - method_cases().size(), " reached through the ops' cases, ",
          method_cases().size(), " with cases here");
}
