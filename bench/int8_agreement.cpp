// limelight-int8-agreement: does the int8 item table (ServingPrecision::int8)
// answer exactly as float32 on trained models? For each model file given,
// every window of every user's MovieLens history (to_sequence with --window,
// windows not overlapping) is recommended with k 10, with and without seen
// items, one sequence at a time and in batches of 64, under both
// precisions; it prints how many answers have the same items and the same
// score bits, and the time per call of each precision
// (docs/benchmarks.md, "Reduced-precision item table"). Exit status 1 when
// any answer differs.
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "limelight/data.hpp"
#include "limelight/error.hpp"
#include "limelight/model.hpp"
#include "limelight/model_file.hpp"

namespace {

using namespace limelight;
using bench::Clock;
using bench::same_recommendations;

// The data's windows in the model's dense ids (through the item labels when
// the model has them).
SequenceInteractions windows_for(const LoadedModel& loaded, const Interactions& data, int window) {
  Interactions mapped = data;
  if (!loaded.item_labels.empty()) {
    std::map<std::string, std::int32_t> dense;
    for (std::size_t i = 1; i < loaded.item_labels.size(); ++i)
      dense[loaded.item_labels[i]] = static_cast<std::int32_t>(i);
    for (auto& id : mapped.item_ids) {
      const auto it = dense.find(data.item_labels[static_cast<std::size_t>(id)]);
      LL_CHECK(it != dense.end(), "int8-agreement: item '", data.item_labels[static_cast<std::size_t>(id)],
               "' is not in the model");
      id = it->second;
    }
    mapped.num_items = static_cast<std::int32_t>(loaded.item_labels.size());
  }
  return mapped.to_sequence(window);
}

}  // namespace

int main(int argc, char** argv) {
  std::string movielens = std::string(LIMELIGHT_SOURCE_ROOT) + "/../shared/data/movielens-100k";
  int window = 200;
  std::vector<std::string> models;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--movielens" && i + 1 < argc) movielens = argv[++i];
      else if (a == "--window" && i + 1 < argc) window = std::stoi(argv[++i]);
      else if (a.rfind("--", 0) == 0) {
        std::printf("usage: limelight-int8-agreement [--movielens DIR] [--window N] MODEL...\n");
        return a == "--help" ? 0 : 2;
      } else models.push_back(a);
    }
    const Interactions data = load_movielens(movielens);
    bool all_same = true;
    std::printf("%-28s %8s %16s %16s %10s %10s\n", "model", "windows", "one identical", "batch identical",
                "f32 us", "int8 us");
    for (const std::string& path : models) {
      LoadedModel loaded = load_model(path);
      ImplicitSequenceModel& model = loaded.model;
      const SequenceInteractions seqs = windows_for(loaded, data, window);
      const std::int64_t N = seqs.num_sequences, L = seqs.max_sequence_length, B = 64;
      const int k = 10;
      std::vector<Recommendation> one[2], batch[2];
      std::vector<std::size_t> counts[2];
      double seconds[2] = {0, 0};
      for (int p = 0; p < 2; ++p) {
        model.set_serving_precision(p == 0 ? ServingPrecision::f32 : ServingPrecision::int8);
        one[p].resize(static_cast<std::size_t>(2 * N * k));
        batch[p].resize(static_cast<std::size_t>(2 * N * k));
        counts[p].resize(static_cast<std::size_t>(2 * N));
        model.recommend_into(std::span(seqs.row(0), L), k, false, std::span(one[p].data(), k));  // warm
        for (int exclude = 0; exclude < 2; ++exclude) {
          const auto start = Clock::now();
          for (std::int64_t r = 0; r < N; ++r) {
            const std::size_t got = model.recommend_into(std::span(seqs.row(r), L), k, exclude != 0,
                                                         std::span(one[p].data() + (exclude * N + r) * k, k));
            LL_CHECK(got == static_cast<std::size_t>(k), "int8-agreement: fewer than k recommendations");
          }
          seconds[p] += std::chrono::duration<double>(Clock::now() - start).count();
          for (std::int64_t r0 = 0; r0 < N; r0 += B)
            model.recommend_batch(seqs.row(r0), std::min(B, N - r0), L, k, exclude != 0,
                                  batch[p].data() + (exclude * N + r0) * k, counts[p].data() + exclude * N + r0);
        }
      }
      std::int64_t one_same = 0, batch_same = 0;
      for (std::int64_t i = 0; i < 2 * N; ++i) {
        one_same += same_recommendations(one[0].data() + i * k, one[1].data() + i * k, k);
        batch_same += counts[0][static_cast<std::size_t>(i)] == counts[1][static_cast<std::size_t>(i)] &&
                      same_recommendations(batch[0].data() + i * k, batch[1].data() + i * k,
                                           counts[0][static_cast<std::size_t>(i)]);
      }
      all_same &= one_same == 2 * N && batch_same == 2 * N;
      const std::string name = path.substr(path.find_last_of('/') + 1);
      std::printf("%-28s %8lld %7lld of %-6lld %7lld of %-6lld %10.1f %10.1f\n", name.c_str(),
                  static_cast<long long>(N), static_cast<long long>(one_same), static_cast<long long>(2 * N),
                  static_cast<long long>(batch_same), static_cast<long long>(2 * N), seconds[0] / (2 * N) * 1e6,
                  seconds[1] / (2 * N) * 1e6);
      std::fflush(stdout);
    }
    return all_same ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
