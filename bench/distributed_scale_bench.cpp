// limelight-distributed-scale-bench: data-parallel training at a big
// catalogue, run as one process or under mpirun. On random windows over V
// items it times fit's steps (replicated or --shard-items), and reports each
// rank's peak RSS and the bytes each rank sends per step, counted at the
// communicator, beside their formula:
//
//   sharded, per rank and step:  ids to their owners       4 U (N-1)/N
//                                rows back to the askers   4 (D+1) U (N-1)/N
//                                gradients to the owners   4 (D+1) U (N-1)/N
//                                dense all-reduce          2 * 4 P (N-1)/N
//                                counts and the loss       small
//   with U the distinct items of a rank's slice (B L / N positives and as many
//   negatives, drawn uniformly: U = V (1 - (1 - 1/V)^m)) and P the replicated
//   parameters' floats.
//
//   mpirun -np 2 build/bench/limelight-distributed-scale-bench --items 10000000 --shard-items
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "limelight/distributed.hpp"
#include "limelight/model.hpp"
#include "io/json.hpp"
#include "limelight/error.hpp"
#include "limelight/random.hpp"

namespace limelight::bench {
namespace {

// The world communicator, counting the bytes this rank sends to others.
class CountingCommunicator final : public distributed::Communicator {
 public:
  explicit CountingCommunicator(distributed::Communicator& inner) : inner_(inner) {}
  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  std::string runtime() const override { return inner_.runtime(); }
  void all_to_all_v(distributed::Element e, const void* send, const std::int64_t* send_counts,
                    const std::int64_t* send_offsets, void* recv, const std::int64_t* recv_counts,
                    const std::int64_t* recv_offsets) override {
    for (int p = 0; p < size(); ++p)
      if (p != rank()) sent += send_counts[p] * static_cast<std::int64_t>(distributed::element_size(e));
    inner_.all_to_all_v(e, send, send_counts, send_offsets, recv, recv_counts, recv_offsets);
  }
  void all_gather_v(distributed::Element e, const void* send, std::int64_t count, void* recv,
                    const std::int64_t* recv_counts, const std::int64_t* recv_offsets) override {
    sent += (size() - 1) * count * static_cast<std::int64_t>(distributed::element_size(e));
    inner_.all_gather_v(e, send, count, recv, recv_counts, recv_offsets);
  }
  void broadcast(distributed::Element e, void* data, std::int64_t count, int root) override {
    if (rank() == root) sent += (size() - 1) * count * static_cast<std::int64_t>(distributed::element_size(e));
    inner_.broadcast(e, data, count, root);
  }
  void barrier() override { inner_.barrier(); }
  [[noreturn]] void abort(int status) override {
    inner_.abort(status);
    std::_Exit(status);  // not reached
  }
  std::int64_t sent = 0;

 private:
  distributed::Communicator& inner_;
};

// This process's peak resident set, in bytes.
std::int64_t peak_rss() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::int64_t>(usage.ru_maxrss) * 1024;
}

double expected_distinct(double V, double draws) { return V * (1.0 - std::pow(1.0 - 1.0 / V, draws)); }

int run(int argc, char** argv) {
  std::int64_t V = 1000000, sequences = 5120;
  int L = 10;
  bool shard = false;
  ModelConfig config;
  config.batch_size = 256;
  config.n_iter = 1;
  config.loss = "bpr";
  config.sparse = true;
  config.threads = 1;
  for (Arguments args(argc, argv, "limelight-distributed-scale-bench"); args.next();) {
    const std::string& f = args.flag();
    if (f == "--items") V = std::stoll(args.value());
    else if (f == "--sequences") sequences = std::stoll(args.value());
    else if (f == "--length") L = std::stoi(args.value());
    else if (f == "--shard-items") shard = true;
    else if (f == "--dense") config.sparse = false;
    else if (f == "--representation") config.representation = parse_representation(args.value());
    else if (f == "--dim") config.embedding_dim = std::stoi(args.value());
    else if (f == "--batch-size") config.batch_size = std::stoi(args.value());
    else if (f == "--threads") config.threads = std::stoi(args.value());
    else throw Error("limelight-distributed-scale-bench: unknown option " + f);
  }

  distributed::Communicator& world = distributed::world();
  CountingCommunicator comm(world);
  const int N = comm.size(), me = comm.rank();

  // Random windows of items in [1, V): the same on every rank.
  SequenceInteractions train;
  train.num_items = static_cast<std::int32_t>(V);
  train.max_sequence_length = L;
  train.num_sequences = sequences;
  train.sequences.resize(static_cast<std::size_t>(sequences * L));
  Rng rng(7);
  for (auto& id : train.sequences) id = static_cast<std::int32_t>(1 + rng.uniform_int(V - 1));

  ImplicitSequenceModel model(config);
  const auto built = std::chrono::steady_clock::now();
  if (shard) model.initialize(static_cast<std::int32_t>(V), comm);
  else model.initialize(static_cast<std::int32_t>(V));
  const double init_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - built).count();
  std::int64_t replicated_floats = 0;
  for (const Parameter* p : std::as_const(model).parameters())
    if (!shard || (p->name != "item_embeddings.weight" && p->name != "item_biases.weight"))
      replicated_floats += p->value.numel();

  // Each step's time and bytes (the first step's allocations left out).
  std::vector<double> step_seconds;
  std::vector<std::int64_t> step_bytes;
  auto last = std::chrono::steady_clock::now();
  std::int64_t last_sent = comm.sent;
  FitCallbacks callbacks;
  callbacks.on_batch = [&](std::int64_t, std::int64_t) {
    const auto now = std::chrono::steady_clock::now();
    step_seconds.push_back(std::chrono::duration<double>(now - last).count());
    step_bytes.push_back(comm.sent - last_sent);
    last = now;
    last_sent = comm.sent;
  };
  model.fit(train, callbacks, comm);
  step_seconds.erase(step_seconds.begin());
  step_bytes.erase(step_bytes.begin());
  std::sort(step_seconds.begin(), step_seconds.end());
  double mean_bytes = 0;
  for (std::int64_t b : step_bytes) mean_bytes += static_cast<double>(b);
  mean_bytes /= static_cast<double>(std::max<std::size_t>(1, step_bytes.size()));

  const double D = config.embedding_dim, share = static_cast<double>(N - 1) / N;
  const double slice_positions = static_cast<double>(config.batch_size) * L / N;
  const double U = expected_distinct(static_cast<double>(V), 2 * slice_positions) + 1;
  const double formula = N == 1 ? 0.0
                         : shard ? U * share * (4 + 8 * (D + 1)) + 8.0 * replicated_floats * share
                                 : 8.0 * replicated_floats * share;
  const std::vector<std::int64_t> rss = world.all_gather(peak_rss());
  const std::vector<std::int64_t> sent = world.all_gather(static_cast<std::int64_t>(mean_bytes));
  if (me != 0) return 0;
  std::printf("items %lld, dim %d, batch %d x %d, %s, %s%s, %d rank%s x %d thread%s\n", static_cast<long long>(V),
              config.embedding_dim, config.batch_size, L, representation_name(config.representation),
              config.sparse ? "sparse" : "dense", shard ? ", --shard-items" : "", N, N > 1 ? "s" : "",
              config.threads, config.threads > 1 ? "s" : "");
  std::printf("  init %.2f s, step median %.2f ms over %zu steps\n", init_seconds,
              1e3 * step_seconds[step_seconds.size() / 2], step_seconds.size());
  for (int r = 0; r < N; ++r)
    std::printf("  rank %d: peak RSS %.1f MB, sends %.0f bytes a step (formula %.0f, ratio %.3f)\n", r,
                rss[r] / 1e6, static_cast<double>(sent[r]), formula, formula > 0 ? sent[r] / formula : 0.0);
  json::Value line = json::Value::object();
  json::Value rss_list = json::Value::array(), sent_list = json::Value::array();
  for (int r = 0; r < N; ++r) {
    rss_list.push_back(json::Value(rss[r]));
    sent_list.push_back(json::Value(sent[r]));
  }
  line.set("items", json::Value(V))
      .set("ranks", json::Value(N))
      .set("shard_items", json::Value(shard))
      .set("sparse", json::Value(config.sparse))
      .set("representation", json::Value(representation_name(config.representation)))
      .set("init_seconds", json::Value(init_seconds))
      .set("step_median_seconds", json::Value(step_seconds[step_seconds.size() / 2]))
      .set("peak_rss_bytes", std::move(rss_list))
      .set("bytes_sent_per_step", std::move(sent_list))
      .set("bytes_formula", json::Value(formula));
  std::printf("%s\n", json::dump(line).c_str());
  return 0;
}

}  // namespace
}  // namespace limelight::bench

int main(int argc, char** argv) {
  try {
    return limelight::bench::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "limelight-distributed-scale-bench: %s\n", e.what());
    if (limelight::distributed::world_is_mpi() && limelight::distributed::world().size() > 1)
      limelight::distributed::world().abort(1);
    return 1;
  }
}
