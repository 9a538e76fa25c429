// Whole models on device 'cuda' against the same models on the CPU: two
// training steps (Adam) of every representation with every loss, dense and
// row-sparse, from the same initial weights on the same batch and
// negatives; then predict and recommend; and the `limelight` command's fit
// and recommend with --device cuda against --device cpu. The CPU is the
// reference; differences are float32 rounding (warp-order sums, expf).
// Sizes are tiny: the emulator runs one OS thread per CUDA thread.
#include <cmath>
#include <cstdlib>
#include <functional>
#include <future>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "../cli/cli_helpers.hpp"
#include "gpu_test.hpp"
#include "limelight/model.hpp"
#include "limelight/model_file.hpp"
#include "limelight/tensor.hpp"
#include "limelight_config.h"

using namespace limelight;
using gpu_test::check_close;

namespace {

constexpr std::int32_t num_items = 23;
constexpr std::int64_t batch_rows = 3, length = 6;

ModelConfig step_config(const std::string& rep, const std::string& loss, bool sparse, const std::string& device) {
  ModelConfig c;
  c.representation = parse_representation(rep);
  c.loss = loss;
  c.sparse = sparse;
  c.device = device;
  c.embedding_dim = 8;
  c.num_mixtures = 2;
  c.num_negative_samples = 3;
  c.learning_rate = 0.01;
  c.l2 = 1e-3;  // weight decay exercised too
  c.cnn.num_layers = 2;
  c.cnn.kernel_width = {3};
  c.cnn.dilation = {1, 2};
  c.seed = 7;
  return c;
}

// Left-padded sequences (B, L) with a repeated item, and negatives ((N,) B, L).
struct Batch {
  Tensor sequences, negatives;
};

Batch make_batch(const ModelConfig& c, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::int32_t> item(1, num_items - 1), any(0, num_items - 1);
  std::vector<std::int32_t> seq(static_cast<std::size_t>(batch_rows * length));
  for (std::int64_t b = 0; b < batch_rows; ++b)
    for (std::int64_t l = 0; l < length; ++l)
      seq[static_cast<std::size_t>(b * length + l)] = l < b ? 0 : item(rng);  // row b: b padding steps
  seq[5] = seq[4];  // an item twice in one row: its gradient rows add up
  const std::int64_t n = c.loss == "adaptive_hinge" ? c.num_negative_samples : 1;
  std::vector<std::int32_t> neg(static_cast<std::size_t>(n * batch_rows * length));
  for (auto& id : neg) id = any(rng);
  Batch out;
  out.sequences = Tensor::from_vector(seq, Shape{batch_rows, length});
  out.negatives = n > 1 ? Tensor::from_vector(neg, Shape{n, batch_rows, length})
                        : Tensor::from_vector(neg, Shape{batch_rows, length});
  return out;
}

// Two train_steps of the same batches (seeded from `seed`) on a CPU and a
// device model: the losses and then every parameter agree.
void two_steps_agree(ImplicitSequenceModel& cpu, ImplicitSequenceModel& gpu, const std::string& label,
                     std::uint32_t seed) {
  for (int step = 0; step < 2; ++step) {
    const Batch batch = make_batch(cpu.config(), seed + static_cast<std::uint32_t>(step));
    const double want = cpu.train_step(batch.sequences, batch.negatives);
    const double got = gpu.train_step(batch.sequences, batch.negatives);
    check_close(label + " loss of step " + std::to_string(step + 1), {static_cast<float>(got)},
                {static_cast<float>(want)}, 2e-5, 1e-6);
  }
  const auto c = std::as_const(cpu).parameters(), g = std::as_const(gpu).parameters();
  REQUIRE(c.size() == g.size());
  for (std::size_t i = 0; i < c.size(); ++i)
    check_close(label + " " + c[i]->name + " after 2 steps", g[i]->value.to_vector(), c[i]->value.to_vector(), 1e-4,
                2e-6);
}

// Two Adam steps on each device; the losses and every parameter agree.
void check_steps(const std::string& rep, const std::string& loss, bool sparse) {
  ImplicitSequenceModel cpu(step_config(rep, loss, sparse, "cpu"));
  ImplicitSequenceModel gpu(step_config(rep, loss, sparse, "cuda"));
  cpu.initialize(num_items);
  gpu.initialize(num_items);
  const std::string label = rep + " " + loss + (sparse ? " sparse" : " dense");
  for (const Parameter* p : std::as_const(gpu).parameters()) REQUIRE(p->value.device() == Device::cuda);
  // The same initial values: built on the host from the seed, then moved.
  {
    const auto c = std::as_const(cpu).parameters(), g = std::as_const(gpu).parameters();
    REQUIRE(c.size() == g.size());
    for (std::size_t i = 0; i < c.size(); ++i)
      CHECK_MESSAGE(g[i]->value.to_vector() == c[i]->value.to_vector(), label, ": initial ", c[i]->name);
  }
  two_steps_agree(cpu, gpu, label, 100u);
}

#define STEP_CASE(rep, loss, sparse) \
  GPU_TEST_CASE("gpu steps: " rep ", " loss ", " #sparse) { check_steps(rep, loss, sparse); }
#define STEP_CASES(rep)                                                                          \
  STEP_CASE(rep, "pointwise", false) STEP_CASE(rep, "pointwise", true) STEP_CASE(rep, "bpr", false) \
  STEP_CASE(rep, "bpr", true) STEP_CASE(rep, "hinge", false) STEP_CASE(rep, "hinge", true)         \
  STEP_CASE(rep, "adaptive_hinge", false) STEP_CASE(rep, "adaptive_hinge", true)

// Bloom embeddings on each device: the same compressed table, two steps
// (the losses and every parameter, as check_steps compares them), then the
// scores of the summed rows the model serves from.
void check_bloom_steps(const std::string& rep, bool sparse) {
  ModelConfig cpu_config = step_config(rep, "bpr", sparse, "cpu");
  cpu_config.bloom.compression_ratio = 0.5;
  cpu_config.bloom.num_hash_functions = 3;
  ModelConfig gpu_config = cpu_config;
  gpu_config.device = "cuda";
  ImplicitSequenceModel cpu(cpu_config), gpu(gpu_config);
  cpu.initialize(num_items);
  gpu.initialize(num_items);
  const std::string label = "bloom " + rep + (sparse ? " sparse" : " dense");
  two_steps_agree(cpu, gpu, label, 400u);
  const std::vector<std::int32_t> seq = {0, 3, 9, 5, 17};
  check_close(label + " predict", gpu.predict(seq), cpu.predict(seq), 1e-4, 2e-6);
  const auto want = cpu.recommend(seq, 5, true), got = gpu.recommend(seq, 5, true);
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) CHECK_MESSAGE(got[i].item == want[i].item, label, " recommend ", i);
}

GPU_TEST_CASE("gpu steps: Bloom embeddings, dense and sparse, train and serve as on the CPU") {
  for (const char* rep : {"pooling", "lstm"})
    for (bool sparse : {false, true}) check_bloom_steps(rep, sparse);
}

// "sparse" in the case names: true for row-sparse gradients and lazy Adam.
STEP_CASES("pooling")
STEP_CASES("mixture")
STEP_CASES("cnn")
STEP_CASES("lstm")

#if LIMELIGHT_CUDA_EMULATED
// What the emulator counts of a step on the host's side: the waits for the
// device, which stall the queue of work behind them on a GPU, and the
// kernels queued. A step reads its loss back (one wait) and publishes its
// parameters before it returns (one more).
void check_step_synchronisations(const std::string& rep, const std::string& loss, bool sparse) {
  ImplicitSequenceModel gpu(step_config(rep, loss, sparse, "cuda"));
  gpu.initialize(num_items);
  const Batch batch = make_batch(gpu.config(), 100u);
  gpu.train_step(batch.sequences, batch.negatives);  // the allocator's first blocks
  const cuda_emulator::HostCounts before = cuda_emulator::host_counts();
  gpu.train_step(batch.sequences, batch.negatives);
  const cuda_emulator::HostCounts after = cuda_emulator::host_counts();
  const std::uint64_t waits = after.synchronisations - before.synchronisations;
  MESSAGE(rep, " ", loss, std::string(sparse ? " sparse" : " dense"), ": ", waits, " host synchronisations, ",
          after.launches - before.launches, " kernels in one step");
  CHECK(waits <= 2);
}

// bpr for every representation, dense and sparse; adaptive hinge (more
// negatives, the same waits) for one.
GPU_TEST_CASE("gpu steps: a training step waits on the host at most twice, for every representation") {
  for (const char* rep : {"pooling", "mixture", "cnn", "lstm"})
    for (bool sparse : {false, true}) check_step_synchronisations(rep, "bpr", sparse);
  check_step_synchronisations("lstm", "adaptive_hinge", true);
}
#endif

// A trained model on both devices: the same weights (one CPU fit, loaded
// onto each device through a model file) then serving.
void check_serving(const std::string& rep) {
  ModelConfig config = step_config(rep, "bpr", false, "cpu");
  ImplicitSequenceModel trained(config);
  trained.initialize(num_items);
  for (int step = 0; step < 3; ++step) {
    const Batch batch = make_batch(config, 200u + static_cast<std::uint32_t>(step));
    trained.train_step(batch.sequences, batch.negatives);
  }
  const std::string bytes = serialize_model(trained);
  LoadedModel cpu = load_model_from_bytes(bytes, "cpu.safetensors", "cpu");
  LoadedModel gpu = load_model_from_bytes(bytes, "gpu.safetensors", "cuda");
  for (const Parameter* p : std::as_const(gpu.model).parameters()) REQUIRE(p->value.device() == Device::cuda);
  // The file written from the device model is the file it was loaded from.
  CHECK(serialize_model(gpu.model) == serialize_model(cpu.model));
  const std::vector<std::vector<std::int32_t>> sequences = {{3}, {0, 0, 5, 9, 5}, {1, 2, 3, 4, 5, 6, 7, 8}};
  for (const auto& seq : sequences) {
    const std::string label = rep + " sequence of " + std::to_string(seq.size());
    check_close(label + " predict", gpu.model.predict(seq), cpu.model.predict(seq), 1e-5, 1e-6);
    const std::vector<std::int32_t> some = {4, 1, 22, 4};
    check_close(label + " predict items", gpu.model.predict(seq, some), cpu.model.predict(seq, some), 1e-5, 1e-6);
    for (bool exclude : {false, true}) {
      const auto want = cpu.model.recommend(seq, 5, exclude), got = gpu.model.recommend(seq, 5, exclude);
      REQUIRE(got.size() == want.size());
      for (std::size_t i = 0; i < want.size(); ++i) {
        CHECK_MESSAGE(got[i].item == want[i].item, label, " recommend rank ", i, " exclude_seen ", exclude);
        CHECK(got[i].score == doctest::Approx(want[i].score).epsilon(1e-5));
      }
    }
  }
  // Batches of rows: scores of every item, and each row's best items.
  const std::vector<std::int32_t> rows = {0, 3, 4, 5, 1, 7, 7, 2, 9, 11, 13, 17};
  std::vector<float> want(static_cast<std::size_t>(3 * num_items)), got(want.size());
  cpu.model.score_batch(rows.data(), 3, 4, want.data());
  gpu.model.score_batch(rows.data(), 3, 4, got.data());
  check_close(rep + " score_batch", got, want, 1e-5, 1e-6);
  std::vector<Recommendation> want_top(3 * 4), got_top(3 * 4);
  std::vector<std::size_t> want_n(3), got_n(3);
  cpu.model.recommend_batch(rows.data(), 3, 4, 4, true, want_top.data(), want_n.data());
  gpu.model.recommend_batch(rows.data(), 3, 4, 4, true, got_top.data(), got_n.data());
  CHECK(got_n == want_n);
  for (std::size_t i = 0; i < want_top.size(); ++i) CHECK_MESSAGE(got_top[i].item == want_top[i].item, rep, " batch ", i);
  // Histories of 200 items with seen items excluded: more than the device's
  // top-k keeps (128) if each row asked for k + length candidates.
  constexpr std::int64_t long_rows = 3, length = 200;
  constexpr int k = 8;
  std::vector<std::int32_t> histories(static_cast<std::size_t>(long_rows * length));
  for (std::size_t i = 0; i < histories.size(); ++i)
    histories[i] = static_cast<std::int32_t>(1 + (i * 7 + i / length) % 12);  // items 1..12 seen, 13..22 not
  std::vector<Recommendation> want_long(long_rows * k), got_long(long_rows * k);
  std::vector<std::size_t> want_long_n(long_rows), got_long_n(long_rows);
  cpu.model.recommend_batch(histories.data(), long_rows, length, k, true, want_long.data(), want_long_n.data());
  gpu.model.recommend_batch(histories.data(), long_rows, length, k, true, got_long.data(), got_long_n.data());
  CHECK(got_long_n == want_long_n);
  for (std::size_t i = 0; i < want_long.size(); ++i)
    CHECK_MESSAGE(got_long[i].item == want_long[i].item, rep, " long history batch ", i);
}

}  // namespace

GPU_TEST_CASE("gpu serving: pooling predict, recommend and batches match the CPU") { check_serving("pooling"); }
GPU_TEST_CASE("gpu serving: mixture predict, recommend and batches match the CPU") { check_serving("mixture"); }
GPU_TEST_CASE("gpu serving: cnn predict, recommend and batches match the CPU") { check_serving("cnn"); }
GPU_TEST_CASE("gpu serving: lstm predict, recommend and batches match the CPU") { check_serving("lstm"); }

namespace {

// `write` makes a device model on a thread of its own, which then stays
// alive (its stream with it) while two other threads serve the model at
// once, each on its own stream; their answers, against `want`.
void check_served_at_once(const std::function<ImplicitSequenceModel()>& write, const std::vector<std::int32_t>& seq,
                          const std::vector<float>& want, const std::string& label) {
  std::optional<ImplicitSequenceModel> model;
  std::promise<void> written, served;
  std::shared_future<void> ready = written.get_future().share();
  std::thread writer([&] {
    model.emplace(write());
    written.set_value();
    served.get_future().wait();
  });
  std::vector<std::vector<float>> got(2);
  std::vector<std::thread> servers;
  for (std::size_t i = 0; i < got.size(); ++i)
    servers.emplace_back([&, i] {
      ready.wait();
      got[i] = model->predict(seq);
    });
  for (std::thread& t : servers) t.join();
  served.set_value();
  writer.join();
  for (std::size_t i = 0; i < got.size(); ++i) check_close(label + ", server " + std::to_string(i), got[i], want, 1e-4, 2e-6);
}

}  // namespace

// The writer's queued work (a load's last upload chunks, a fit's last Adam
// step) must be done before its call returns: the servers' kernels run on
// their own streams, which nothing orders after the writer's.
GPU_TEST_CASE("gpu serving: a model loaded or trained on one thread serves other threads at once, as on the CPU") {
  const std::vector<std::int32_t> seq = {1, 2, 3, 4, 5, 6, 7, 8};
  for (const std::string rep : {"pooling", "lstm"}) {
    ModelConfig config = step_config(rep, "bpr", false, "cpu");
    ImplicitSequenceModel cpu(config);
    cpu.initialize(num_items);
    const std::string bytes = serialize_model(cpu);
    check_served_at_once([&] { return std::move(load_model_from_bytes(bytes, "gpu.safetensors", "cuda").model); },
                         seq, cpu.predict(seq), rep + " loaded");
    std::vector<Batch> batches;
    for (int step = 0; step < 3; ++step) batches.push_back(make_batch(config, 300u + static_cast<std::uint32_t>(step)));
    for (const Batch& b : batches) cpu.train_step(b.sequences, b.negatives);
    config.device = "cuda";
    check_served_at_once(
        [&] {
          ImplicitSequenceModel gpu(config);
          gpu.initialize(num_items);
          for (const Batch& b : batches) gpu.train_step(b.sequences, b.negatives);
          return gpu;
        },
        seq, cpu.predict(seq), rep + " trained");
  }
}

namespace {

// The "loss" field of each epoch's JSON line.
std::vector<double> epoch_losses(const cli_test::Result& r) {
  std::vector<double> out;
  for (const std::string& line : r.out_lines()) {
    const std::size_t at = line.find("\"loss\":");
    if (line.rfind("{\"epoch\":", 0) == 0 && at != std::string::npos) out.push_back(std::atof(line.c_str() + at + 7));
  }
  return out;
}

// recommend's text lines, "id:score id:score ...": the ids, and the scores.
struct Ranked {
  std::vector<std::string> ids;
  std::vector<double> scores;
};
Ranked ranked(const std::string& out) {
  Ranked r;
  std::istringstream in(out);
  std::string token;
  while (in >> token) {
    const std::size_t colon = token.find(':');
    REQUIRE(colon != std::string::npos);
    r.ids.push_back(token.substr(0, colon));
    r.scores.push_back(std::atof(token.c_str() + colon + 1));
  }
  return r;
}

// The same items in the same order, scores within the printed rounding.
void check_same_ranking(const std::string& got, const std::string& want, const std::string& label) {
  const Ranked g = ranked(got), w = ranked(want);
  REQUIRE(!w.ids.empty());
  CHECK_MESSAGE(g.ids == w.ids, label);
  REQUIRE(g.scores.size() == w.scores.size());
  for (std::size_t i = 0; i < w.scores.size(); ++i)
    CHECK_MESSAGE(std::fabs(g.scores[i] - w.scores[i]) <= 1e-4 * (1.0 + std::fabs(w.scores[i])), label, " score ", i);
}

}  // namespace

GPU_TEST_CASE("gpu cli: fit --device cuda gives the CPU's epoch losses, recommend --device cuda its items") {
  cli_test::TempDir dir;
  const std::vector<std::string> data = {"--synthetic-users", "30", "--synthetic-items", "25",
                                         "--synthetic-interactions", "400", "--n-iter", "3",
                                         "--embedding-dim", "8", "--batch-size", "16", "--json"};
  std::vector<std::vector<double>> losses;
  for (const char* device : {"cpu", "cuda"}) {
    std::vector<std::string> args = {"fit", "--device", device, "--out", dir.file(std::string(device) + ".model")};
    args.insert(args.end(), data.begin(), data.end());
    const cli_test::Result r = cli_test::run(args);
    REQUIRE_MESSAGE(r.status == 0, std::string(device), ": ", r.err);
    losses.push_back(epoch_losses(r));
  }
  REQUIRE(losses[0].size() == 3);
  REQUIRE(losses[1].size() == 3);
  for (std::size_t e = 0; e < 3; ++e)
    CHECK_MESSAGE(losses[1][e] == doctest::Approx(losses[0][e]).epsilon(1e-5), "epoch ", e);
  // The CPU-trained model served on each device: the same items.
  const std::string input = "3 5 7\n1 2\n9 9 4 2 11\n";
  std::vector<std::string> outputs;
  for (const char* device : {"cpu", "cuda"}) {
    const cli_test::Result r =
        cli_test::run({"recommend", "--model", dir.file("cpu.model"), "--k", "5", "--device", device}, input);
    REQUIRE_MESSAGE(r.status == 0, std::string(device), ": ", r.err);
    outputs.push_back(r.out);
  }
  check_same_ranking(outputs[1], outputs[0], "recommend of the CPU-trained model");
  // The model trained on the device, served on each: the same items.
  const cli_test::Result on_gpu =
      cli_test::run({"recommend", "--model", dir.file("cuda.model"), "--k", "5", "--device", "cuda"}, input);
  const cli_test::Result on_cpu =
      cli_test::run({"recommend", "--model", dir.file("cuda.model"), "--k", "5", "--device", "cpu"}, input);
  REQUIRE_MESSAGE(on_gpu.status == 0, on_gpu.err);
  check_same_ranking(on_gpu.out, on_cpu.out, "recommend of the device-trained model");
  // Lines of 200-item histories with --exclude-seen (items 1..15 seen, 16..24 not).
  std::string long_lines;
  for (int line = 0; line < 3; ++line) {
    for (int i = 0; i < 200; ++i) long_lines += (i ? " " : "") + std::to_string(1 + (i * 7 + line) % 15);
    long_lines += '\n';
  }
  outputs.clear();
  for (const char* device : {"cpu", "cuda"}) {
    const cli_test::Result r = cli_test::run(
        {"recommend", "--model", dir.file("cpu.model"), "--k", "5", "--exclude-seen", "--device", device}, long_lines);
    REQUIRE_MESSAGE(r.status == 0, std::string(device), ": ", r.err);
    outputs.push_back(r.out);
  }
  check_same_ranking(outputs[1], outputs[0], "recommend --exclude-seen of 200-item histories");
}
