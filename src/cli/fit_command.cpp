// `limelight fit`: trains an ImplicitSequenceModel on synthetic, MovieLens or
// delimited data with a user-based test split, shows progress (a bar on a
// terminal, one line per epoch otherwise, JSON lines with --json), reports the
// test metrics and saves the model.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "cli/args.hpp"
#include "cli/commands.hpp"
#include "cli/data_source.hpp"
#include "cli/metrics.hpp"
#include "io/json.hpp"
#include "limelight/error.hpp"
#include "limelight/model.hpp"
#include "limelight/model_file.hpp"

namespace limelight::cli {

namespace {

std::vector<OptionSpec> fit_specs() {
  std::vector<OptionSpec> specs = data_option_specs(
      "fraction of users held out for testing (default 0.2; 0 trains on all users and skips evaluation)");
  const std::vector<OptionSpec> model = {
      {"representation", "NAME", "pooling | cnn | lstm | mixture (default pooling)"},
      {"loss", "NAME", "pointwise | bpr | hinge | adaptive_hinge (default pointwise)"},
      {"embedding-dim", "N", "embedding dimension (default 32)"},
      {"n-iter", "N", "training epochs (default 10)"},
      {"batch-size", "N", "minibatch size in sequences (default 256)"},
      {"l2", "X", "L2 penalty, Adam weight decay (default 0)"},
      {"learning-rate", "X", "Adam learning rate (default 0.01)"},
      {"num-negative-samples", "N", "adaptive_hinge: negatives per positive, 1..5 (default 5)"},
      {"sparse", "", "row-sparse embedding gradients and lazy Adam"},
      {"kernel-width", "LIST", "cnn: kernel width per layer, comma-separated (default 3)"},
      {"dilation", "LIST", "cnn: dilation per layer, comma-separated (default 1)"},
      {"num-layers", "N", "cnn: number of layers (default 1)"},
      {"nonlinearity", "NAME", "cnn: tanh | relu (default tanh)"},
      {"residual", "", "cnn: residual connections (the default)"},
      {"no-residual", "", "cnn: no residual connections"},
      {"num-mixtures", "N", "mixture: number of mixture components (default 4)"},
      {"bloom-compression", "X", "Bloom item embeddings: table rows = int(X * items) (default: off)"},
      {"bloom-hashes", "N", "Bloom item embeddings: hash functions, 1..24 (default 4)"},
      {"seed", "N", "seed of the synthetic data, the split and the model (default 42)"},
      {"threads", "N", "BLAS threads (default: the BLAS library's choice)"},
      {"device", "NAME", "cpu | cuda (default cpu)"},
      {"out", "FILE", "save the trained model (safetensors) to FILE"},
      {"k", "N", "cutoff of the ranking metrics (default 10)"},
      {"json", "", "print JSON lines on standard output"},
  };
  specs.insert(specs.end(), model.begin(), model.end());
  return specs;
}

ModelConfig model_config(const Args& args) {
  ModelConfig c;
  c.representation = args.text("representation", c.representation);
  c.loss = args.text("loss", c.loss);
  c.embedding_dim = static_cast<int>(args.integer("embedding-dim", c.embedding_dim, 1, 1 << 16));
  c.n_iter = static_cast<int>(args.integer("n-iter", c.n_iter, 1, 1 << 30));
  c.batch_size = static_cast<int>(args.integer("batch-size", c.batch_size, 1, 1 << 30));
  c.l2 = args.number("l2", c.l2, 0.0, 1e30);
  c.learning_rate = args.number("learning-rate", c.learning_rate, 1e-30, 1e30);
  c.num_negative_samples =
      static_cast<int>(args.integer("num-negative-samples", c.num_negative_samples, 1, 5));
  c.sparse = args.flag("sparse");
  c.cnn.kernel_width = args.int_list("kernel-width", c.cnn.kernel_width, 1, 4096);
  c.cnn.dilation = args.int_list("dilation", c.cnn.dilation, 1, 4096);
  c.cnn.num_layers = static_cast<int>(args.integer("num-layers", c.cnn.num_layers, 1, 1024));
  c.cnn.nonlinearity = args.text("nonlinearity", c.cnn.nonlinearity);
  LL_CHECK(!(args.flag("residual") && args.flag("no-residual")), "--residual and --no-residual exclude each other");
  c.cnn.residual = !args.flag("no-residual");
  c.num_mixtures = static_cast<int>(args.integer("num-mixtures", c.num_mixtures, 1, 64));
  c.bloom.compression_ratio = args.number("bloom-compression", 0.0, 1e-30, 1e30);
  c.bloom.num_hash_functions = static_cast<int>(args.integer("bloom-hashes", c.bloom.num_hash_functions, 1, 24));
  LL_CHECK(c.bloom.enabled() || !args.has("bloom-hashes"), "--bloom-hashes needs --bloom-compression");
  c.seed = static_cast<std::uint64_t>(args.integer("seed", 42, 0, INT64_MAX));
  c.threads = static_cast<int>(args.integer("threads", 0, 0, 4096));
  c.device = args.text("device", c.device);
  c.validate();
  return c;
}

std::string clock_text(double seconds) {
  const auto s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%lld:%02lld", s / 60, s % 60);
  return buf;
}

// The terminal progress bar: epoch, bar, sequences/s and the ETA of the whole
// fit, redrawn at most ten times a second on standard error.
class ProgressBar {
 public:
  ProgressBar(int n_iter, std::int64_t sequences, int batch_size)
      : n_iter_(n_iter), sequences_(sequences), batch_size_(batch_size) {}

  void batch(int epoch, std::int64_t done, std::int64_t total) {
    using clock = std::chrono::steady_clock;
    const auto now = clock::now();
    if (done < total && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    const std::int64_t seqs = std::min<std::int64_t>(done * batch_size_, sequences_);
    const double elapsed = std::chrono::duration<double>(now - epoch_start_).count();
    const double rate = elapsed > 0 ? static_cast<double>(seqs) / elapsed : 0.0;
    const double remaining =
        static_cast<double>(sequences_ - seqs) + static_cast<double>(n_iter_ - epoch - 1) * sequences_;
    constexpr int width = 30;
    const int filled = static_cast<int>(width * done / total);
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.resize(width, '.');
    std::fprintf(stderr, "\r\x1b[Kepoch %d/%d [%s] %3d%%  %.0f seq/s  ETA %s", epoch + 1, n_iter_, bar.c_str(),
                 static_cast<int>(100 * done / total), rate, rate > 0 ? clock_text(remaining / rate).c_str() : "?");
    std::fflush(stderr);
  }
  // Called when an epoch starts: the rate counts from here.
  void start_epoch() { epoch_start_ = std::chrono::steady_clock::now(); }
  void clear() {
    std::fprintf(stderr, "\r\x1b[K");
    std::fflush(stderr);
  }

 private:
  int n_iter_;
  std::int64_t sequences_;
  int batch_size_;
  std::chrono::steady_clock::time_point epoch_start_{}, last_draw_{};
};

}  // namespace

int run_fit(int argc, char** argv, int first) {
  Args args("fit", fit_specs());
  if (wants_help(argc, argv, first)) {
    std::cout << "usage: limelight fit [options]\n\n"
                 "Trains a sequence recommender and reports its test metrics. Data: the built-in\n"
                 "synthetic set unless --movielens or --csv is given.\n\noptions:\n"
              << args.options_help();
    return 0;
  }
  args.parse(argc, argv, first);
  LL_CHECK(args.positionals().empty(), "fit takes no positional argument, got ", printable(args.positionals()[0]));
  const ModelConfig config = model_config(args);
  const double test_fraction = args.number("test-fraction", 0.2, 0.0, 1.0);
  const SequenceWindows windows = sequence_windows(args);
  const int k = static_cast<int>(args.integer("k", 10, 1, 1 << 20));
  const bool as_json = args.flag("json");
  const std::string out_path = args.text("out");
  LL_CHECK(!args.has("out") || !out_path.empty(), "--out: empty file name");

  const Dataset data = load_dataset(args, config.seed);
  const Interactions& all = data.interactions;
  Interactions train_part, test_part;
  if (test_fraction > 0) {
    std::tie(train_part, test_part) = user_based_train_test_split(all, test_fraction, config.seed);
    LL_CHECK(train_part.size() > 0, "--test-fraction ", test_fraction, " leaves no training users");
  }
  const Interactions& train_data = test_fraction > 0 ? train_part : all;
  const SequenceInteractions train = to_sequences(train_data, windows);
  LL_CHECK(train.num_sequences > 0, "no training sequences (lower --min-sequence-length)");
  SequenceInteractions test;
  if (test_fraction > 0 && test_part.size() > 0) test = to_sequences(test_part, windows);
  LL_CHECK(test_fraction == 0 || test.num_sequences > 0, "the test split has no sequences (",
           test_part.size(), " test interactions); raise --test-fraction, or use --test-fraction 0 to skip evaluation");

  if (!as_json) {
    std::cout << "data: " << data.description << "\n"
              << "      " << all.num_users << " users, " << all.num_items << " item ids, " << all.size()
              << " interactions; " << train.num_sequences << " train / " << test.num_sequences
              << " test sequences of length " << windows.max_length << "\n"
              << "model: " << config.representation << ", " << config.loss << " loss, embedding_dim "
              << config.embedding_dim << ", " << config.n_iter << " epochs\n";
    std::cout.flush();
  }

  ImplicitSequenceModel model(config);
  const bool tty = isatty(STDERR_FILENO) == 1;
  ProgressBar bar(config.n_iter, train.num_sequences, config.batch_size);
  int current_epoch = 0;
  FitCallbacks callbacks;
  if (tty) callbacks.on_batch = [&](std::int64_t done, std::int64_t total) { bar.batch(current_epoch, done, total); };
  callbacks.on_epoch = [&](const EpochReport& r) {
    if (tty) bar.clear();
    bar.start_epoch();
    current_epoch = r.epoch + 1;
    if (as_json) {
      json::Value line = json::Value::object();
      line.set("epoch", json::Value(r.epoch)).set("loss", json::Value(r.loss)).set("seconds", json::Value(r.seconds));
      std::cout << json::dump(line) << "\n";
    } else {
      char buf[128];
      std::snprintf(buf, sizeof buf, "epoch %d/%d  loss %.4f  %.2f s\n", r.epoch + 1, config.n_iter, r.loss,
                    r.seconds);
      std::cout << buf;
    }
    std::cout.flush();
  };
  bar.start_epoch();
  model.fit(train, callbacks);
  if (!out_path.empty()) save_model(out_path, model, all.item_labels);

  json::Value summary = json::Value::object();
  summary.set("num_users", json::Value(all.num_users))
      .set("num_items", json::Value(all.num_items))
      .set("num_interactions", json::Value(all.size()))
      .set("train_sequences", json::Value(train.num_sequences))
      .set("test_sequences", json::Value(test.num_sequences));
  std::string text;
  if (test_fraction > 0) {
    const Metrics metrics = evaluate_test_set(model, test, k, false);
    add_metrics(summary, metrics);
    text = "test metrics (" + std::to_string(test.num_sequences) + " sequences):\n" + metrics_text(metrics);
  } else {
    text = "no test split (--test-fraction 0): evaluation skipped\n";
  }
  if (!out_path.empty()) summary.set("model", json::Value(out_path));
  if (as_json) {
    std::cout << json::dump(summary) << "\n";
  } else {
    std::cout << text;
    if (!out_path.empty()) std::cout << "saved model to " << out_path << "\n";
  }
  std::cout.flush();
  return 0;
}

}  // namespace limelight::cli
