// CPU-against-GPU parity of the elementwise, reduction, scan and
// target-scoring primitives (src/backend/cuda/elementwise.hpp) on random
// inputs, the CPU backend as the reference. Sizes straddle the float4 step
// and the block (n = 1, n not a multiple of 4 or of 256), and every input is
// also passed one float off 16-byte alignment, so that both the vectorised
// and the scalar paths run. Results the kernels compute with the CPU's
// operations in its order are held to the bit; tanh, sigmoid and softmax to
// a few ulp (a GPU's tanhf and expf are not glibc's); sums whose order
// differs (dot products, long columns cut into chunks) to the float32
// rounding bound of the sum. Skipped without a device.
#include <bit>
#include <cstring>
#include <sstream>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cuda/elementwise.hpp"
#include "gpu_test.hpp"
#include "limelight/error.hpp"

using namespace limelight;
using namespace limelight::cuda;
using gpu_test::check_close;
using gpu_test::random_floats;

namespace {

backend::Backend& cpu_ref() { return cpu::backend(); }

// Host values on the device, `offset` elements into their buffer: offset 1
// puts a float array off 16-byte alignment.
template <class T>
struct OnDevice {
  DeviceBuffer buffer;
  std::size_t offset = 0, size = 0;
  T* get() const { return buffer.as<T>() + offset; }
};

template <class T>
OnDevice<T> put(Context& ctx, const std::vector<T>& host, std::size_t offset = 0) {
  std::vector<T> padded(offset, T{});
  padded.insert(padded.end(), host.begin(), host.end());
  padded.push_back(T{});  // never an empty transfer
  return {ctx.upload(padded), offset, host.size()};
}

template <class T>
std::vector<T> take(Context& ctx, const OnDevice<T>& d) {
  const std::vector<T> all = ctx.download<T>(d.buffer, d.offset + d.size);
  return std::vector<T>(all.begin() + static_cast<std::ptrdiff_t>(d.offset), all.end());
}

// Bit-identical floats; reports the first mismatch.
void check_exact(const std::string& label, const std::vector<float>& got, const std::vector<float>& want) {
  REQUIRE_MESSAGE(got.size() == want.size(), label, ": ", got.size(), " values, expected ", want.size());
  std::size_t bad = 0, first = 0;
  for (std::size_t i = 0; i < got.size(); ++i)
    if (std::bit_cast<std::uint32_t>(got[i]) != std::bit_cast<std::uint32_t>(want[i]) && bad++ == 0) first = i;
  INFO(label, ": ", bad, " of ", got.size(), " differ; first at ", first, ": got ", got.empty() ? 0.0f : got[first],
       " want ", want.empty() ? 0.0f : want[first]);
  CHECK(bad == 0);
}

// |got - want| <= terms * 2^-23 * scale + 1e-30: the float32 rounding bound
// of a sum of `terms` terms whose absolute values sum to scale, for either
// order of the additions.
void check_sum_bound(const std::string& label, const std::vector<float>& got, const std::vector<float>& want,
                     const std::vector<float>& scale, double terms) {
  REQUIRE(got.size() == want.size());
  REQUIRE(scale.size() == want.size());
  std::size_t bad = 0, first = 0;
  for (std::size_t i = 0; i < got.size(); ++i)
    if (!(std::fabs(static_cast<double>(got[i]) - want[i]) <= terms * 0x1p-23 * scale[i] + 1e-30) && bad++ == 0)
      first = i;
  INFO(label, ": ", bad, " of ", got.size(), " beyond the rounding bound; first at ", first, ": got ",
       got.empty() ? 0.0f : got[first], " want ", want.empty() ? 0.0f : want[first]);
  CHECK(bad == 0);
}

std::vector<float> absolute(std::vector<float> v) {
  for (float& x : v) x = std::fabs(x);
  return v;
}

std::string at(const char* what, std::int64_t n, std::size_t offset) {
  return std::string(what) + " n=" + std::to_string(n) + " offset=" + std::to_string(offset);
}

// Element counts across the edges (1, below a float4, past a float4 and a
// block of them, not a multiple of 4), with an offset (1: unaligned, the
// scalar path).
struct Flat {
  std::int64_t n;
  std::size_t offset;
};
std::vector<Flat> flat_cases() { return {{1, 0}, {7, 1}, {1030, 0}}; }

}  // namespace

GPU_TEST_CASE("gpu elementwise: fill, axpy and copy_band") {
  Context ctx;
  std::mt19937 rng(11);
  for (const auto& [n, offset] : flat_cases()) {
      const auto size = static_cast<std::size_t>(n);
      auto x = random_floats(size, rng), y = random_floats(size, rng);

      auto d = put(ctx, y, offset);
      fill(ctx, d.get(), n, -2.5f);
      std::vector<float> want = y;
      cpu_ref().fill(want.data(), n, -2.5f);
      check_exact(at("fill", n, offset), take(ctx, d), want);

      for (float alpha : {1.0f, -0.37f}) {
        auto dx = put(ctx, x, offset), dy = put(ctx, y, offset);
        axpy(ctx, alpha, dx.get(), dy.get(), n);
        want = y;
        cpu_ref().axpy(alpha, x.data(), want.data(), n);
        check_exact(at("axpy", n, offset), take(ctx, dy), want);
      }
    }

  struct Band {
    std::int64_t outer, src_n, src_at, dst_n, dst_at, len, inner;
  };
  for (const Band& b : {Band{1, 1, 0, 1, 0, 1, 1}, Band{3, 5, 1, 7, 4, 3, 1}, Band{2, 6, 0, 4, 1, 3, 5},
                        Band{4, 3, 0, 9, 6, 3, 33}, Band{2, 5, 2, 5, 2, 0, 3}})
    for (bool accumulate : {false, true}) {
      auto src = random_floats(static_cast<std::size_t>(b.outer * b.src_n * b.inner), rng);
      auto dst = random_floats(static_cast<std::size_t>(b.outer * b.dst_n * b.inner), rng);
      auto ds = put(ctx, src, 1), dd = put(ctx, dst);
      copy_band(ctx, ds.get(), b.src_n, b.src_at, dd.get(), b.dst_n, b.dst_at, b.outer, b.len, b.inner, accumulate);
      std::vector<float> want = dst;
      cpu_ref().copy_band(src.data(), b.src_n, b.src_at, want.data(), b.dst_n, b.dst_at, b.outer, b.len, b.inner,
                          accumulate);
      check_exact("copy_band outer=" + std::to_string(b.outer) + " len=" + std::to_string(b.len) +
                      " inner=" + std::to_string(b.inner) + (accumulate ? " add" : " copy"),
                  take(ctx, dd), want);
    }
}

GPU_TEST_CASE("gpu elementwise: binary and binary_backward, every operation, gradients wanted or not") {
  Context ctx;
  std::mt19937 rng(12);
  for (backend::Binary op : {backend::Binary::add, backend::Binary::sub, backend::Binary::mul})
    for (const auto& [n, offset] : flat_cases()) {
        const auto size = static_cast<std::size_t>(n);
        const std::string label = at("binary op=", n, offset) + std::to_string(static_cast<int>(op));
        auto a = random_floats(size, rng), b = random_floats(size, rng), g = random_floats(size, rng);
        auto ga0 = random_floats(size, rng), gb0 = random_floats(size, rng);
        auto da = put(ctx, a, offset), db = put(ctx, b, offset), dg = put(ctx, g, offset);
        auto dout = put(ctx, std::vector<float>(size, 0.0f), offset);
        binary(ctx, op, da.get(), db.get(), dout.get(), n);
        std::vector<float> want(size);
        cpu_ref().binary(op, a.data(), b.data(), want.data(), n);
        check_exact(label, take(ctx, dout), want);

        for (int wanted = n == 7 ? 1 : 3; wanted < 4; ++wanted) {  // d_a, d_b, both
          auto dga = put(ctx, ga0, offset), dgb = put(ctx, gb0, offset);
          std::vector<float> want_a = ga0, want_b = gb0;
          binary_backward(ctx, op, dg.get(), da.get(), db.get(), wanted & 1 ? dga.get() : nullptr,
                          wanted & 2 ? dgb.get() : nullptr, n);
          cpu_ref().binary_backward(op, g.data(), a.data(), b.data(), wanted & 1 ? want_a.data() : nullptr,
                                    wanted & 2 ? want_b.data() : nullptr, n);
          check_exact(label + " d_a wanted=" + std::to_string(wanted & 1), take(ctx, dga), want_a);
          check_exact(label + " d_b wanted=" + std::to_string(wanted >> 1), take(ctx, dgb), want_b);
        }
      }
}

GPU_TEST_CASE("gpu elementwise: unary and unary_backward, every operation") {
  Context ctx;
  std::mt19937 rng(13);
  for (backend::Unary op : {backend::Unary::tanh, backend::Unary::relu, backend::Unary::sigmoid,
                            backend::Unary::scale, backend::Unary::add_scalar})
    for (const auto& [n, offset] : flat_cases()) {
        const auto size = static_cast<std::size_t>(n);
        const std::string label = at("unary op=", n, offset) + std::to_string(static_cast<int>(op));
        // tanhf and expf: a GPU's differ from glibc's by a few ulp.
        const bool transcendental = op == backend::Unary::tanh || op == backend::Unary::sigmoid;
        auto x = random_floats(size, rng, 2.0f), dy = random_floats(size, rng), dx0 = random_floats(size, rng);
        x[0] = 0.0f;  // relu's edge
        auto dxd = put(ctx, x, offset), dyd = put(ctx, std::vector<float>(size, 0.0f), offset);
        unary(ctx, op, 0.75f, dxd.get(), dyd.get(), n);
        std::vector<float> y(size);
        cpu_ref().unary(op, 0.75f, x.data(), y.data(), n);
        const std::vector<float> got_y = take(ctx, dyd);
        if (transcendental)
          check_close(label, got_y, y, 1e-6, 1e-7);
        else
          check_exact(label, got_y, y);

        // The backward from the CPU's y, so that it is checked on its own.
        auto d_y = put(ctx, y, offset), d_dy = put(ctx, dy, offset), d_dx = put(ctx, dx0, offset);
        unary_backward(ctx, op, 0.75f, d_y.get(), d_dy.get(), d_dx.get(), n);
        std::vector<float> want = dx0;
        cpu_ref().unary_backward(op, 0.75f, y.data(), dy.data(), want.data(), n);
        check_exact(label + " backward", take(ctx, d_dx), want);
      }
}

GPU_TEST_CASE("gpu elementwise: bias_add and sum_rows, short and chunked columns") {
  Context ctx;
  std::mt19937 rng(14);
  for (std::int64_t rows : std::vector<std::int64_t>{300, 5, 256, 1, 1100})
    for (std::int64_t N : {1, 33}) {
      const std::string label = "rows=" + std::to_string(rows) + " N=" + std::to_string(N);
      const auto size = static_cast<std::size_t>(rows * N);
      auto x = random_floats(size, rng), bias = random_floats(static_cast<std::size_t>(N), rng);
      auto acc = random_floats(static_cast<std::size_t>(N), rng);
      auto dx = put(ctx, x, 1), db = put(ctx, bias), dout = put(ctx, std::vector<float>(size, 0.0f));
      bias_add(ctx, dx.get(), db.get(), rows, N, dout.get());
      std::vector<float> want(size);
      cpu_ref().bias_add(x.data(), bias.data(), rows, N, want.data());
      check_exact("bias_add " + label, take(ctx, dout), want);

      auto dacc = put(ctx, acc);
      sum_rows(ctx, dx.get(), rows, N, dacc.get());
      std::vector<float> want_sum = acc, scale = absolute(acc);
      cpu_ref().sum_rows(x.data(), rows, N, want_sum.data());
      cpu_ref().sum_rows(absolute(x).data(), rows, N, scale.data());
      if (rows <= 256)  // one chunk: the CPU's order
        check_exact("sum_rows " + label, take(ctx, dacc), want_sum);
      else
        check_sum_bound("sum_rows " + label, take(ctx, dacc), want_sum, scale, 2.0 * static_cast<double>(rows));
    }
}

GPU_TEST_CASE("gpu elementwise: maximum with ties and more inputs than one pass takes, and its backward") {
  Context ctx;
  std::mt19937 rng(15);
  std::uniform_int_distribution<int> level(0, 3);  // few distinct values: many ties
  for (int count : std::vector<int>{11, 3, 1})  // 11: two passes of up to 8
    for (const Flat& flat : flat_cases()) {
      const std::int64_t n = flat.n;
      const auto size = static_cast<std::size_t>(n);
      const std::string label = "maximum count=" + std::to_string(count) + " n=" + std::to_string(n);
      std::vector<std::vector<float>> xs(static_cast<std::size_t>(count));
      std::vector<OnDevice<float>> on_device;
      std::vector<const float*> host_ptrs, device_ptrs;
      for (int k = 0; k < count; ++k) {
        auto& x = xs[static_cast<std::size_t>(k)];
        x.resize(size);
        for (float& v : x) v = static_cast<float>(level(rng)) - 1.5f;
        on_device.push_back(put(ctx, x, static_cast<std::size_t>(k % 2)));
        host_ptrs.push_back(x.data());
      }
      for (const auto& d : on_device) device_ptrs.push_back(d.get());
      auto dout = put(ctx, std::vector<float>(size, 0.0f));
      auto darg = put(ctx, std::vector<std::int32_t>(size, -7));
      maximum(ctx, device_ptrs.data(), count, n, dout.get(), darg.get());
      std::vector<float> want(size);
      std::vector<std::int32_t> want_arg(size);
      cpu_ref().maximum(host_ptrs.data(), count, n, want.data(), want_arg.data());
      check_exact(label, take(ctx, dout), want);
      CHECK_MESSAGE(take(ctx, darg) == want_arg, label, ": arg differs (ties go to the lowest index)");

      auto g = random_floats(size, rng), dx0 = random_floats(size, rng);
      auto dg = put(ctx, g);
      auto dsaved = put(ctx, want_arg);
      for (std::int32_t which : {0, count - 1}) {
        auto ddx = put(ctx, dx0, 1);
        maximum_backward(ctx, dg.get(), dsaved.get(), which, ddx.get(), n);
        std::vector<float> want_dx = dx0;
        cpu_ref().maximum_backward(g.data(), want_arg.data(), which, want_dx.data(), n);
        check_exact(label + " backward which=" + std::to_string(which), take(ctx, ddx), want_dx);
      }
    }
}

GPU_TEST_CASE("gpu elementwise: sum_all and broadcast_scalar_backward, one block and several") {
  Context ctx;
  std::mt19937 rng(16);
  std::vector<Flat> cases = flat_cases();
  cases.push_back({0, 0});
  cases.push_back({4096 * 2 + 3, 1});  // three blocks of partials
  for (const auto& [n, offset] : cases) {
      const auto size = static_cast<std::size_t>(n);
      auto x = random_floats(size, rng);
      auto dx = put(ctx, x, offset), dout = put(ctx, std::vector<float>{123.0f});
      sum_all(ctx, dx.get(), n, 0.5f, dout.get());
      float want = 123.0f, scale = 0.0f;
      cpu_ref().sum_all(x.data(), n, 0.5f, &want);
      cpu_ref().sum_all(absolute(x).data(), n, 0.5f, &scale);
      // Both add in double: only the last float rounding may differ.
      check_sum_bound(at("sum_all", n, offset), take(ctx, dout), {want}, {std::fabs(want) + scale * 1e-7f}, 1.0);

      auto g = std::vector<float>{-1.25f};
      auto dx0 = random_floats(size, rng);
      auto dg = put(ctx, g), ddx = put(ctx, dx0, offset);
      broadcast_scalar_backward(ctx, dg.get(), 0.3f, ddx.get(), n);
      std::vector<float> want_dx = dx0;
      cpu_ref().broadcast_scalar_backward(g.data(), 0.3f, want_dx.data(), n);
      check_exact(at("broadcast_scalar_backward", n, offset), take(ctx, ddx), want_dx);
    }
}

GPU_TEST_CASE("gpu elementwise: masked_mean returns sum(mask) and leaves out alone when it is 0") {
  Context ctx;
  std::mt19937 rng(17);
  std::bernoulli_distribution keep(0.6);
  std::vector<Flat> cases = flat_cases();
  cases.push_back({4096 + 9, 1});  // two blocks of partials
  for (const auto& [n, offset] : cases)
    for (int masking = 0; masking < 3; ++masking) {  // mixed 0/1/0.5, all masked out, none masked
      if (masking > 0 && n > 7) continue;
        const auto size = static_cast<std::size_t>(n);
        const std::string label = at("masked_mean", n, offset) + " masking=" + std::to_string(masking);
        auto x = random_floats(size, rng);
        std::vector<float> mask(size, masking == 2 ? 1.0f : 0.0f);
        if (masking == 0)
          for (std::size_t i = 0; i < size; ++i) mask[i] = keep(rng) ? (i % 3 == 0 ? 0.5f : 1.0f) : 0.0f;
        auto dx = put(ctx, x, offset), dm = put(ctx, mask, offset), dout = put(ctx, std::vector<float>{42.0f});
        const double den = masked_mean(ctx, dx.get(), dm.get(), n, dout.get());
        float want = 42.0f;
        const double want_den = cpu_ref().masked_mean(x.data(), mask.data(), n, &want);
        CHECK_MESSAGE(den == want_den, label, ": sum(mask) ", den, " want ", want_den);
        const std::vector<float> got = take(ctx, dout);
        if (want_den <= 0.0) {
          check_exact(label + " (out untouched)", got, {42.0f});
        } else {
          double scale = 0.0;  // sum |x mask| / sum(mask)
          for (std::size_t i = 0; i < size; ++i) scale += std::fabs(x[i]) * mask[i];
          check_sum_bound(label, got, {want}, {static_cast<float>(std::fabs(want) + 1e-7 * scale / want_den)}, 1.0);
        }

        if (want_den > 0.0) {
          auto dx0 = random_floats(size, rng);
          auto dg = put(ctx, std::vector<float>{0.8f}), ddx = put(ctx, dx0, offset);
          const float inv = static_cast<float>(1.0 / want_den);
          masked_mean_backward(ctx, dg.get(), inv, dm.get(), ddx.get(), n);
          std::vector<float> want_dx = dx0;
          const float g = 0.8f;
          cpu_ref().masked_mean_backward(&g, inv, mask.data(), want_dx.data(), n);
          check_exact(label + " backward", take(ctx, ddx), want_dx);
        }
      }
}

namespace {
struct Dims {
  std::int64_t outer, n, inner;
  std::string str() const {
    std::ostringstream out;
    out << "(" << outer << ", " << n << ", " << inner << ")";
    return out.str();
  }
  std::size_t size() const { return static_cast<std::size_t>(outer * n * inner); }
};

std::vector<Dims> dim_shapes() {
  return std::vector<Dims>{{1, 1, 1}, {3, 4, 5}, {5, 3, 1}, {1, 7, 40}, {2, 1, 33}, {2, 45, 3}};
}
}  // namespace

GPU_TEST_CASE("gpu elementwise: sum_dim and its backward, short and chunked columns") {
  Context ctx;
  std::mt19937 rng(18);
  std::vector<Dims> shapes = dim_shapes();
  shapes.push_back({2, 300, 3});  // two chunks per column
  shapes.push_back({1, 0, 4});    // nothing to add: zeros
  shapes.push_back({3, 700, 1});
  for (const Dims& s : shapes) {
    auto x = random_floats(s.size(), rng);
    const auto out_size = static_cast<std::size_t>(s.outer * s.inner);
    auto dx = put(ctx, x, 1), dout = put(ctx, random_floats(out_size, rng));
    sum_dim(ctx, dx.get(), s.outer, s.n, s.inner, dout.get());
    std::vector<float> want(out_size), scale(out_size);
    cpu_ref().sum_dim(x.data(), s.outer, s.n, s.inner, want.data());
    cpu_ref().sum_dim(absolute(x).data(), s.outer, s.n, s.inner, scale.data());
    if (s.n <= 256)
      check_exact("sum_dim " + s.str(), take(ctx, dout), want);
    else
      check_sum_bound("sum_dim " + s.str(), take(ctx, dout), want, scale, 2.0 * static_cast<double>(s.n));

    auto g = random_floats(out_size, rng), dx0 = random_floats(s.size(), rng);
    auto dg = put(ctx, g), ddx = put(ctx, dx0);
    sum_dim_backward(ctx, dg.get(), s.outer, s.n, s.inner, ddx.get());
    std::vector<float> want_dx = dx0;
    cpu_ref().sum_dim_backward(g.data(), s.outer, s.n, s.inner, want_dx.data());
    check_exact("sum_dim_backward " + s.str(), take(ctx, ddx), want_dx);
  }
}

GPU_TEST_CASE("gpu elementwise: cumsum and its backward") {
  Context ctx;
  std::mt19937 rng(19);
  for (const Dims& s : dim_shapes()) {
    auto x = random_floats(s.size(), rng);
    auto dx = put(ctx, x), dout = put(ctx, std::vector<float>(s.size(), 0.0f));
    cumsum(ctx, dx.get(), s.outer, s.n, s.inner, dout.get());
    std::vector<float> want(s.size());
    cpu_ref().cumsum(x.data(), s.outer, s.n, s.inner, want.data());
    check_exact("cumsum " + s.str(), take(ctx, dout), want);

    auto g = random_floats(s.size(), rng), dx0 = random_floats(s.size(), rng);
    auto dg = put(ctx, g), ddx = put(ctx, dx0, 1);
    cumsum_backward(ctx, dg.get(), s.outer, s.n, s.inner, ddx.get());
    std::vector<float> want_dx = dx0;
    cpu_ref().cumsum_backward(g.data(), s.outer, s.n, s.inner, want_dx.data());
    check_exact("cumsum_backward " + s.str(), take(ctx, ddx), want_dx);
  }
}

GPU_TEST_CASE("gpu elementwise: softmax and its backward, large logits included") {
  Context ctx;
  std::mt19937 rng(20);
  for (const Dims& s : dim_shapes())
    for (float spread : std::vector<float>{40.0f, 1.0f}) {
      const std::string label = s.str() + " spread=" + std::to_string(spread);
      auto x = random_floats(s.size(), rng, spread);
      x[0] = 80.0f;  // exp(80) overflows float without the max subtracted
      auto dx = put(ctx, x), dy = put(ctx, std::vector<float>(s.size(), 0.0f));
      softmax(ctx, dx.get(), s.outer, s.n, s.inner, dy.get());
      std::vector<float> y(s.size());
      cpu_ref().softmax(x.data(), s.outer, s.n, s.inner, y.data());
      // expf: a few ulp from glibc's on a GPU, through the sum and the division.
      check_close("softmax " + label, take(ctx, dy), y, 1e-6 * static_cast<double>(s.n + 2), 1e-30);

      auto g = random_floats(s.size(), rng), dx0 = random_floats(s.size(), rng);
      auto d_y = put(ctx, y), dg = put(ctx, g), ddx = put(ctx, dx0, 1);
      softmax_backward(ctx, d_y.get(), dg.get(), s.outer, s.n, s.inner, ddx.get());
      std::vector<float> want_dx = dx0;
      cpu_ref().softmax_backward(y.data(), g.data(), s.outer, s.n, s.inner, want_dx.data());
      check_exact("softmax_backward " + label, take(ctx, ddx), want_dx);
    }
}

GPU_TEST_CASE("gpu elementwise: find_bad_id finds the first id outside the table") {
  Context ctx;
  std::mt19937 rng(21);
  const std::int32_t V = 50;
  CHECK(find_bad_id(ctx, nullptr, 0, V) == -1);
  for (std::int64_t n : std::vector<std::int64_t>{9, 1, 700}) {
    const auto size = static_cast<std::size_t>(n);
    std::vector<std::vector<std::int32_t>> cases;
    auto clean = gpu_test::random_ids(size, V, rng);
    clean[0] = 0;
    clean[size - 1] = V - 1;  // both ends of the table are valid
    cases.push_back(clean);
    for (std::int32_t bad : std::vector<std::int32_t>{V, -1, 1 << 30}) {
      auto first = clean;
      first[0] = bad;
      cases.push_back(first);
      auto last = clean;
      last[size - 1] = bad;
      cases.push_back(last);
      if (n > 4) {  // several bad ids: the lowest index counts
        auto several = clean;
        several[size - 1] = bad;
        several[size / 2] = -bad;
        several[size / 3] = bad;
        cases.push_back(several);
      }
    }
    for (const auto& ids : cases) {
      auto d = put(ctx, ids, 1);
      const std::int64_t want = cpu_ref().find_bad_id(ids.data(), n, V);
      CHECK_MESSAGE(find_bad_id(ctx, d.get(), n, V) == want, "n=", n, " want ", want);
    }
  }
}

GPU_TEST_CASE("gpu elementwise: score_rows and score_rows_backward, with and without bias") {
  Context ctx;
  std::mt19937 rng(22);
  const std::int32_t V = 31;
  for (std::int64_t D : std::vector<std::int64_t>{37, 1, 16})
    for (std::int64_t n : std::vector<std::int64_t>{45, 1})
      for (bool with_bias : {false, true}) {
        const std::string label =
            "score_rows D=" + std::to_string(D) + " n=" + std::to_string(n) + (with_bias ? " bias" : "");
        const auto rows = static_cast<std::size_t>(n), width = static_cast<std::size_t>(D);
        auto rep = random_floats(rows * width, rng), table = random_floats(static_cast<std::size_t>(V) * width, rng);
        auto bias = random_floats(static_cast<std::size_t>(V), rng);
        auto ids = gpu_test::random_ids(rows, V, rng);
        ids[0] = 0;
        auto drep = put(ctx, rep), dtab = put(ctx, table, 1), dbias = put(ctx, bias);
        auto dids = put(ctx, ids);
        auto dout = put(ctx, std::vector<float>(rows, 0.0f));
        score_rows(ctx, drep.get(), dtab.get(), with_bias ? dbias.get() : nullptr, D, dids.get(), n, dout.get());
        std::vector<float> want(rows), scale(rows);
        cpu_ref().score_rows(rep.data(), table.data(), with_bias ? bias.data() : nullptr, D, ids.data(), n,
                             want.data());
        cpu_ref().score_rows(absolute(rep).data(), absolute(table).data(), with_bias ? absolute(bias).data() : nullptr,
                             D, ids.data(), n, scale.data());
        check_sum_bound(label, take(ctx, dout), want, scale, 2.0 * static_cast<double>(D + 1));

        if (with_bias) continue;  // the backward does not read the bias
        auto g = random_floats(rows, rng), drep0 = random_floats(rows * width, rng);
        auto dg = put(ctx, g);
        for (int wanted = 1; wanted < 4; ++wanted) {  // d_rep, d_entries, both
          auto dd_rep = put(ctx, drep0, 1), dd_entries = put(ctx, std::vector<float>(rows * width, 0.0f));
          score_rows_backward(ctx, dg.get(), drep.get(), dtab.get(), D, dids.get(), n,
                              wanted & 1 ? dd_rep.get() : nullptr, wanted & 2 ? dd_entries.get() : nullptr);
          std::vector<float> want_rep = drep0, want_entries(rows * width, 0.0f);
          cpu_ref().score_rows_backward(g.data(), rep.data(), table.data(), D, ids.data(), n,
                                        wanted & 1 ? want_rep.data() : nullptr,
                                        wanted & 2 ? want_entries.data() : nullptr);
          check_exact(label + " d_rep wanted=" + std::to_string(wanted & 1), take(ctx, dd_rep), want_rep);
          check_exact(label + " d_entries wanted=" + std::to_string(wanted >> 1), take(ctx, dd_entries),
                      want_entries);
        }
      }
}

GPU_TEST_CASE("gpu elementwise: bad arguments are errors naming the primitive") {
  Context ctx;
  auto buf = put(ctx, std::vector<float>(16, 1.0f));
  float* p = buf.get();
  const float* inputs[1] = {p};
  std::int32_t* no_arg = nullptr;
  CHECK_THROWS_WITH_AS(fill(ctx, p, -1, 0.0f), doctest::Contains("cuda::fill: negative size"), Error);
  CHECK_THROWS_WITH_AS(axpy(ctx, 1.0f, nullptr, p, 4), doctest::Contains("cuda::axpy: x is null"), Error);
  CHECK_THROWS_WITH_AS(copy_band(ctx, p, 4, 2, p + 8, 4, 0, 1, 3, 1, false),
                       doctest::Contains("cuda::copy_band: a band of 3 at 2 of 4"), Error);
  CHECK_THROWS_WITH_AS(binary(ctx, static_cast<backend::Binary>(9), p, p, p, 4),
                       doctest::Contains("cuda::binary: unknown binary operation 9"), Error);
  CHECK_THROWS_WITH_AS(maximum(ctx, inputs, 0, 4, p, no_arg),
                       doctest::Contains("cuda::maximum: needs at least one input"), Error);
  CHECK_THROWS_WITH_AS(maximum(ctx, inputs, 1, 4, p, no_arg), doctest::Contains("cuda::maximum: arg is null"), Error);
  CHECK_THROWS_WITH_AS(sum_dim(ctx, p, 1LL << 40, 1LL << 40, 1, p), doctest::Contains("sizes overflow int64"), Error);
  CHECK_THROWS_WITH_AS(find_bad_id(ctx, nullptr, 3, 10), doctest::Contains("cuda::find_bad_id: ids is null"), Error);
  // Nothing to do: no error, nothing touched.
  binary_backward(ctx, backend::Binary::mul, nullptr, nullptr, nullptr, nullptr, nullptr, 8);
  score_rows_backward(ctx, nullptr, nullptr, nullptr, 4, nullptr, 3, nullptr, nullptr);
  check_exact("untouched", take(ctx, buf), std::vector<float>(16, 1.0f));
}
