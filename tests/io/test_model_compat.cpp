// Model files written by the previous release (tests/io/compat/0.1.0, see its
// README) load unchanged and score bit-identically to what that release printed.
//
// Bit-identical holds where the library runs the SIMD clones that release ran
// (release builds on x86-64: the expected scores come from its FMA clones).
// Sanitizer builds compile the baseline code alone (src/backend/cpu/cpu_math.hpp
// says why), where a*b+c is rounded twice instead of once: there the scores
// must agree to float32 rounding of the few dozen operations behind each.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "backend/cpu/cpu_math.hpp"
#include "limelight/model_file.hpp"

using namespace limelight;

namespace {

struct ExpectedScores {
  std::string file;
  std::vector<std::int32_t> sequence;
  std::vector<float> scores;
};

std::string compat_dir() {
  const char* source = std::getenv("LIMELIGHT_SOURCE");
  REQUIRE_MESSAGE(source != nullptr, "LIMELIGHT_SOURCE is not set (tests/meson.build sets it)");
  return std::string(source) + "/tests/io/compat/0.1.0/";
}

std::vector<ExpectedScores> read_expected(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot read ", path);
  std::vector<ExpectedScores> rows;
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    ExpectedScores row;
    std::string sequence;
    fields >> row.file >> sequence;
    std::istringstream ids(sequence);
    for (std::string id; std::getline(ids, id, ',');) row.sequence.push_back(std::stoi(id));
    // strtof: the decimal is the float's exact value to 17 digits, so it rounds back to the same bits.
    for (std::string score; fields >> score;) row.scores.push_back(std::strtof(score.c_str(), nullptr));
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace

TEST_CASE("model files of release 0.1.0 load and predict bit-identically") {
  const std::string dir = compat_dir();
  const auto rows = read_expected(dir + "expected_scores.txt");
  REQUIRE(rows.size() == 15);  // five files, three sequences each
  for (const auto& row : rows) {
    CAPTURE(row.file);
    LoadedModel loaded = load_model(dir + row.file);
    const std::vector<float> scores = loaded.model.predict(row.sequence);
    REQUIRE(scores.size() == row.scores.size());
#ifdef LL_HAVE_SIMD_CLONES
    std::size_t differing = 0;
    for (std::size_t i = 0; i < scores.size(); ++i)
      if (std::memcmp(&scores[i], &row.scores[i], sizeof(float)) != 0) ++differing;
    CHECK_MESSAGE(differing == 0, row.file, ": ", differing, " of ", scores.size(), " scores differ in their bits");
#else
    float scale = 0.0f, worst = 0.0f;
    for (float s : row.scores) scale = std::max(scale, std::abs(s));
    for (std::size_t i = 0; i < scores.size(); ++i) worst = std::max(worst, std::abs(scores[i] - row.scores[i]));
    // Seen: at most 3e-8 on scores up to 0.17 (about 2 ulp of the largest).
    CHECK_MESSAGE(worst <= 1e-6f * scale, row.file, ": largest difference ", worst, " on scores up to ", scale);
#endif
  }
}

TEST_CASE("a 0.1.0 file saved with --save-optimizer restores its training state") {
  LoadedModel loaded = load_model(compat_dir() + "lstm.safetensors");
  REQUIRE(loaded.training_state.has_value());
  const TrainingState& state = *loaded.training_state;
  CHECK(state.epochs == 1);
  CHECK(state.optimizer_steps > 0);
  REQUIRE(!state.exp_avg.empty());
  REQUIRE(state.exp_avg.size() == state.exp_avg_sq.size());
  for (std::size_t i = 0; i < state.exp_avg.size(); ++i) CHECK(state.exp_avg[i].shape() == state.exp_avg_sq[i].shape());
}
