// End-to-end tests of the `limelight` binary: predict reproduces the
// reference's predict() on every fixture, fit/info/predict/recommend/evaluate
// agree with the library on a trained model file, string ids from a CSV come
// back out of recommend, and bad input gives one `limelight: error:` line
// with a non-zero exit status.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli_helpers.hpp"
#include "io/json.hpp"
#include "limelight/model_file.hpp"
#include "limelight/safetensors.hpp"

using namespace cli_test;
namespace json = limelight::json;

namespace {

// Exit status non-zero, nothing but one `limelight: error:` line on stderr.
void check_error(const Result& r, const std::string& expected_part = "") {
  CHECK(r.status != 0);
  CHECK(r.status < 128);  // not killed by a signal
  CHECK(r.err.rfind("limelight: error: ", 0) == 0);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(r.err.back() == '\n');
  if (!expected_part.empty()) CHECK_MESSAGE(r.err.find(expected_part) != std::string::npos, r.err);
}

std::string join(const std::vector<std::int64_t>& ids, std::int64_t from, std::int64_t to) {
  std::string s;
  for (std::int64_t i = from; i < to; ++i) {
    if (i > from) s += ',';
    s += std::to_string(ids[static_cast<std::size_t>(i)]);
  }
  return s;
}

std::vector<std::string> fixture_models() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(fs::path(shared_dir()) / "fixtures" / "spotlight")) {
    const std::string name = e.path().filename().string();
    if (name.rfind("case_", 0) == 0 && e.path().extension() == ".safetensors") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("predict reproduces the reference's predict() on every fixture case") {
  const std::vector<std::string> cases = fixture_models();
  REQUIRE(cases.size() == 6);
  for (const std::string& path : cases) {
    CAPTURE(path);
    const auto file = limelight::io::SafetensorsFile::open(path);
    const std::vector<std::int64_t> seqs = file.i64("input.sequences");
    const std::vector<float> expected = file.f32("predict.scores");
    const auto& seq_shape = file.info("input.sequences").shape;
    const std::int64_t B = seq_shape[0], L = seq_shape[1], V = file.info("predict.scores").shape[1];
    for (std::int64_t i = 0; i < B; ++i) {
      CAPTURE(i);
      const Result r = run({"predict", "--model", path, "--sequence", join(seqs, i * L, (i + 1) * L), "--json"});
      REQUIRE_MESSAGE(r.status == 0, r.err);
      const json::Value out = json::parse(r.out);
      const json::Array& scores = out.at("scores").as_array();
      REQUIRE(static_cast<std::int64_t>(scores.size()) == V);
      double worst = 0;
      for (std::int64_t j = 0; j < V; ++j)
        worst = std::max(worst, std::abs(scores[static_cast<std::size_t>(j)].as_double() -
                                         expected[static_cast<std::size_t>(i * V + j)]));
      CHECK(worst <= 1e-5);
    }
  }
}

TEST_CASE("info shows every fixture's configuration and parameter shapes") {
  for (const std::string& path : fixture_models()) {
    CAPTURE(path);
    const Result r = run({"info", path, "--json"});
    REQUIRE_MESSAGE(r.status == 0, r.err);
    const json::Value info = json::parse(r.out);
    const auto file = limelight::io::SafetensorsFile::open(path);
    CHECK(info.at("config").at("representation").as_string() == file.metadata().at("representation"));
    CHECK(info.at("config").at("num_items").as_int() == 50);
    const json::Value shapes = json::parse(file.metadata().at("param_shapes"));
    REQUIRE(info.at("parameters").size() == shapes.size());
    for (const json::Value& p : info.at("parameters").as_array())
      CHECK(p.at("shape") == shapes.at(p.at("name").as_string()));
    const Result text = run({"info", path});
    CHECK(text.status == 0);
    CHECK(text.out.find("item_embeddings.weight [50, ") != std::string::npos);
  }
}

TEST_CASE("recommend on many lines of mixed lengths matches the library's recommend line by line") {
  const std::string path = fs::path(shared_dir()) / "fixtures" / "spotlight" / "case_lstm.safetensors";
  const limelight::LoadedModel loaded = limelight::load_model(path);
  std::mt19937 rng(11);
  std::vector<std::vector<std::int32_t>> lines(300);
  std::string input;
  for (auto& line : lines) {
    line.resize(1 + rng() % 7);
    for (auto& id : line) id = static_cast<std::int32_t>(1 + rng() % 49);
    for (std::size_t t = 0; t < line.size(); ++t) {
      if (t > 0) input += rng() % 2 ? ',' : ' ';
      input += std::to_string(line[t]);
    }
    input += "\n";
  }
  for (bool exclude : {false, true}) {
    CAPTURE(exclude);
    std::vector<std::string> args = {"recommend", "--model", path, "--k", "5", "--json"};
    if (exclude) args.push_back("--exclude-seen");
    const Result r = run(args, input);
    REQUIRE_MESSAGE(r.status == 0, r.err);
    // --item-table int8 answers byte for byte as float32 does (a catalogue this
    // small is served from float32 anyway; tests/model covers the int8 path).
    args.insert(args.end(), {"--item-table", "int8"});
    const Result int8 = run(args, input);
    REQUIRE_MESSAGE(int8.status == 0, int8.err);
    CHECK(int8.out == r.out);
    const std::vector<std::string> out = r.out_lines();
    REQUIRE(out.size() == lines.size());
    for (std::size_t i = 0; i < lines.size(); ++i) {
      const auto expected = loaded.model.recommend(lines[i], 5, exclude);
      const json::Value got = json::parse(out[i]);
      REQUIRE(got.at("items").size() == expected.size());
      for (std::size_t j = 0; j < expected.size(); ++j) {
        CHECK(got.at("items")[j].as_int() == expected[j].item);
        CHECK(std::abs(got.at("scores")[j].as_double() - expected[j].score) <= 1e-6);
      }
    }
  }
  const Result text = run({"recommend", "--model", path, "--k", "3"}, "1,2,3\n");
  REQUIRE(text.status == 0);
  std::istringstream fields(text.out);
  std::string pair;
  int count = 0;
  while (fields >> pair) {
    CHECK(pair.find(':') != std::string::npos);
    ++count;
  }
  CHECK(count == 3);
}

TEST_CASE("recommend through a pipe: long lines in many blocks answer as each line alone does") {
  // Lines of up to 199 ids, many of one length, so that blocks fill by ids
  // and group equal lengths; the pipe makes where blocks end vary by run.
  std::mt19937 rng(5);
  std::string input;
  std::vector<std::vector<std::int32_t>> lines(150);
  for (auto& line : lines) {
    line.resize(std::vector<std::size_t>{199, 199, 120, 37, 1}[rng() % 5]);
    for (auto& id : line) id = static_cast<std::int32_t>(1 + rng() % 49);
    for (std::size_t t = 0; t < line.size(); ++t) input += (t ? "," : "") + std::to_string(line[t]);
    input += "\n";
  }
  TempDir dir;
  write_all(dir.path / "in", input);
  for (const char* representation : {"pooling", "lstm"}) {
    CAPTURE(representation);
    const std::string path =
        fs::path(shared_dir()) / "fixtures" / "spotlight" / ("case_" + std::string(representation) + ".safetensors");
    const limelight::LoadedModel loaded = limelight::load_model(path);
    const std::string command = "cat " + shell_quote(dir.file("in")) + " | " + shell_quote(cli_path()) +
                                " recommend --model " + shell_quote(path) + " --k 4 > " + shell_quote(dir.file("out"));
    REQUIRE(std::system(command.c_str()) == 0);
    // Each answer is "id:score" pairs as recommend() ranks them; a score may
    // differ from recommend()'s in float32's last place (a block's rows are
    // scored by one GEMM, a lone line by a GEMV), hence the tolerance.
    std::istringstream out(read_all(dir.path / "out"));
    std::string answer;
    std::size_t i = 0;
    for (; std::getline(out, answer); ++i) {
      REQUIRE(i < lines.size());
      CAPTURE(i);
      const auto top = loaded.model.recommend(lines[i], 4);
      std::istringstream pairs(answer);
      std::string pair;
      std::size_t j = 0;
      for (; pairs >> pair; ++j) {
        REQUIRE(j < top.size());
        const std::size_t colon = pair.find(':');
        REQUIRE(colon != std::string::npos);
        CHECK(std::stoi(pair.substr(0, colon)) == top[j].item);
        const double score = std::stod(pair.substr(colon + 1));
        CHECK(std::abs(score - top[j].score) <= 1e-5 * std::abs(top[j].score) + 1e-7);
        char printed[32];
        std::snprintf(printed, sizeof printed, "%.6g", score);
        CHECK(pair.substr(colon + 1) == printed);  // printf's %.6g, as before
      }
      CHECK(j == top.size());
    }
    CHECK(i == lines.size());
  }
}

TEST_CASE("fit on synthetic data, then info, predict, recommend and evaluate on the saved model") {
  TempDir dir;
  const std::string model_path = dir.file("model.safetensors");
  const Result fit = run(concat({"fit", "--json", "--n-iter", "3", "--k", "5", "--out", model_path}, kTinyData));
  REQUIRE_MESSAGE(fit.status == 0, fit.err);
  const std::vector<std::string> lines = fit.out_lines();
  REQUIRE(lines.size() == 4);
  for (int e = 0; e < 3; ++e) {
    const json::Value epoch = json::parse(lines[static_cast<std::size_t>(e)]);
    CHECK(epoch.at("epoch").as_int() == e);
    CHECK(epoch.at("loss").as_double() > 0);
    CHECK(epoch.at("seconds").as_double() >= 0);
  }
  const json::Value summary = json::parse(lines[3]);
  CHECK(summary.at("num_users").as_int() == 60);
  CHECK(summary.at("num_items").as_int() == 30);
  CHECK(summary.at("num_interactions").as_int() == 3000);
  CHECK(summary.at("train_sequences").as_int() > 0);
  CHECK(summary.at("test_sequences").as_int() > 0);
  CHECK(summary.at("k").as_int() == 5);
  CHECK(summary.at("mrr").as_double() > 0);
  for (const char* key : {"precision_at_k", "recall_at_k", "ndcg_at_k", "hit_rate_at_k"}) {
    CAPTURE(key);
    CHECK(summary.at(key).as_double() >= 0);
    CHECK(summary.at(key).as_double() <= 1);
  }

  const limelight::LoadedModel loaded = limelight::load_model(model_path);
  CHECK(loaded.item_labels.empty());
  CHECK(loaded.model.num_items() == 30);

  const Result info = run({"info", "--json", model_path});
  REQUIRE(info.status == 0);
  CHECK(json::parse(info.out).at("config").at("n_iter").as_int() == 3);
  CHECK(json::parse(info.out).at("item_ids").is_null());

  const Result predict = run({"predict", "--model", model_path, "--sequence", "3,17,12", "--item-ids", "5,9,1", "--json"});
  REQUIRE(predict.status == 0);
  const std::vector<float> expected = loaded.model.predict(std::vector<std::int32_t>{3, 17, 12},
                                                           std::vector<std::int32_t>{5, 9, 1});
  const json::Value scores = json::parse(predict.out).at("scores");
  REQUIRE(scores.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) CHECK(scores[i].as_double() == static_cast<double>(expected[i]));
  const Result predict_all = run({"predict", "--model", model_path, "--sequence", "3", "--json"});
  CHECK(json::parse(predict_all.out).at("scores").size() == 30);

  const Result rec = run({"recommend", "--model", model_path, "--k", "4", "--exclude-seen", "--json"}, "3,17,12\n4 5\n");
  REQUIRE(rec.status == 0);
  REQUIRE(rec.out_lines().size() == 2);
  const json::Value first = json::parse(rec.out_lines()[0]);
  REQUIRE(first.at("items").size() == 4);
  const auto best = loaded.model.recommend(std::vector<std::int32_t>{3, 17, 12}, 4, true);
  for (std::size_t j = 0; j < 4; ++j) CHECK(first.at("items")[j].as_int() == best[j].item);

  // The same data, split and seed: evaluate scores exactly fit's test users.
  const Result eval = run(concat({"evaluate", "--model", model_path, "--json", "--k", "5"}, kTinyData));
  REQUIRE_MESSAGE(eval.status == 0, eval.err);
  const json::Value metrics = json::parse(eval.out);
  CHECK(metrics.at("test_sequences").as_int() == summary.at("test_sequences").as_int());
  CHECK(metrics.at("dropped_interactions").as_int() == 0);
  for (const char* key : {"mrr", "precision_at_k", "recall_at_k", "ndcg_at_k", "hit_rate_at_k"}) {
    CAPTURE(key);
    CHECK(metrics.at(key).as_double() == summary.at(key).as_double());
  }
  const Result excl = run(concat({"evaluate", "--model", model_path, "--exclude-preceding", "--test-fraction", "1"},
                                 kTinyData));
  CHECK(excl.status == 0);
  CHECK(excl.out.find("mrr") != std::string::npos);
}

TEST_CASE("k at or above the window length is refused before training; the default k is below it") {
  const auto start = std::chrono::steady_clock::now();
  const Result fit = run(concat({"fit", "--n-iter", "50", "--max-sequence-length", "5", "--k", "5"}, kTinyData));
  check_error(fit, "--k 5 must be below --max-sequence-length 5");
  CHECK(fit.out.find("epoch") == std::string::npos);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
  // The default k follows a short window down: every metric is a number.
  const Result short_window = run(concat({"fit", "--json", "--n-iter", "1", "--max-sequence-length", "3"}, kTinyData));
  REQUIRE_MESSAGE(short_window.status == 0, short_window.err);
  const json::Value summary = json::parse(short_window.out_lines().back());
  CHECK(summary.at("k").as_int() == 2);
  for (const char* key : {"mrr", "precision_at_k", "recall_at_k", "ndcg_at_k", "hit_rate_at_k"}) {
    CAPTURE(key);
    CHECK(summary.at(key).is_number());
  }
}

TEST_CASE("the quick start's output (fit with every default) shows every metric, no n/a") {
  const Result fit = run({"fit"});
  REQUIRE_MESSAGE(fit.status == 0, fit.err);
  CHECK(fit.out.find("n/a") == std::string::npos);
  for (const char* metric : {"mrr ", "precision@5 ", "recall@5 ", "ndcg@5 ", "hit_rate@5 "}) {
    CAPTURE(metric);
    const std::size_t at = fit.out.find(metric);
    REQUIRE(at != std::string::npos);
    const double value = std::stod(fit.out.substr(fit.out.find_first_not_of(' ', at + std::strlen(metric))));
    CHECK(value > 0);
    CHECK(value <= 1);
  }
}

TEST_CASE("--test-fraction 0 trains on every user and skips evaluation") {
  const Result fit = run(concat({"fit", "--json", "--n-iter", "1", "--test-fraction", "0"}, kTinyData));
  REQUIRE_MESSAGE(fit.status == 0, fit.err);
  const std::vector<std::string> lines = fit.out_lines();
  REQUIRE(lines.size() == 2);
  const json::Value summary = json::parse(lines[1]);
  CHECK(summary.at("test_sequences").as_int() == 0);
  CHECK_FALSE(summary.contains("mrr"));
  const Result text = run(concat({"fit", "--n-iter", "1", "--test-fraction", "0"}, kTinyData));
  CHECK(text.status == 0);
  CHECK(text.out.find("evaluation skipped") != std::string::npos);
  CHECK(text.out.find("mrr") == std::string::npos);
}

TEST_CASE("a CSV with its own string ids: fit, recommend and predict speak those ids") {
  TempDir dir;
  const std::vector<std::string> fruit = {"apple", "banana", "cherry", "date", "elder", "fig", "grape"};
  std::string csv = "who;what;when\n";
  for (int u = 0; u < 40; ++u)
    for (int t = 0; t < 12; ++t)
      csv += "user" + std::to_string(u) + ";" + fruit[static_cast<std::size_t>((u + t) % 7)] + ";" +
             std::to_string(1000 + t) + "\n";
  write_all(dir.path / "fruit.csv", csv);
  const std::string model_path = dir.file("fruit.safetensors");
  const std::vector<std::string> data = {"--csv", dir.file("fruit.csv"), "--user", "who", "--item", "what",
                                         "--timestamp", "when", "--delimiter", ";"};
  // A CNN sees the order of the last items, so it learns the cycle quickly.
  const Result fit = run(concat({"fit", "--representation", "cnn", "--n-iter", "30", "--batch-size", "16",
                                 "--test-fraction", "0", "--out", model_path},
                                data));
  REQUIRE_MESSAGE(fit.status == 0, fit.err);
  CHECK(limelight::load_model(model_path).item_labels.size() == 8);

  const Result rec = run({"recommend", "--model", model_path, "--k", "3", "--json"}, "apple,banana\ncherry date\n");
  REQUIRE_MESSAGE(rec.status == 0, rec.err);
  const std::set<std::string> known(fruit.begin(), fruit.end());
  for (const std::string& line : rec.out_lines()) {
    const json::Value got = json::parse(line);
    REQUIRE(got.at("items").size() == 3);
    for (const json::Value& id : got.at("items").as_array()) CHECK(known.count(id.as_string()) == 1);
  }
  const Result text = run({"recommend", "--model", model_path, "--k", "2"}, "apple,banana\n");
  CHECK(text.out.rfind("cherry:", 0) == 0);  // the data's cycle: after banana comes cherry

  const Result predict = run({"predict", "--model", model_path, "--sequence", "fig", "--item-ids", "grape,apple", "--json"});
  REQUIRE(predict.status == 0);
  CHECK(json::parse(predict.out).at("items") == json::parse(R"(["grape","apple"])"));
  check_error(run({"predict", "--model", model_path, "--sequence", "fig,kiwi"}), "'kiwi' is not in the model");
  check_error(run({"recommend", "--model", model_path}, "apple\n3\n"), "standard input line 2: item id '3'");

  // Items the model never saw are dropped with a note; the rest is evaluated.
  csv += "user99;kiwi;1\nuser99;apple;2\nuser99;banana;3\nuser99;cherry;4\n";
  write_all(dir.path / "more.csv", csv);
  std::vector<std::string> more = data;
  more[1] = dir.file("more.csv");
  const Result eval = run(concat({"evaluate", "--model", model_path, "--test-fraction", "1", "--json", "--k", "2"}, more));
  REQUIRE_MESSAGE(eval.status == 0, eval.err);
  CHECK(json::parse(eval.out).at("dropped_interactions").as_int() == 1);
  CHECK(eval.err.find("dropped 1 of") != std::string::npos);
  CHECK(json::parse(eval.out).at("hit_rate_at_k").as_double() > 0.5);
}

TEST_CASE("bad input: one error line and a non-zero exit status") {
  TempDir dir;
  const std::string fixture = fs::path(shared_dir()) / "fixtures" / "spotlight" / "case_pooling.safetensors";
  write_all(dir.path / "garbage.safetensors", std::string("\x10\0\0\0\0\0\0\0{\"a\":", 13));
  write_all(dir.path / "bad.csv", "userId,movieId\n1,2\n");
  const std::string garbage = dir.file("garbage.safetensors");
  check_error(run({}), "no command given");
  check_error(run({"frobnicate"}), "unknown command 'frobnicate'");
  check_error(run({"fit", "--bogus"}), "unknown option '--bogus'");
  check_error(run({"fit", "stray"}), "positional");
  check_error(run({"fit", "--k"}), "option --k needs a value");
  check_error(run({"fit", "--k", "ten"}), "--k: 'ten' is not an integer");
  check_error(run({"fit", "--k", "0"}), "--k: 0 is out of range [1, 1048576]");
  check_error(run({"fit", "--n-iter", "99999999999999999999"}), "--n-iter: '99999999999999999999' is out of range [1, 1073741824]");
  check_error(run({"fit", "--learning-rate", "1e999"}), "--learning-rate: '1e999' is out of range");
  check_error(run({"fit", "--test-fraction", "2"}), "--test-fraction: 2 is out of range [0, 1]");
  check_error(run({"fit", "--learning-rate", "fast"}), "--learning-rate: 'fast' is not a number");
  check_error(run({"fit", "--test-fraction", "1.5"}), "--test-fraction");
  check_error(run({"fit", "--kernel-width", "3,,5"}), "--kernel-width");
  check_error(run({"fit", "--representation", "transformer"}), "transformer");
  check_error(run({"fit", "--sparse=yes"}), "takes no value");
  check_error(run({"fit", "--csv", dir.file("missing.csv")}), "missing.csv");
  check_error(run({"fit", "--csv", dir.file("bad.csv"), "--n-iter", "1"}), "timestamp");
  check_error(run({"fit", "--csv", dir.file("bad.csv"), "--delimiter", "ab"}), "--delimiter");
  check_error(run({"fit", "--movielens", dir.file("nowhere")}), "nowhere");
  check_error(run({"fit", "--user", "u"}), "--user needs --csv");
  check_error(run({"info", dir.file("missing.safetensors")}), "missing.safetensors");
  check_error(run({"info", garbage}), "garbage.safetensors");
  check_error(run({"info", dir.path.string()}));
  check_error(run({"info"}), "exactly one model file");
  check_error(run({"predict", "--sequence", "1"}), "predict needs --model FILE");
  check_error(run({"recommend"}, "1\n"), "recommend needs --model FILE");
  check_error(run({"recommend", "--model", fixture, "extra"}, "1\n"), "recommend takes no positional argument, got 'extra'");
  check_error(run({"fit", "extra"}), "fit takes no positional argument, got 'extra'");
  check_error(run({"predict", "--model", fixture}), "needs --sequence");
  check_error(run({"predict", "--model", fixture, "--sequence", "1,50"}), "--sequence: item id '50'");
  check_error(run({"predict", "--model", fixture, "--sequence", " , "}), "empty sequence");
  check_error(run({"predict", "--model", fixture, "--sequence", "1", "--item-ids", "x"}), "--item-ids");
  check_error(run({"recommend", "--model", fixture}, "1,2\n\n3\n"), "standard input line 2: empty sequence");
  check_error(run({"recommend", "--model", fixture}, std::string("1,2\n\xff\xfe\0\n", 8)), "line 2");
  check_error(run({"recommend", "--model", garbage}, "1\n"), "garbage.safetensors");
  check_error(run({"recommend", "--model", fixture, "--k", "-1"}), "--k");
  check_error(run({"recommend", "--model", fixture, "--item-table", "bf16"}, "1\n"),
              "--item-table: 'bf16' is not f32 or int8");
  check_error(run({"recommend", "--model", (fs::path(shared_dir()) / "fixtures" / "spotlight" / "case_mixture.safetensors").string(),
                   "--item-table", "int8"}, "1\n"),
              "a mixture model's scores are not one dot product");
  check_error(run({"evaluate"}), "needs --model");
  check_error(run({"evaluate", "--model", fixture, "--synthetic", "--test-fraction", "0"}), "--test-fraction 0");
  check_error(run({"evaluate", "--model", fixture, "--synthetic-items", "20", "--synthetic-users", "5"}));
}

TEST_CASE("--help and --version") {
  const Result top = run({"--help"});
  CHECK(top.status == 0);
  CHECK(top.out.find("usage: limelight <command>") != std::string::npos);
  for (const char* cmd : {"fit", "evaluate", "recommend", "predict", "info"}) {
    CAPTURE(cmd);
    const Result r = run({cmd, "--help"});
    CHECK(r.status == 0);
    CHECK(r.out.find(std::string("usage: limelight ") + cmd) != std::string::npos);
  }
  const Result fit_help = run({"fit", "--help"});
  for (const char* opt : {"--synthetic-users", "--movielens", "--csv", "--max-sequence-length", "--test-fraction",
                          "--representation", "--kernel-width", "--num-mixtures", "--device", "--out", "--json",
                          "--init", "--save-optimizer", "--synthetic", "--threads"})
    CHECK_MESSAGE(fit_help.out.find(opt) != std::string::npos, opt);
  for (const char* cmd : {"recommend", "predict"}) {
    const Result help = run({cmd, "--help"});
    for (const char* opt : {"--user ID", "--user-column", "--item-names", "--movielens", "--csv"})
      CHECK_MESSAGE(help.out.find(opt) != std::string::npos, cmd, " ", opt);
  }
  CHECK(run({"recommend", "--help"}).out.find("--on-error") != std::string::npos);
  const Result version = run({"--version"});
  CHECK(version.status == 0);
  CHECK(version.out.rfind("limelight ", 0) == 0);
}

TEST_CASE("--bloom-compression and --bloom-hashes: a Bloom model is fitted, saved and shown") {
  TempDir dir;
  const std::string model_path = dir.file("bloom.safetensors");
  const Result fit = run(concat({"fit", "--n-iter", "1", "--representation", "lstm", "--bloom-compression", "0.25",
                                 "--bloom-hashes", "3", "--out", model_path}, kTinyData));
  REQUIRE_MESSAGE(fit.status == 0, fit.err);
  const limelight::LoadedModel loaded = limelight::load_model(model_path);
  CHECK(loaded.model.config().bloom.compression_ratio == 0.25);
  CHECK(loaded.model.config().bloom.num_hash_functions == 3);
  const Result info = run({"info", model_path});
  CHECK(info.out.find("bloom_num_hash_functions: 3") != std::string::npos);
  CHECK(info.out.find("item_embeddings.embeddings.weight [") != std::string::npos);
  const Result lonely = run(concat({"fit", "--n-iter", "1", "--bloom-hashes", "3"}, kTinyData));
  CHECK(lonely.status != 0);
  CHECK(lonely.err.find("--bloom-hashes needs --bloom-compression") != std::string::npos);
  const Result too_many = run(concat({"fit", "--n-iter", "1", "--bloom-compression", "0.5", "--bloom-hashes", "30"},
                                     kTinyData));
  CHECK(too_many.status != 0);
  CHECK(too_many.err.find("bloom-hashes") != std::string::npos);
}

namespace {

// The environment of a running `limelight recommend` (its /proc environ
// once it waits on its input, after the one re-run with passive waiting),
// started with this process's environment less any OMP_WAIT_POLICY and
// GOMP_SPINCOUNT (tests/meson.build sets a policy for the whole suite), plus
// `extra`, and its answer to one line.
std::pair<std::string, std::string> recommend_environment(const std::string& model, const char* extra) {
  int to[2], from[2];
  REQUIRE(::pipe(to) == 0);
  REQUIRE(::pipe(from) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(to[0], 0);
    ::dup2(from[1], 1);
    ::close(to[0]), ::close(to[1]), ::close(from[0]), ::close(from[1]);
    ::unsetenv("OMP_WAIT_POLICY");
    ::unsetenv("GOMP_SPINCOUNT");
    if (extra != nullptr) ::putenv(const_cast<char*>(extra));
    const std::string cli = cli_path();
    ::execl(cli.c_str(), cli.c_str(), "recommend", "--model", model.c_str(), "--k", "3", static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  ::close(to[0]), ::close(from[1]);
  // The answer to a first line comes after the re-run has loaded the model,
  // so the environment read then is the final one.
  const std::string line = "1,2,3\n";
  REQUIRE(::write(to[1], line.data(), line.size()) == static_cast<ssize_t>(line.size()));
  std::string answer;
  char c = 0;
  while (::read(from[0], &c, 1) == 1 && c != '\n') answer += c;
  const std::string environment = read_all("/proc/" + std::to_string(pid) + "/environ");
  ::close(to[1]);
  while (::read(from[0], &c, 1) == 1) {
  }
  ::close(from[0]);
  int status = -1;
  ::waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  return {environment, answer};
}

// Whether /proc's environ text (entries each ending in '\0') holds `entry`.
bool has_entry(const std::string& environment, const std::string& entry) {
  const std::string nul(1, '\0');
  return (nul + environment).find(nul + entry + nul) != std::string::npos;
}

}  // namespace

TEST_CASE("recommend waits passively unless the caller chose libgomp's waiting; answers are the same") {
  const std::string model = fs::path(shared_dir()) / "fixtures" / "spotlight" / "case_pooling.safetensors";
  const auto [plain_env, plain_answer] = recommend_environment(model, nullptr);
  CHECK(has_entry(plain_env, "OMP_WAIT_POLICY=passive"));
  const auto [active_env, active_answer] = recommend_environment(model, "OMP_WAIT_POLICY=active");
  CHECK(has_entry(active_env, "OMP_WAIT_POLICY=active"));
  CHECK_FALSE(has_entry(active_env, "OMP_WAIT_POLICY=passive"));
  const auto [spin_env, spin_answer] = recommend_environment(model, "GOMP_SPINCOUNT=1000");
  CHECK_FALSE(has_entry(spin_env, "OMP_WAIT_POLICY=passive"));
  CHECK(!plain_answer.empty());
  CHECK(plain_answer == active_answer);
  CHECK(plain_answer == spin_answer);
}
