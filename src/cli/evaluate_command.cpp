// `limelight evaluate`: the test metrics of a saved model on synthetic,
// MovieLens or delimited data, split into users as `limelight fit` splits
// them, with the data's item ids mapped through the model's item ids.
// Without data options it uses the training data the model file records,
// when that data is unchanged, and refuses otherwise.
#include <iostream>
#include <optional>

#include "cli/args.hpp"
#include "cli/commands.hpp"
#include "cli/data_source.hpp"
#include "cli/metrics.hpp"
#include "cli/model_options.hpp"
#include "cli/sequence_input.hpp"
#include "cli/training_data.hpp"
#include "io/json.hpp"
#include "limelight/distributed.hpp"
#include "limelight/error.hpp"
#include "limelight/model_file.hpp"

namespace limelight::cli {

namespace {

Command evaluate_command() {
  return {"evaluate",
          "usage: limelight evaluate --model FILE [data options] [options]\n\n"
          "Evaluates a saved model. Without data options it uses the training data the model\n"
          "file records (when that file is unchanged), with fit's windows, split and seed, so\n"
          "it scores fit's test users. With data options, --test-fraction and --seed select\n"
          "the same users fit held out. Interactions whose item the model does not know are\n"
          "dropped, and their number is reported.\n",
          join({{model_option()},
                data_source_options(),
                window_split_options("fraction of users evaluated, the same users `limelight fit` held out for the "
                                     "same data, fraction and seed (default: the recorded fraction, else 0.2; 1 "
                                     "evaluates every user)"),
                {seed_option("seed of the synthetic data and the split (default: the recorded one, else the model's)"),
                 metrics_k_option(),
                 {"exclude-preceding", "", opt::flag(), "rank the items of each input sequence last"},
                 device_option(),
                 {"json", "", opt::flag(), "print one JSON object on standard output"}}})};
}

}  // namespace

int run_evaluate(int argc, char** argv, int first) {
  Args args(evaluate_command());
  if (!args.parse(argc, argv, first)) return 0;  // --help
  const std::string path = args.text("model");
  const bool as_json = args.flag("json");

  // Under mpirun every rank loads the model and scores its share of the
  // test sequences; rank 0 prints.
  distributed::Communicator& comm = distributed::world();
  std::optional<LoadedModel> loaded_model;
  ModelData source;
  Interactions part, mapped;
  std::size_t dropped = 0;
  int k = 1;
  distributed::agree(comm, [&] {
    loaded_model.emplace(load_model_named(args));
    source = data_for_model(args, *loaded_model, path, "evaluate", 0.2);
    LL_CHECK(source.test_fraction > 0, "--test-fraction 0 leaves nothing to evaluate (use 1 for every user)");
    k = metrics_cutoff(args, source.windows.max_length, true);
    const Interactions& all = source.data.interactions;
    part = source.test_fraction < 1 ? user_based_train_test_split(all, source.test_fraction, source.seed).second
                                    : all;
    LL_CHECK(part.size() > 0, "the test split is empty (", all.num_users, " users, --test-fraction ",
             source.test_fraction, ")");
    mapped = map_to_model(part, item_ids(*loaded_model), dropped);
  });
  LoadedModel& loaded = *loaded_model;
  const Interactions& all = source.data.interactions;
  const bool speaks = comm.rank() == 0;
  if (dropped > 0 && speaks)
    std::cerr << "limelight: note: dropped " << dropped << " of " << part.size()
              << " test interactions whose item is not in the model\n";
  const SequenceInteractions test = to_sequences(mapped, source.windows);
  const Metrics metrics = evaluate_test_set(loaded.model, test, k, args.flag("exclude-preceding"), comm);
  if (!speaks) return 0;

  if (as_json) {
    json::Value out = json::Value::object();
    out.set("num_users", json::Value(all.num_users))
        .set("num_items", json::Value(loaded.model.num_items()))
        .set("num_interactions", json::Value(part.size()))
        .set("dropped_interactions", json::Value(dropped))
        .set("test_sequences", json::Value(test.num_sequences))
        .set("recorded_data", json::Value(source.recorded));
    add_metrics(out, metrics);
    std::cout << json::dump(out) << "\n";
  } else {
    std::cout << "data: " << source.data.description << (source.recorded ? " (recorded in the model)" : "") << "\n"
              << "      " << part.size() << " test interactions";
    if (dropped > 0) std::cout << " (" << dropped << " dropped: item not in the model)";
    std::cout << ", " << test.num_sequences << " test sequences\n"
              << "metrics:\n"
              << metrics_text(metrics);
  }
  std::cout.flush();
  return 0;
}

}  // namespace limelight::cli
