// Every op of the case list on every available backend against the CPU, in
// the manner of ggml's test-backend-ops: the same inputs copied to the
// device, forward and backward through the tape, the output and every input
// gradient compared with the CPU's. The CPU is also run with one and with
// three threads, so that its batch chunking (per-chunk scratch, partial sums
// combined in chunk order) is compared with the default split. Host runs
// surround every arena allocation with guard memory and check it after the
// forward and after the backward.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "backend/backend.hpp"
#include "backend/cuda_loader.hpp"
#include "case_runner.hpp"

using namespace limelight;
using op_cases::all_cases;
using op_cases::Case;
using op_cases::run_on_tape;
using op_cases::TapeRun;

namespace {

// Another backend, or another thread count, sums in another order. Sums here
// have at most ~100 terms, so float32 (unit roundoff 2^-24 = 6e-8) explains
// differences up to ~100 * 6e-8 = 6e-6 of the magnitudes summed, which the
// tensor's largest value bounds for these inputs: 1e-5 of (|value| + that).
constexpr double reorder_tolerance = 1e-5;

struct Comparison {
  double worst = 0.0;  // largest |a - b| / (|b| + scale)
  std::size_t values = 0;
};

// Compares one tensor of a candidate run with the reference's; exact when
// `bitwise` (the same backend and thread count must reproduce itself).
void compare(const std::string& what, const std::vector<float>& got, const std::vector<float>& want, bool bitwise,
             Comparison& summary) {
  REQUIRE_MESSAGE(got.size() == want.size(), what, ": ", got.size(), " values, the CPU has ", want.size());
  double scale = 0.0;
  for (float v : want) scale = std::max(scale, static_cast<double>(std::fabs(v)));
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double diff = std::fabs(static_cast<double>(got[i]) - want[i]);
    const double bound = std::fabs(want[i]) + scale;
    if (bound > 0.0) summary.worst = std::max(summary.worst, diff / bound);
    ++summary.values;
    if (bitwise ? got[i] != want[i] : diff > reorder_tolerance * bound)
      FAIL(what, " [", i, "]: ", got[i], " vs the CPU's ", want[i], " (difference ", diff, ")");
  }
}

void compare_runs(const Case& c, const std::string& config, const TapeRun& got, const TapeRun& want, bool bitwise,
                  Comparison& summary) {
  REQUIRE_MESSAGE(got.shape == want.shape, c.name, " on ", config, ": output ", got.shape.str(), " vs ",
                  want.shape.str());
  compare(c.name + " on " + config + ": output", got.output, want.output, bitwise, summary);
  for (std::size_t k = 0; k < got.gradients.size(); ++k)
    compare(c.name + " on " + config + ": d input " + std::to_string(k), got.gradients[k], want.gradients[k], bitwise,
            summary);
}

// Sets the CPU backend's thread count for a scope (0 restores the default).
struct CpuThreads {
  explicit CpuThreads(int n) { backend::get(Device::cpu).set_threads(n); }
  ~CpuThreads() { backend::get(Device::cpu).set_threads(0); }
};

}  // namespace

TEST_CASE("backend ops: every case on every backend matches the CPU, forward and every gradient") {
  // The CUDA backend registers itself when its library loads (where the
  // build has one and a device, or the emulator, answers).
  if (const auto& cuda = backend::cuda_backend(); !cuda.usable()) MESSAGE("no CUDA backend here: ", cuda.problem);
  const auto devices = backend::available();
  REQUIRE(!devices.empty());
  REQUIRE(devices.front() == Device::cpu);
  Comparison exact, reordered;
  std::size_t runs = 0;
  for (const Case& c : all_cases()) {
    INFO("case: ", c.name);
    const TapeRun reference = run_on_tape(c, Device::cpu);
    for (Device d : devices) {
      if (c.family == "pooled_sequence_loss" && !backend::get(d).supports(backend::Primitive::pooled_sequence_loss))
        continue;  // an optional primitive
      // The CPU against itself: the same thread count must give the same bits.
      const bool same = d == Device::cpu;
      compare_runs(c, device_name(d), run_on_tape(c, d), reference, same, same ? exact : reordered);
      ++runs;
    }
    // Under ThreadSanitizer (the GPU suite's pass) one thread only: OpenMP's
    // barriers are not instrumented, and would be reported as races.
#if defined(__SANITIZE_THREAD__)
    for (int threads : {1}) {
#else
    for (int threads : {1, 3}) {
#endif
      CpuThreads scoped(threads);
      compare_runs(c, "cpu with " + std::to_string(threads) + " threads", run_on_tape(c, Device::cpu), reference,
                   false, reordered);
      ++runs;
    }
  }
  MESSAGE(all_cases().size(), " cases, ", devices.size(), " backend(s), ", runs, " runs; ", exact.values,
          " values bitwise equal; ", reordered.values, " compared across thread counts/backends, worst ",
          reordered.worst, " of (|value| + max |value|)");
}

// A new op in ops.hpp without a case fails here.
TEST_CASE("backend ops: the case list covers every op declared in include/limelight/ops.hpp") {
  const char* source = std::getenv("LIMELIGHT_SOURCE");
  REQUIRE_MESSAGE(source != nullptr, "LIMELIGHT_SOURCE (set by tests/ops/meson.build) names the source tree");
  std::ifstream header(std::string(source) + "/include/limelight/ops.hpp");
  REQUIRE(header.good());
  std::stringstream text;
  text << header.rdbuf();
  const std::string body = text.str();
  std::set<std::string> declared;
  const std::regex declaration(R"(\nVar ([a-z_0-9]+)\()");
  for (auto it = std::sregex_iterator(body.begin(), body.end(), declaration); it != std::sregex_iterator(); ++it)
    declared.insert((*it)[1]);
  std::set<std::string> covered;
  for (const Case& c : all_cases()) covered.insert(c.family);
  CHECK(declared.size() >= 29);
  for (const std::string& op : declared) CHECK_MESSAGE(covered.count(op) == 1, "no case for ops::", op);
  MESSAGE(declared.size(), " ops declared, ", all_cases().size(), " cases");
}

TEST_CASE("guard memory catches a write past the end of an arena tensor") {
  Tape tape;
  tape.arena().set_guard_bytes(64);
  Var a = tape.constant(Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5}, {5}));
  Var y = ops::tanh(tape, a);
  Tensor after = tape.arena().tensor({3});  // a neighbour, so the overrun lands between two allocations
  after.fill(7.0f);
  CHECK_NOTHROW(tape.arena().check_guards());
  // One element past the op's output, as an off-by-one kernel would write.
  tape.value(y).f32()[5] = 0.0f;
  CHECK_THROWS_WITH_AS(tape.arena().check_guards(),
                       doctest::Contains("Arena: allocation 0 of 20 bytes was written 0 bytes past its end"), Error);
  tape.reset();  // forgets the allocation and its guard
  CHECK_NOTHROW(tape.arena().check_guards());
  // A write further out, still inside the guard, is caught too.
  Tensor t = tape.arena().tensor({6});
  t.f32()[6 + 10] = 1.0f;
  CHECK_THROWS_WITH_AS(tape.arena().check_guards(), doctest::Contains("was written 40 bytes past its end"), Error);
}
