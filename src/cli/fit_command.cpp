// `limelight fit`: trains an ImplicitSequenceModel on synthetic, MovieLens or
// delimited data with a user-based test split (or continues a saved model with
// --init), shows progress (a bar on a terminal, one line per epoch otherwise,
// JSON lines with --json), reports the test metrics and saves the model with
// the record of its training data. The output path is checked before any
// work; a model that cannot be saved after training is written elsewhere.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <sstream>
#include <utility>

#include "cli/args.hpp"
#include "cli/commands.hpp"
#include "cli/data_source.hpp"
#include "cli/metrics.hpp"
#include "cli/model_options.hpp"
#include "cli/output_file.hpp"
#include "cli/training_data.hpp"
#include "distributed/sharded_table.hpp"
#include "io/json.hpp"
#include "limelight/distributed.hpp"
#include "limelight/error.hpp"
#include "limelight/model.hpp"
#include "limelight/model_file.hpp"

namespace limelight::cli {

namespace {

Command fit_command() {
  // Without a fallback of their own the model's defaults are ModelConfig's.
  const std::vector<Option> model = {
      {"representation", "NAME", opt::text(), "pooling | cnn | lstm | mixture (default pooling)"},
      {"loss", "NAME", opt::text(), "pointwise | bpr | hinge | adaptive_hinge (default pointwise)"},
      {"embedding-dim", "N", opt::integer(1, 1 << 16), "embedding dimension (default 32)"},
      {"n-iter", "N", opt::integer(1, 1 << 30), "training epochs (default 10)"},
      {"batch-size", "N", opt::integer(1, 1 << 30), "minibatch size in sequences (default 256)"},
      {"l2", "X", opt::number(0.0, 1e30), "L2 penalty, Adam weight decay (default 0)"},
      {"learning-rate", "X", opt::number(1e-30, 1e30), "Adam learning rate (default 0.01)"},
      {"num-negative-samples", "N", opt::integer(1, 5), "adaptive_hinge: negatives per positive, 1..5 (default 5)"},
      {"sparse", "", opt::flag(), "row-sparse embedding gradients and lazy Adam"},
      {"shard-items", "", opt::flag(),
       "under mpirun: split the item embeddings, biases and their Adam moments by row across the ranks"},
      {"kernel-width", "LIST", opt::int_list(1, 4096), "cnn: kernel width per layer, comma-separated (default 3)"},
      {"dilation", "LIST", opt::int_list(1, 4096), "cnn: dilation per layer, comma-separated (default 1)"},
      {"num-layers", "N", opt::integer(1, 1024), "cnn: number of layers (default 1)"},
      {"nonlinearity", "NAME", opt::text(), "cnn: tanh | relu (default tanh)"},
      {"residual", "", opt::flag(), "cnn: residual connections (the default)"},
      {"no-residual", "", opt::flag(), "cnn: no residual connections"},
      {"num-mixtures", "N", opt::integer(1, 64), "mixture: number of mixture components (default 4)"},
      {"bloom-compression", "X", opt::number(1e-30, 1e30),
       "Bloom item embeddings: table rows = int(X * items) (default: off)"},
      {"bloom-hashes", "N", opt::integer(1, 24), "Bloom item embeddings: hash functions, 1..24 (default 4)"},
      seed_option("seed of the synthetic data, the split and the model (default 42)"),
      {"threads", "N", opt::integer(0, 4096, 0), "CPU threads (default: OpenMP's choice); recorded in the model file"},
      {"device", "NAME", opt::text("cpu"), "cpu | cuda (default cpu); recorded in the model file"},
      {"init", "FILE", opt::text(),
       "continue training this saved model (same configuration; its training data by default)"},
      {"save-optimizer", "", opt::flag(),
       "also save Adam's moments and step count and the random state, so --init resumes exactly"},
      {"out", "FILE", opt::text(), "save the trained model (safetensors) to FILE"},
      {"checkpoint", "FILE", opt::text(),
       "every --checkpoint-every epochs, save the model with its optimizer state to FILE (atomically), "
       "for fit --init to resume from"},
      {"checkpoint-every", "N", opt::integer(1, 1 << 30), "epochs between checkpoints (default 1; needs --checkpoint)"},
      metrics_k_option(),
      {"json", "", opt::flag(), "print JSON lines on standard output"},
  };
  return {"fit",
          "usage: limelight fit [options]\n\n"
          "Trains a sequence recommender and reports its test metrics. Data: the built-in\n"
          "synthetic set unless --movielens or --csv is given (with --init: the saved model's\n"
          "training data). --out is checked before training starts.\n",
          join({data_source_options(),
                window_split_options("fraction of users held out for testing (default 0.2; 0 trains on all users "
                                     "and skips evaluation)"),
                model})};
}

// The configuration the options ask for, each option defaulting to `base`.
ModelConfig model_config(const Args& args, const ModelConfig& base) {
  ModelConfig c = base;
  c.representation = parse_representation(args.text("representation", representation_name(c.representation)));
  c.loss = args.text("loss", c.loss);
  c.embedding_dim = static_cast<int>(args.integer("embedding-dim", c.embedding_dim));
  c.n_iter = static_cast<int>(args.integer("n-iter", ModelConfig{}.n_iter));
  c.batch_size = static_cast<int>(args.integer("batch-size", c.batch_size));
  c.l2 = args.number("l2", c.l2);
  c.learning_rate = args.number("learning-rate", c.learning_rate);
  c.num_negative_samples = static_cast<int>(args.integer("num-negative-samples", c.num_negative_samples));
  c.sparse = c.sparse || args.flag("sparse");
  c.cnn.kernel_width = args.int_list("kernel-width", c.cnn.kernel_width);
  c.cnn.dilation = args.int_list("dilation", c.cnn.dilation);
  c.cnn.num_layers = static_cast<int>(args.integer("num-layers", c.cnn.num_layers));
  c.cnn.nonlinearity = args.text("nonlinearity", c.cnn.nonlinearity);
  LL_CHECK(!(args.flag("residual") && args.flag("no-residual")), "--residual and --no-residual exclude each other");
  if (args.flag("residual")) c.cnn.residual = true;
  if (args.flag("no-residual")) c.cnn.residual = false;
  c.num_mixtures = static_cast<int>(args.integer("num-mixtures", c.num_mixtures));
  c.bloom.compression_ratio = args.number("bloom-compression", c.bloom.compression_ratio);
  c.bloom.num_hash_functions = static_cast<int>(args.integer("bloom-hashes", c.bloom.num_hash_functions));
  LL_CHECK(c.bloom.enabled() || !args.has("bloom-hashes"), "--bloom-hashes needs --bloom-compression");
  c.seed = static_cast<std::uint64_t>(args.integer("seed", static_cast<std::int64_t>(c.seed)));
  c.threads = static_cast<int>(args.integer("threads"));
  c.device = args.text("device");
  c.validate();
  return c;
}

// cnn options hold one value per layer or one for all: compare them expanded.
std::vector<int> per_layer(const std::vector<int>& v, int layers) {
  return v.size() == 1 ? std::vector<int>(static_cast<std::size_t>(layers), v[0]) : v;
}

// fit --init continues the saved configuration: Error naming the first
// setting the options change (the epochs, threads and device may change).
void check_same_configuration(const ModelConfig& saved, const ModelConfig& asked, const std::string& path) {
  auto differ = [&](const char* option, const auto& was, const auto& now) {
    std::ostringstream msg;
    msg << "--init: " << path << " was trained with --" << option << " " << was << ", this run asks for " << now
        << " (fit --init continues the saved configuration; leave --" << option << " out)";
    detail::fail(msg.str());
  };
  auto list = [](const std::vector<int>& v) {
    std::string s;
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (i > 0) s += ',';
      s += std::to_string(v[i]);
    }
    return s;
  };
  if (saved.representation != asked.representation)
    differ("representation", representation_name(saved.representation), representation_name(asked.representation));
  if (saved.loss != asked.loss) differ("loss", saved.loss, asked.loss);
  if (saved.embedding_dim != asked.embedding_dim) differ("embedding-dim", saved.embedding_dim, asked.embedding_dim);
  if (saved.batch_size != asked.batch_size) differ("batch-size", saved.batch_size, asked.batch_size);
  if (saved.l2 != asked.l2) differ("l2", saved.l2, asked.l2);
  if (saved.learning_rate != asked.learning_rate) differ("learning-rate", saved.learning_rate, asked.learning_rate);
  if (saved.loss == "adaptive_hinge" && saved.num_negative_samples != asked.num_negative_samples)
    differ("num-negative-samples", saved.num_negative_samples, asked.num_negative_samples);
  if (saved.sparse != asked.sparse) differ("sparse", saved.sparse ? "on" : "off", asked.sparse ? "on" : "off");
  if (saved.seed != asked.seed) differ("seed", saved.seed, asked.seed);
  if (saved.representation == Representation::cnn) {
    const int layers = saved.cnn.num_layers;
    if (layers != asked.cnn.num_layers) differ("num-layers", layers, asked.cnn.num_layers);
    if (per_layer(saved.cnn.kernel_width, layers) != per_layer(asked.cnn.kernel_width, layers))
      differ("kernel-width", list(saved.cnn.kernel_width), list(asked.cnn.kernel_width));
    if (per_layer(saved.cnn.dilation, layers) != per_layer(asked.cnn.dilation, layers))
      differ("dilation", list(saved.cnn.dilation), list(asked.cnn.dilation));
    if (saved.cnn.nonlinearity != asked.cnn.nonlinearity)
      differ("nonlinearity", saved.cnn.nonlinearity, asked.cnn.nonlinearity);
    if (saved.cnn.residual != asked.cnn.residual)
      differ("residual", saved.cnn.residual ? "on" : "off", asked.cnn.residual ? "on" : "off");
  }
  if (saved.representation == Representation::mixture && saved.num_mixtures != asked.num_mixtures)
    differ("num-mixtures", saved.num_mixtures, asked.num_mixtures);
  if (saved.bloom.compression_ratio != asked.bloom.compression_ratio)
    differ("bloom-compression", saved.bloom.compression_ratio, asked.bloom.compression_ratio);
  if (saved.bloom.enabled() && saved.bloom.num_hash_functions != asked.bloom.num_hash_functions)
    differ("bloom-hashes", saved.bloom.num_hash_functions, asked.bloom.num_hash_functions);
}

// The epochs a saved model's parameters were trained for, as its file says.
int saved_epochs(const LoadedModel& loaded) {
  if (loaded.training_state) return loaded.training_state->epochs;
  const auto format = loaded.metadata.find("format");
  const bool ours = format != loaded.metadata.end() && format->second == model_format;
  return ours ? loaded.model.config().n_iter : 0;
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

// Everything fit needs before its first epoch: the options, the data and
// the model (fresh, or continued from --init).
struct FitSetup {
  bool as_json = false, save_optimizer = false;
  std::string out_path, checkpoint_path;
  int checkpoint_every = 0;
  std::optional<LoadedModel> init;
  ModelConfig config;
  ModelData source;
  int k = 1;
  Interactions all;
  std::vector<std::string> item_labels;
  SequenceInteractions train, test;
  std::optional<ImplicitSequenceModel> model;
  int first_epoch = 0;
};

// Reads the options and the data and builds the model. `writes` is false
// on the ranks of a distributed run that do not write the output (rank 0
// alone checks --out and saves).
void prepare_fit(const Args& args, bool writes, distributed::Communicator& comm, FitSetup& s) {
  s.as_json = args.flag("json");
  s.save_optimizer = args.flag("save-optimizer");
  s.out_path = args.text("out");
  // Every output is checked before the data is read or an epoch is run.
  if (args.has("out") && writes) check_output_path(s.out_path, "--out");
  LL_CHECK(!s.save_optimizer || args.has("out"), "--save-optimizer needs --out FILE");
  LL_CHECK(!args.has("checkpoint-every") || args.has("checkpoint"), "--checkpoint-every needs --checkpoint FILE");
  if (args.has("checkpoint")) {
    s.checkpoint_path = args.text("checkpoint");
    s.checkpoint_every = static_cast<int>(args.integer("checkpoint-every", 1));
    LL_CHECK(s.checkpoint_path != s.out_path, "--checkpoint and --out name the same file ", s.out_path,
             "; a checkpoint is written while the job runs, --out when it ends");
    if (writes) check_output_path(s.checkpoint_path, "--checkpoint");
  }

  if (args.has("init")) s.init.emplace(load_model(args.text("init")));
  s.config = model_config(args, s.init ? s.init->model.config() : ModelConfig{});
  if (s.init) check_same_configuration(s.init->model.config(), s.config, args.text("init"));

  // The data: the options, or for --init without them the saved model's record.
  ModelData& source = s.source;
  if (s.init) {
    source = data_for_model(args, *s.init, args.text("init"), "fit --init", 0.2);
  } else {
    source.seed = s.config.seed;
    source.windows = sequence_windows(args);
    source.test_fraction = args.number("test-fraction", 0.2);
  }
  const SequenceWindows& windows = source.windows;
  const double test_fraction = source.test_fraction;
  // k is at least 1: below the window length, it also means windows of two items or more.
  s.k = metrics_cutoff(args, windows.max_length, test_fraction > 0);
  if (!s.init) source.data = load_dataset(data_spec(args, s.config.seed));
  const Dataset& data = source.data;

  // With --init the data's items are the saved model's ids (unknown ones dropped).
  s.all = data.interactions;
  s.item_labels = s.all.item_labels;
  if (s.init) {
    const LabelIndex ids = item_ids(*s.init);
    std::size_t dropped = 0;
    s.all = map_to_model(data.interactions, ids, dropped);
    if (dropped > 0 && writes)
      std::cerr << "limelight: note: dropped " << dropped << " of " << data.interactions.size()
                << " interactions whose item is not in the model " << args.text("init") << "\n";
    s.item_labels = s.init->item_labels;
  }
  Interactions train_part, test_part;
  if (test_fraction > 0) {
    std::tie(train_part, test_part) = user_based_train_test_split(s.all, test_fraction, source.seed);
    LL_CHECK(train_part.size() > 0, "--test-fraction ", test_fraction, " leaves no training users");
  }
  const Interactions& train_data = test_fraction > 0 ? train_part : s.all;
  s.train = to_sequences(train_data, windows);
  LL_CHECK(s.train.num_sequences > 0, "no training sequences (lower --min-sequence-length)");
  if (test_fraction > 0 && test_part.size() > 0) s.test = to_sequences(test_part, windows);
  LL_CHECK(test_fraction == 0 || s.test.num_sequences > 0, "the test split has no sequences (", test_part.size(),
           " test interactions); raise --test-fraction, or use --test-fraction 0 to skip evaluation");

  const bool shard = args.flag("shard-items");
  if (comm.size() > 1) {
    LL_CHECK(!(s.config.sparse && s.config.device == "cuda"), "--sparse with --device cuda trains in one process ",
             "only in this version (under mpirun, leave out --sparse or use --device cpu)");
    LL_CHECK(!(shard && s.config.device == "cuda"), "--shard-items trains on the CPU only in this version ",
             "(leave out --shard-items or use --device cpu)");
  }
  ImplicitSequenceModel& model = s.model.emplace(s.config);
  if (shard) model.initialize(s.init ? s.init->model.num_items() : s.train.num_items, comm);
  if (s.init) {
    if (!shard) model.initialize(s.init->model.num_items());
    // A sharded table takes this rank's block of the saved rows (and of
    // their moments): a file of any world size resumes at any other.
    const std::vector<const Parameter*> saved = std::as_const(s.init->model).parameters();
    const std::vector<Parameter*> params = model.parameters();
    auto restored = [&](const Tensor& full, const Parameter& p) {
      return p.value.shape() == full.shape() ? full : distributed::rows_of_rank(full, comm.rank(), comm.size());
    };
    for (std::size_t i = 0; i < params.size(); ++i)
      params[i]->value.copy_from(restored(saved[i]->value, *params[i]));
    if (s.init->training_state) {
      TrainingState state = *s.init->training_state;
      for (std::size_t i = 0; i < params.size(); ++i) {
        state.exp_avg[i] = restored(state.exp_avg[i], *params[i]);
        state.exp_avg_sq[i] = restored(state.exp_avg_sq[i], *params[i]);
      }
      model.restore_training_state(state);
    } else {
      model.set_epochs_trained(saved_epochs(*s.init));
    }
    s.first_epoch = model.epochs_trained();
  }
}

// What a saved model records beside its parameters: the item labels, the
// training data (so that fit --init and evaluate find it), where it was
// trained, and the optimizer state when asked.
SaveOptions save_options(const FitSetup& s, bool training_state, int world_size) {
  SaveOptions save;
  save.item_labels = s.item_labels;
  save.training_state = training_state;
  save.metadata[training_data_key] = training_data_json(
      TrainingData{s.source.data.spec, s.source.windows, s.source.test_fraction, s.source.seed});
  // Where it was trained: results differ between thread counts in the last bits.
  save.metadata["device"] = s.config.device;
  save.metadata["threads"] = std::to_string(s.config.threads);
  if (world_size > 1) save.metadata["ranks"] = std::to_string(world_size);
  return save;
}

// After training: saves the model (with the record of its training data),
// evaluates it on the test split and prints the summary. Returns the exit
// status: 1 when the model could not be saved where asked. Under mpirun
// every rank evaluates its share; rank 0 alone saves and prints.
int finish_fit(const FitSetup& s, distributed::Communicator& comm) {
  const ImplicitSequenceModel& model = *s.model;
  const int world_size = comm.size();
  const bool speaks = comm.rank() == 0;
  const double test_fraction = s.source.test_fraction;
  SaveOutcome saved;
  if (!s.out_path.empty() && model.items_sharded()) {
    // Every rank sends its rows as rank 0 writes; a failure there ends the
    // job (the others are mid-gather), leaving no file and any old one intact.
    save_model_gathered(s.out_path, model, save_options(s, s.save_optimizer, world_size), comm);
    saved.written_to = s.out_path;
  } else if (!s.out_path.empty() && speaks) {
    const SaveOptions save = save_options(s, s.save_optimizer, world_size);
    saved = save_with_fallback(s.out_path, [&](const std::string& p) { save_model(p, model, save); });
  }

  json::Value summary = json::Value::object();
  summary.set("num_users", json::Value(s.all.num_users))
      .set("num_items", json::Value(s.all.num_items))
      .set("num_interactions", json::Value(s.all.size()))
      .set("train_sequences", json::Value(s.train.num_sequences))
      .set("test_sequences", json::Value(s.test.num_sequences));
  if (world_size > 1) summary.set("world_size", json::Value(world_size));
  std::string text;
  if (test_fraction > 0) {
    const Metrics metrics = evaluate_test_set(model, s.test, s.k, false, comm);
    add_metrics(summary, metrics);
    text = "test metrics (" + std::to_string(s.test.num_sequences) + " sequences):\n" + metrics_text(metrics);
  } else {
    text = "no test split (--test-fraction 0): evaluation skipped\n";
  }
  if (!saved.written_to.empty()) summary.set("model", json::Value(saved.written_to));
  if (!speaks) return 0;
  if (s.as_json) {
    std::cout << json::dump(summary) << "\n";
  } else {
    std::cout << text;
    if (!saved.written_to.empty()) std::cout << "saved model to " << saved.written_to << "\n";
  }
  std::cout.flush();
  if (!saved.error.empty()) {
    std::cerr << "limelight: error: cannot save the model to " << s.out_path << ": " << saved.error << "; "
              << (saved.written_to.empty() ? "it could not be written anywhere else either"
                                           : "the model was written to " + saved.written_to + " instead")
              << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

int run_fit(int argc, char** argv, int first) {
  Args args(fit_command());
  if (!args.parse(argc, argv, first)) return 0;  // --help
  // Under mpirun every rank runs this; rank 0 alone prints and writes.
  distributed::Communicator& comm = distributed::world();
  const bool speaks = comm.rank() == 0;
  FitSetup s;
  distributed::agree(comm, [&] { prepare_fit(args, speaks, comm, s); });
  const ModelConfig& config = s.config;
  const SequenceInteractions& train = s.train;
  const SequenceInteractions& test = s.test;
  const Dataset& data = s.source.data;
  const SequenceWindows& windows = s.source.windows;
  const bool as_json = s.as_json;
  ImplicitSequenceModel& model = *s.model;
  const int first_epoch = s.first_epoch;

  if (!as_json && speaks) {
    std::cout << "data: " << data.description << (s.source.recorded ? " (recorded in the model)" : "") << "\n"
              << "      " << s.all.num_users << " users, " << s.all.num_items << " item ids, " << s.all.size()
              << " interactions; " << train.num_sequences << " train / " << test.num_sequences
              << " test sequences of length " << windows.max_length << "\n"
              << "model: " << representation_name(config.representation) << ", " << config.loss
              << " loss, embedding_dim " << config.embedding_dim << ", " << config.n_iter << " epochs";
    if (s.init)
      std::cout << " from " << args.text("init") << " (" << first_epoch << " epochs trained"
                << (s.init->training_state ? ", optimizer state restored" : ", fresh optimizer state") << ")";
    std::cout << "\n";
    if (comm.size() > 1)
      std::cout << "ranks: " << comm.size() << " (" << comm.runtime() << "), each with "
                << (config.threads > 0 ? std::to_string(config.threads) : std::string("OpenMP's default"))
                << " threads; the batch of " << config.batch_size << " is split across them\n";
    std::cout.flush();
  }

  const bool tty = speaks && isatty(STDERR_FILENO) == 1;
  const int last_epoch = first_epoch + config.n_iter;
  ProgressBar bar(config.n_iter, train.num_sequences, config.batch_size);
  int current_epoch = 0;
  FitCallbacks callbacks;
  if (tty) callbacks.on_batch = [&](std::int64_t done, std::int64_t total) { bar.batch(current_epoch, done, total); };
  const std::optional<SaveOptions> checkpoint =
      s.checkpoint_every > 0 ? std::optional<SaveOptions>(save_options(s, true, comm.size())) : std::nullopt;
  callbacks.on_epoch = [&](const EpochReport& r) {
    // Rank 0 writes it (gathering a sharded table's rows from every rank):
    // a new file in place of the old in one rename, so a job that dies
    // keeps the last.
    const bool checkpoints = checkpoint && (r.epoch + 1 - first_epoch) % s.checkpoint_every == 0;
    if (checkpoints) save_model_gathered(s.checkpoint_path, model, *checkpoint, comm);
    if (!speaks) return;
    if (tty) bar.clear();
    bar.start_epoch();
    current_epoch = r.epoch + 1 - first_epoch;
    if (as_json) {
      json::Value line = json::Value::object();
      line.set("epoch", json::Value(r.epoch)).set("loss", json::Value(r.loss)).set("seconds", json::Value(r.seconds));
      if (checkpoints) line.set("checkpoint", json::Value(s.checkpoint_path));
      std::cout << json::dump(line) << "\n";
    } else {
      char buf[128];
      std::snprintf(buf, sizeof buf, "epoch %d/%d  loss %.4f  %.2f s\n", r.epoch + 1, last_epoch, r.loss,
                    r.seconds);
      std::cout << buf;
    }
    std::cout.flush();
  };
  bar.start_epoch();
  model.fit(train, callbacks, comm);

  // Rank 0 writes the model (every rank holds the same one); every rank
  // ends with the worst status, so that mpirun's is the run's.
  const int status = finish_fit(s, comm);
  const std::int64_t worst = comm.all_reduce_max(status);
  return static_cast<int>(worst);
}

}  // namespace limelight::cli
