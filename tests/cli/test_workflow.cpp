// The command line as one workflow in which nothing a user does loses work:
// --out checked before training and a model saved elsewhere when saving fails
// after it; recommend answering line by line with --on-error; --user and
// --item-names; the training-data record evaluate relies on; info showing
// only what a file holds; fit --init resuming byte for byte; quoted CSV.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>

#include <chrono>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <xxhash.h>

#include "cli_helpers.hpp"
#include "io/json.hpp"
#include "limelight/model_file.hpp"
#include "limelight/safetensors.hpp"

using namespace cli_test;
namespace json = limelight::json;

namespace {

// Text from parts (avoids GCC 12's false -Wrestrict on "literal" + std::string).
template <class... Parts>
std::string cat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string fixture(const std::string& name) {
  return (fs::path(shared_dir()) / "fixtures" / "spotlight" / name).string();
}

std::string movielens_dir() { return (fs::path(shared_dir()) / "data" / "movielens-100k").string(); }

// The limelight binary running with pipes on its standard input and output
// (standard error goes to a file), for tests that talk to it while it runs.
class Child {
 public:
  Child(const std::vector<std::string>& args, const std::string& err_path) {
    int in[2], out[2];
    REQUIRE(::pipe(in) == 0);
    REQUIRE(::pipe(out) == 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(err, 2);
      ::close(in[1]);
      ::close(out[0]);
      std::vector<std::string> argv_strings = {cli_path()};
      argv_strings.insert(argv_strings.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (std::string& a : argv_strings) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    to_child_ = in[1];
    from_child_ = out[0];
  }
  ~Child() {
    close_input();
    if (from_child_ >= 0) ::close(from_child_);
    if (pid_ > 0 && !waited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  void write(const std::string& text) {
    REQUIRE(::write(to_child_, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  }
  void close_input() {
    if (to_child_ >= 0) ::close(to_child_);
    to_child_ = -1;
  }
  // The next line of its standard output, or "" after `timeout_ms` without one.
  std::string read_line(int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      const std::size_t nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return "";
      pollfd p{from_child_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return "";
      char chunk[4096];
      const ssize_t n = ::read(from_child_, chunk, sizeof chunk);
      if (n <= 0) return "";
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }
  int wait() {
    close_input();
    int status = 0;
    ::waitpid(pid_, &status, 0);
    waited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  }

 private:
  pid_t pid_ = -1;
  int to_child_ = -1, from_child_ = -1;
  bool waited_ = false;
  std::string buffer_;
};

}  // namespace

TEST_CASE("fit --out into a missing folder fails in under a second, before training") {
  TempDir dir;
  for (const std::string& out : {dir.file("no/such/dir/m.safetensors"), dir.path.string()}) {
    CAPTURE(out);
    const auto start = std::chrono::steady_clock::now();
    const Result r = run({"fit", "--n-iter", "1000", "--out", out});
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    MESSAGE("fit --out ", out, ": refused in ", seconds, " s");
    CHECK(r.status == 1);
    CHECK(seconds < 1.0);
    CHECK(contains(r.err, "--out"));
    CHECK(r.out.find("epoch") == std::string::npos);  // no epoch ran
  }
  const Result missing = run({"fit", "--out", dir.file("no/such/dir/m.safetensors")});
  CHECK(contains(missing.err, "the directory " + dir.file("no/such/dir") + " does not exist"));
  CHECK(contains(run({"fit", "--out", dir.path.string()}).err, "is a directory"));
  CHECK(contains(run({"fit", "--save-optimizer"}).err, "--save-optimizer needs --out"));
  CHECK(fs::is_empty(dir.path));  // the probe file is gone
}

TEST_CASE("a model that cannot be saved after training is written beside it, and the metrics still print") {
  TempDir dir;
  const std::string target = dir.file("m.safetensors");
  Child fit(concat({"fit", "--n-iter", "100", "--out", target}, kTinyData), dir.file("err"));
  // Once training runs, a folder takes the model's name: the save must fail.
  std::string line;
  do line = fit.read_line(60000);
  while (!line.empty() && line.rfind("epoch 1/", 0) != 0);
  REQUIRE(line.rfind("epoch 1/", 0) == 0);
  fs::create_directories(fs::path(target) / "in-the-way");
  std::string rest;
  for (std::string l; !(l = fit.read_line(60000)).empty();) rest += l + "\n";
  CHECK(fit.wait() == 1);
  const std::string err = read_all(dir.file("err"));
  const std::string recovered = dir.file("m.recovered.safetensors");
  CHECK(contains(rest, "mrr"));
  CHECK(contains(rest, "saved model to " + recovered));
  CHECK(contains(err, "cannot save the model to " + target));
  CHECK(contains(err, "the model was written to " + recovered + " instead"));
  const limelight::LoadedModel loaded = limelight::load_model(recovered);
  CHECK(loaded.model.num_items() == 30);
}

TEST_CASE("recommend over 300 lines with a bad line 150: skip answers 299, stop 149, in input order") {
  const std::string path = fixture("case_lstm.safetensors");
  const limelight::LoadedModel loaded = limelight::load_model(path);
  std::mt19937 rng(3);
  std::vector<std::vector<std::int32_t>> lines(300);
  std::string input;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i == 149) {
      input += "4,77,2\n";  // line 150: 77 is not an item of a 50-item model
      continue;
    }
    lines[i].resize(1 + rng() % 6);
    for (auto& id : lines[i]) id = static_cast<std::int32_t>(1 + rng() % 49);
    for (std::size_t t = 0; t < lines[i].size(); ++t) input += cat(t ? "," : "", lines[i][t]);
    input += "\n";
  }
  auto check_answers = [&](const Result& r, std::size_t expected) {
    const std::vector<std::string> out = r.out_lines();
    REQUIRE(out.size() == expected);
    std::size_t next = 0;
    for (const std::string& got_line : out) {
      if (next == 149) ++next;  // the bad line has no answer
      const auto want = loaded.model.recommend(lines[next], 3, false);
      const json::Value got = json::parse(got_line);
      REQUIRE(got.at("items").size() == want.size());
      for (std::size_t j = 0; j < want.size(); ++j) CHECK(got.at("items")[j].as_int() == want[j].item);
      ++next;
    }
  };
  const Result skip = run({"recommend", "--model", path, "--k", "3", "--json", "--on-error", "skip"}, input);
  CHECK(skip.status == 1);
  check_answers(skip, 299);
  CHECK(contains(skip.err, "limelight: error: standard input line 150: item id '77' is not an id of the model"));
  CHECK(contains(skip.err, "skipped 1 bad of 300 input lines"));
  const Result stop = run({"recommend", "--model", path, "--k", "3", "--json", "--on-error", "stop"}, input);
  CHECK(stop.status == 1);
  check_answers(stop, 149);
  CHECK(stop.err == "limelight: error: standard input line 150: item id '77' is not an id of the model (expected an "
                    "integer in [0, 50))\n");
  const Result by_default = run({"recommend", "--model", path, "--k", "3", "--json"}, input);
  CHECK(by_default.out == stop.out);
  CHECK(contains(run({"recommend", "--model", path, "--on-error", "ignore"}).err, "--on-error: 'ignore'"));

  // The example: the line before a bad one is answered.
  const Result two = run({"recommend", "--model", path}, "1 3 6\n99999999\n");
  CHECK(two.status == 1);
  CHECK(two.out_lines().size() == 1);
  CHECK(contains(two.err, "standard input line 2"));
}

TEST_CASE("recommend answers each line as it is read, before the next line is written") {
  TempDir dir;
  Child rec({"recommend", "--model", fixture("case_pooling.safetensors"), "--k", "2"}, dir.file("err"));
  rec.write("1,2,3\n");
  const std::string first = rec.read_line(20000);
  CHECK(std::count(first.begin(), first.end(), ':') == 2);
  // The first answer came while the input is still open; so does the second.
  rec.write("4 5\n");
  const std::string second = rec.read_line(20000);
  CHECK(std::count(second.begin(), second.end(), ':') == 2);
  CHECK(rec.wait() == 0);
}

TEST_CASE("--user takes the user's latest history from the data; --item-names prints titles") {
  TempDir dir;
  const std::string model_path = dir.file("ml.safetensors");
  const Result fit = run({"fit", "--movielens", movielens_dir(), "--n-iter", "1", "--out", model_path, "--json"});
  REQUIRE_MESSAGE(fit.status == 0, fit.err);
  const limelight::LoadedModel loaded = limelight::load_model(model_path);
  // User 196's newest window, as to_sequence cuts it.
  const limelight::Interactions data = limelight::load_movielens(movielens_dir());
  const auto user = std::find(data.user_labels.begin(), data.user_labels.end(), "196") - data.user_labels.begin();
  const limelight::SequenceInteractions seqs = data.to_sequence(10);
  std::int64_t newest = -1;
  for (std::int64_t i = 0; i < seqs.num_sequences && newest < 0; ++i)
    if (seqs.user_ids[static_cast<std::size_t>(i)] == user) newest = i;
  REQUIRE(newest >= 0);
  const std::vector<std::int32_t> history(seqs.row(newest), seqs.row(newest) + 10);  // the model's ids equal the data's
  const auto want = loaded.model.recommend(history, 4, false);

  for (const std::string& names : {movielens_dir(), movielens_dir() + "/u.data", movielens_dir() + "/u.item"}) {
    CAPTURE(names);
    const Result rec = run({"recommend", "--model", model_path, "--user", "196", "--k", "4", "--json", "--item-names", names});
    REQUIRE_MESSAGE(rec.status == 0, rec.err);
    const json::Value got = json::parse(rec.out);
    REQUIRE(got.at("items").size() == 4);
    for (std::size_t j = 0; j < 4; ++j) {
      CHECK(got.at("items")[j].as_string() == loaded.item_labels[static_cast<std::size_t>(want[j].item)]);
      CHECK(got.at("names")[j].is_string());
    }
  }
  // Text: id:score "title" pairs; u.item is Latin-1, the output UTF-8.
  const Result text = run({"predict", "--model", model_path, "--user", "196", "--item-ids", "50,1305",
                           "--item-names", movielens_dir()});
  REQUIRE_MESSAGE(text.status == 0, text.err);
  CHECK(contains(text.out, "50 "));
  CHECK(contains(text.out, " Star Wars (1977)\n"));
  CHECK(contains(text.out, " National Lampoon's Senior Trip (1995)\n"));
  const Result rec_text = run({"recommend", "--model", model_path, "--user", "196", "--k", "2", "--item-names", movielens_dir()});
  CHECK(std::count(rec_text.out.begin(), rec_text.out.end(), '"') == 4);
  const Result utf8 = run({"predict", "--model", model_path, "--sequence", "1", "--item-ids", "543", "--item-names", movielens_dir(), "--json"});
  REQUIRE(utf8.status == 0);
  CHECK(json::parse(utf8.out).at("names")[0].as_string() == "Mis\xc3\xa9rables, Les (1995)");

  // --user with the data named explicitly equals the recorded data.
  const Result explicit_data = run({"recommend", "--model", model_path, "--user", "196", "--k", "4", "--json",
                                    "--movielens", movielens_dir()});
  const Result recorded = run({"recommend", "--model", model_path, "--user", "196", "--k", "4", "--json"});
  CHECK(explicit_data.out == recorded.out);
  CHECK(contains(run({"recommend", "--model", model_path, "--user", "nobody"}).err, "--user: 'nobody' is not a user"));
  CHECK(contains(run({"predict", "--model", model_path, "--user", "1", "--sequence", "1"}).err, "exclude each other"));
  CHECK(contains(run({"recommend", "--model", fixture("case_pooling.safetensors"), "--user", "1"}).err,
                 "records no training data"));
}

TEST_CASE("a CSV --user uses --user-column for the csv's user column") {
  TempDir dir;
  std::string csv = "customer,product,time\n";
  for (int u = 0; u < 30; ++u)
    for (int t = 0; t < 8; ++t)
      csv += cat("c", u, ",p", (u + t) % 9, ",", t, "\n");
  write_all(dir.path / "shop.csv", csv);
  write_all(dir.path / "names.csv", "id,name\np1,\"Tea, green\"\np2,\"The \"\"best\"\" jam\"\n");
  const std::string model_path = dir.file("shop.safetensors");
  const Result fit = run({"fit", "--csv", dir.file("shop.csv"), "--user", "customer", "--item", "product", "--timestamp",
                          "time", "--n-iter", "2", "--test-fraction", "0", "--out", model_path});
  REQUIRE_MESSAGE(fit.status == 0, fit.err);
  const Result rec = run({"recommend", "--model", model_path, "--user", "c3", "--csv", dir.file("shop.csv"),
                          "--user-column", "customer", "--item", "product", "--timestamp", "time", "--json", "--k",
                          "9", "--item-names", dir.file("names.csv")});
  REQUIRE_MESSAGE(rec.status == 0, rec.err);
  const json::Value got = json::parse(rec.out);
  bool saw_tea = false, saw_jam = false;
  for (std::size_t j = 0; j < got.at("items").size(); ++j) {
    const std::string id = got.at("items")[j].as_string();
    if (id == "p1") saw_tea = got.at("names")[j].as_string() == "Tea, green";
    if (id == "p2") saw_jam = got.at("names")[j].as_string() == "The \"best\" jam";
    if (id != "p1" && id != "p2") CHECK(got.at("names")[j].is_null());
  }
  CHECK(saw_tea);
  CHECK(saw_jam);
  CHECK(run({"recommend", "--model", model_path, "--user", "c3", "--json", "--k", "9"}).out ==
        run({"recommend", "--model", model_path, "--user", "c3", "--csv", dir.file("shop.csv"), "--user-column",
             "customer", "--item", "product", "--timestamp", "time", "--json", "--k", "9"})
            .out);
}

TEST_CASE("model files record their training data; evaluate uses it unchanged, else names the flags to give") {
  TempDir dir;
  std::string csv = "user,item,ts\n";
  for (int u = 0; u < 50; ++u)
    for (int t = 0; t < 12; ++t) csv += std::to_string(u) + ",i" + std::to_string((u * 3 + t) % 11) + "," + std::to_string(t) + "\n";
  write_all(dir.path / "data.csv", csv);
  const std::string model_path = dir.file("m.safetensors");
  const std::vector<std::string> data = {"--csv", dir.file("data.csv"), "--user", "user", "--item", "item",
                                         "--timestamp", "ts", "--test-fraction", "0.3", "--max-sequence-length", "8"};
  const Result fit = run(concat({"fit", "--n-iter", "2", "--json", "--out", model_path}, data));
  REQUIRE_MESSAGE(fit.status == 0, fit.err);
  const json::Value summary = json::parse(fit.out_lines().back());

  const limelight::LoadedModel loaded = limelight::load_model(model_path);
  const json::Value record = json::parse(loaded.metadata.at("training_data"));
  CHECK(record.at("loader").as_string() == "delimited");
  CHECK(record.at("file").as_string() == "data.csv");
  CHECK(record.at("path").as_string() == fs::absolute(dir.file("data.csv")).lexically_normal().string());
  CHECK(record.at("size").as_int() == static_cast<std::int64_t>(csv.size()));
  char xxh3[17];  // the recorded hash is xxHash's XXH3 64 of the file's bytes
  std::snprintf(xxh3, sizeof xxh3, "%016llx", static_cast<unsigned long long>(XXH3_64bits(csv.data(), csv.size())));
  CHECK(record.at("xxh3_64").as_string() == xxh3);
  CHECK(!record.contains("fnv1a64"));
  CHECK(record.at("user").as_string() == "user");
  CHECK(record.at("timestamp").as_string() == "ts");
  CHECK(record.at("test_fraction").as_double() == 0.3);
  CHECK(record.at("max_sequence_length").as_int() == 8);
  CHECK(loaded.item_labels.size() == 12);  // the vocabulary of item ids (padding included)

  const Result eval = run({"evaluate", "--model", model_path, "--json"});
  REQUIRE_MESSAGE(eval.status == 0, eval.err);
  const json::Value metrics = json::parse(eval.out);
  CHECK(metrics.at("recorded_data").as_bool());
  CHECK(metrics.at("test_sequences").as_int() == summary.at("test_sequences").as_int());
  for (const char* key : {"mrr", "precision_at_k", "recall_at_k", "ndcg_at_k", "hit_rate_at_k"})
    CHECK(metrics.at(key).as_double() == summary.at(key).as_double());

  // A model of 0.1.0 records the file's FNV-1a 64 instead; it is still checked.
  json::Value old_record = json::Value::object();
  for (const auto& [key, value] : record.as_object())
    if (key != "xxh3_64") old_record.set(key, value);
  std::uint64_t fnv = 0xcbf29ce484222325ull;
  for (const char c : csv) fnv = (fnv ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  char fnv_hex[17];
  std::snprintf(fnv_hex, sizeof fnv_hex, "%016llx", static_cast<unsigned long long>(fnv));
  old_record.set("fnv1a64", json::Value(std::string(fnv_hex)));
  limelight::SaveOptions old_options;
  old_options.item_labels = loaded.item_labels;
  old_options.metadata = {{"training_data", json::dump(old_record)}};
  const std::string old_model_path = dir.file("old.safetensors");
  limelight::save_model(old_model_path, loaded.model, old_options);
  const Result old_eval = run({"evaluate", "--model", old_model_path, "--json"});
  REQUIRE_MESSAGE(old_eval.status == 0, old_eval.err);
  CHECK(json::parse(old_eval.out).at("mrr").as_double() == summary.at("mrr").as_double());
  CHECK(contains(run({"info", old_model_path}).out, std::string("fnv1a64 ") + fnv_hex));
  CHECK(contains(run({"info", model_path}).out, std::string("xxh3_64 ") + xxh3));

  write_all(dir.path / "data.csv", csv + "7,i3,99\n");
  const Result changed = run({"evaluate", "--model", model_path});
  CHECK(changed.status == 1);
  CHECK(contains(changed.err, "has changed since"));
  CHECK(contains(changed.err, "--csv PATH"));
  CHECK(contains(run({"evaluate", "--model", old_model_path}).err, "has changed since"));
  fs::remove(dir.path / "data.csv");
  CHECK(contains(run({"evaluate", "--model", model_path}).err, "not there any more; give the data: --movielens PATH"));
  const Result foreign = run({"evaluate", "--model", fixture("case_pooling.safetensors")});
  CHECK(foreign.status == 1);
  CHECK(contains(foreign.err, "records no training data"));
  CHECK(contains(foreign.err, "--synthetic"));
  CHECK(foreign.out.empty());  // no metrics on made-up data
}

TEST_CASE("info shows only what the file holds, and how a model was trained") {
  TempDir dir;
  // A file as written from PyTorch: the parameters and the few entries it needs.
  const std::vector<float> emb(5 * 4, 0.25f), bias(5, 0.0f);
  limelight::io::write_safetensors(dir.file("torch.safetensors"),
                                   {{"item_embeddings.weight", limelight::DType::f32, {5, 4}, emb.data()},
                                    {"item_biases.weight", limelight::DType::f32, {5, 1}, bias.data()}},
                                   {{"representation", "pooling"}, {"num_items", "5"}, {"embedding_dim", "4"}});
  const Result torch = run({"info", dir.file("torch.safetensors")});
  REQUIRE_MESSAGE(torch.status == 0, torch.err);
  for (const char* invented : {"seed", "optimizer", "sparse", "loss", "n_iter", "trained with", "training data"}) {
    CAPTURE(invented);
    CHECK_FALSE(contains(torch.out, invented));
  }
  CHECK(contains(torch.out, "representation: pooling"));
  const json::Value torch_json = json::parse(run({"info", "--json", dir.file("torch.safetensors")}).out);
  CHECK(torch_json.at("config").size() == 3);
  CHECK(torch_json.at("trained_with").size() == 0);

  // Threads other than the default are told apart.
  const Result fit = run(concat({"fit", "--n-iter", "1", "--threads", "2", "--out", dir.file("t2.safetensors")}, kTinyData));
  REQUIRE_MESSAGE(fit.status == 0, fit.err);
  REQUIRE(run(concat({"fit", "--n-iter", "1", "--out", dir.file("t0.safetensors")}, kTinyData)).status == 0);
  CHECK(contains(run({"info", dir.file("t2.safetensors")}).out, "trained with: device cpu, threads 2\n"));
  CHECK(contains(run({"info", dir.file("t0.safetensors")}).out, "threads default"));
  const json::Value t2 = json::parse(run({"info", "--json", dir.file("t2.safetensors")}).out);
  CHECK(t2.at("trained_with").at("threads").as_int() == 2);
  CHECK(t2.at("trained_with").at("device").as_string() == "cpu");
  CHECK(t2.at("training_data").at("loader").as_string() == "synthetic");
  CHECK(t2.at("optimizer_state").is_null());
}

TEST_CASE("fit --init resumes a saved model: 2 + 2 epochs equal 4 byte for byte") {
  TempDir dir;
  for (const std::vector<std::string>& model : std::vector<std::vector<std::string>>{
           {"--representation", "pooling"},
           {"--representation", "lstm", "--loss", "adaptive_hinge", "--num-negative-samples", "2"},
           {"--representation", "cnn", "--sparse", "--loss", "bpr"}}) {
    CAPTURE(model[1]);
    const std::vector<std::string> common = concat(concat({"--save-optimizer", "--json"}, model), kTinyData);
    REQUIRE(run(concat({"fit", "--n-iter", "4", "--out", dir.file("whole.st")}, common)).status == 0);
    const Result half_fit = run(concat({"fit", "--n-iter", "2", "--out", dir.file("half.st")}, common));
    REQUIRE(half_fit.status == 0);
    const std::int64_t batches = (json::parse(half_fit.out_lines().back()).at("train_sequences").as_int() + 255) / 256;
    const limelight::LoadedModel half = limelight::load_model(dir.file("half.st"));
    REQUIRE(half.training_state.has_value());
    CHECK(half.training_state->epochs == 2);
    CHECK(half.training_state->optimizer_steps == 2 * batches);
    // Resumed from the file alone: its configuration and its recorded data.
    const Result resumed =
        run({"fit", "--init", dir.file("half.st"), "--n-iter", "2", "--save-optimizer", "--out", dir.file("resumed.st")});
    REQUIRE_MESSAGE(resumed.status == 0, resumed.err);
    CHECK(contains(resumed.out, "epoch 3/4"));
    CHECK(contains(resumed.out, "optimizer state restored"));
    const std::string whole = read_all(dir.file("whole.st")), again = read_all(dir.file("resumed.st"));
    CHECK(whole.size() > 1000);
    CHECK(whole == again);
    // Without the optimizer state the run differs (fresh moments).
    REQUIRE(run(concat({"fit", "--n-iter", "2", "--json", "--out", dir.file("bare.st")}, concat(model, kTinyData))).status == 0);
    REQUIRE(run({"fit", "--init", dir.file("bare.st"), "--n-iter", "2", "--out", dir.file("bare2.st")}).status == 0);
    CHECK(read_all(dir.file("bare2.st")) != whole);
  }
  const Result mismatch = run({"fit", "--init", dir.file("half.st"), "--embedding-dim", "8"});
  CHECK(mismatch.status == 1);
  CHECK(contains(mismatch.err, "was trained with --embedding-dim 32, this run asks for 8"));
}

TEST_CASE("a quoted CSV loads the same interactions and trains the same model as the unquoted one") {
  TempDir dir;
  std::string plain = "user,item,ts\n", quoted = "\"user\",\"item\",\"ts\"\n";
  for (int u = 0; u < 20; ++u)
    for (int t = 0; t < 6; ++t) {
      const std::string item = cat("i", (u + t) % 7);
      plain += std::to_string(u) + "," + item + "," + std::to_string(t) + "\n";
      quoted += cat("\"", u, "\",\"", item, "\",", t, "\r\n");
    }
  write_all(dir.path / "plain.csv", plain);
  write_all(dir.path / "quoted.csv", quoted);
  for (const char* name : {"plain", "quoted"})
    REQUIRE(run({"fit", "--csv", dir.file(std::string(name) + ".csv"), "--user", "user", "--item", "item",
                 "--timestamp", "ts", "--n-iter", "2", "--test-fraction", "0", "--out", dir.file(std::string(name) + ".st")})
                .status == 0);
  const limelight::LoadedModel a = limelight::load_model(dir.file("plain.st")), b = limelight::load_model(dir.file("quoted.st"));
  CHECK(a.item_labels == b.item_labels);
  CHECK(b.item_labels[1] == "i0");
  const auto pa = a.model.parameters(), pb = b.model.parameters();
  for (std::size_t i = 0; i < pa.size(); ++i)
    CHECK(std::memcmp(pa[i]->value.raw(), pb[i]->value.raw(), pa[i]->value.nbytes()) == 0);
}

TEST_CASE("fit --init with data options maps them onto the saved model's items; a foreign file needs them") {
  TempDir dir;
  std::string csv = "user,item,ts\n";
  for (int u = 0; u < 30; ++u)
    for (int t = 0; t < 8; ++t) csv += cat(u, ",i", (u + t) % 6, ",", t, "\n");
  write_all(dir.path / "old.csv", csv);
  write_all(dir.path / "new.csv", csv + "3,brand-new,9\n4,brand-new,9\n");
  const std::vector<std::string> columns = {"--user", "user", "--item", "item", "--timestamp", "ts"};
  REQUIRE(run(concat({"fit", "--csv", dir.file("old.csv"), "--n-iter", "1", "--out", dir.file("old.st")}, columns)).status == 0);
  const Result more = run(concat({"fit", "--init", dir.file("old.st"), "--csv", dir.file("new.csv"), "--n-iter", "1",
                                  "--out", dir.file("new.st")},
                                 columns));
  REQUIRE_MESSAGE(more.status == 0, more.err);
  CHECK(contains(more.err, "dropped 2 of 242 interactions whose item is not in the model"));
  CHECK(contains(more.out, "epoch 2/2"));
  CHECK(contains(more.out, "fresh optimizer state"));
  CHECK(limelight::load_model(dir.file("new.st")).item_labels == limelight::load_model(dir.file("old.st")).item_labels);
  CHECK(json::parse(limelight::load_model(dir.file("new.st")).metadata.at("training_data")).at("file").as_string() ==
        "new.csv");

  // A file written outside limelight records no data: --init asks for it.
  const Result foreign = run({"fit", "--init", fixture("case_pooling.safetensors"), "--n-iter", "1"});
  CHECK(foreign.status == 1);
  CHECK(contains(foreign.err, "fit --init: "));
  CHECK(contains(foreign.err, "records no training data"));
  const Result given = run({"fit", "--init", fixture("case_pooling.safetensors"), "--synthetic", "--synthetic-items",
                            "50", "--n-iter", "1", "--json"});
  REQUIRE_MESSAGE(given.status == 0, given.err);
  CHECK(json::parse(given.out_lines().back()).at("num_items").as_int() == 50);
}
