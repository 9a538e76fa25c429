// `limelight recommend --stream` end to end: interleaved sessions answered
// line by line as the library's recommend on each session's history (whole,
// or its last --max-events events), least-recently-used eviction counted in
// the report, and bad lines answered with errors naming the line while the
// stream goes on.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "cli_helpers.hpp"
#include "io/json.hpp"
#include "limelight/model_file.hpp"

using namespace cli_test;
namespace json = limelight::json;

namespace {

std::string lstm_fixture() { return fs::path(shared_dir()) / "fixtures" / "spotlight" / "case_lstm.safetensors"; }

// The answers must be the library's recommend on the same history, up to the
// order of scores closer than float32 rounding.
void check_answer(const json::Value& got, const std::vector<limelight::Recommendation>& want) {
  REQUIRE(got.at("items").size() == want.size());
  for (std::size_t j = 0; j < want.size(); ++j) {
    const double score = got.at("scores")[j].as_double();
    if (got.at("items")[j].as_int() != want[j].item) CHECK(std::abs(score - want[j].score) <= 1e-6);
    CHECK(std::abs(score - want[j].score) <= 1e-5);
  }
}

}  // namespace

TEST_CASE("recommend --stream answers each event with the session's top k, as recommend on its history") {
  const std::string path = lstm_fixture();
  const limelight::LoadedModel loaded = limelight::load_model(path);
  std::mt19937 rng(5);
  std::vector<std::pair<std::string, std::int32_t>> events;
  std::string input;
  for (int i = 0; i < 400; ++i) {
    const std::string session = std::string("user").append(std::to_string(rng() % 7));
    const auto item = static_cast<std::int32_t>(1 + rng() % 49);
    events.emplace_back(session, item);
    input += session + (i % 2 ? "\t" : " ") + std::to_string(item) + "\n";
  }
  for (std::int64_t bound : {0, 3}) {
    for (bool exclude : {false, true}) {
      CAPTURE(bound);
      CAPTURE(exclude);
      std::vector<std::string> args = {"recommend", "--stream", "--model", path, "--k", "5", "--json",
                                       "--max-events", std::to_string(bound)};
      if (exclude) args.push_back("--exclude-seen");
      const Result r = run(args, input);
      REQUIRE_MESSAGE(r.status == 0, r.err);
      const std::vector<std::string> out = r.out_lines();
      REQUIRE(out.size() == events.size());
      std::map<std::string, std::vector<std::int32_t>> history;
      for (std::size_t i = 0; i < events.size(); ++i) {
        std::vector<std::int32_t>& h = history[events[i].first];
        h.push_back(events[i].second);
        if (bound > 0 && static_cast<std::int64_t>(h.size()) > bound) h.erase(h.begin());
        const json::Value got = json::parse(out[i]);
        CHECK(got.at("session").as_string() == events[i].first);
        check_answer(got, loaded.model.recommend(h, 5, exclude));
      }
      const json::Value report = json::parse(r.err);
      CHECK(report.at("lines").as_int() == 400);
      CHECK(report.at("answered").as_int() == 400);
      CHECK(report.at("errors").as_int() == 0);
      CHECK(report.at("sessions_started").as_int() == 7);
      CHECK(report.at("evicted").as_int() == 0);
    }
  }
  const Result text = run({"recommend", "--stream", "--model", path, "--k", "3"}, "a 4\nb 5\na 6\n");
  REQUIRE_MESSAGE(text.status == 0, text.err);
  const std::vector<std::string> lines = text.out_lines();
  REQUIRE(lines.size() == 3);
  CHECK(lines[2].rfind("a ", 0) == 0);
  const auto best = loaded.model.recommend(std::vector<std::int32_t>{4, 6}, 3);
  CHECK(lines[2].find(std::string(" ").append(std::to_string(best[0].item)).append(":")) != std::string::npos);
  CHECK(text.err.find("3 lines, 3 answered, 0 errors; sessions: 2 started, 0 evicted, 2 in memory") !=
        std::string::npos);
}

TEST_CASE("recommend --stream keeps at most --max-sessions, evicting the least recently used") {
  const std::string path = lstm_fixture();
  const limelight::LoadedModel loaded = limelight::load_model(path);
  // a, b, a (refreshes a), c (evicts b), b (evicts a: starts again), a (evicts c: starts again).
  const Result r = run({"recommend", "--stream", "--model", path, "--k", "4", "--json", "--max-sessions", "2"},
                       "a 1\nb 2\na 3\nc 4\nb 5\na 6\n");
  REQUIRE_MESSAGE(r.status == 0, r.err);
  const std::vector<std::string> out = r.out_lines();
  REQUIRE(out.size() == 6);
  const std::vector<std::vector<std::int32_t>> histories = {{1}, {2}, {1, 3}, {4}, {5}, {6}};
  for (std::size_t i = 0; i < out.size(); ++i) check_answer(json::parse(out[i]), loaded.model.recommend(histories[i], 4));
  const json::Value report = json::parse(r.err);
  CHECK(report.at("sessions_started").as_int() == 6 - 1);
  CHECK(report.at("evicted").as_int() == 3);
  CHECK(report.at("active").as_int() == 2);
}

TEST_CASE("recommend --stream answers a bad line with an error naming it and goes on") {
  const std::string path = lstm_fixture();
  const limelight::LoadedModel loaded = limelight::load_model(path);
  const std::string input = "a 3\na 999\n\nb\nb 4 5\na 0\nc x\na 7\n";
  const Result r = run({"recommend", "--stream", "--model", path, "--k", "2", "--json"}, input);
  CHECK(r.status == 1);
  const std::vector<std::string> out = r.out_lines();
  REQUIRE(out.size() == 8);
  const int bad_lines[] = {2, 3, 4, 5, 6, 7};
  const char* reasons[] = {"'999' is not an item", "an empty line", "expected 'SESSION_ID ITEM'",
                           "expected 'SESSION_ID ITEM'", "'0' is the padding id", "'x' is not an item"};
  for (int i = 0; i < 6; ++i) {
    const json::Value e = json::parse(out[static_cast<std::size_t>(bad_lines[i] - 1)]);
    CAPTURE(bad_lines[i]);
    CHECK(e.at("line").as_int() == bad_lines[i]);
    const std::string message = e.at("error").as_string();
    CHECK(message.find(std::string("line ").append(std::to_string(bad_lines[i])).append(": ")) == 0);
    CHECK(message.find(reasons[i]) != std::string::npos);
  }
  // The bad lines changed no session: a's history is 3 then 7.
  check_answer(json::parse(out[7]), loaded.model.recommend(std::vector<std::int32_t>{3, 7}, 2));
  const json::Value report = json::parse(r.err);
  CHECK(report.at("errors").as_int() == 6);
  CHECK(report.at("answered").as_int() == 2);
  CHECK(report.at("sessions_started").as_int() == 1);

  const Result text = run({"recommend", "--stream", "--model", path}, "a 3\na 999\n");
  CHECK(text.status == 1);
  const std::vector<std::string> lines = text.out_lines();
  REQUIRE(lines.size() == 2);
  CHECK(lines[1].rfind("a error: line 2: item '999' is not an item of the model", 0) == 0);
  CHECK(text.err.find("2 lines, 1 answered, 1 errors") != std::string::npos);

  const Result no_model = run({"recommend", "--stream"}, "a 1\n");
  CHECK(no_model.status == 1);
  CHECK(no_model.err.find("needs --model FILE") != std::string::npos);
  const Result help = run({"recommend", "--stream", "--help"});
  CHECK(help.status == 0);
  CHECK(help.out.find("SESSION_ID ITEM") != std::string::npos);
}
