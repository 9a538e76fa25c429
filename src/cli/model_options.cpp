// The options of the commands on a saved model (see model_options.hpp).
#include "cli/model_options.hpp"

namespace limelight::cli {

Option model_option() { return {"model", "FILE", opt::text().needed(), "the model file (required)"}; }

Option device_option() {
  return {"device", "NAME", opt::text("cpu"), "cpu | cuda (default cpu): where the model computes"};
}

Option top_k_option(const std::string& help) { return {"k", "N", opt::integer(1, 1 << 30, 10), help}; }

LoadedModel load_model_named(const Args& args) { return load_model(args.text("model"), args.text("device", "cpu")); }

LabelIndex item_ids(const LoadedModel& loaded) {
  return loaded.item_labels.empty() ? LabelIndex::dense(loaded.model.num_items())
                                    : LabelIndex::from_labels(loaded.item_labels);
}

}  // namespace limelight::cli
