// Naming, loading, windowing and id-mapping the interactions of the
// `limelight` commands (see data_source.hpp).
#include "cli/data_source.hpp"

#include <sstream>

#include "limelight/error.hpp"

namespace limelight::cli {

std::vector<Option> data_source_options() {
  // Without a fallback of their own the defaults are DataSpec's and DelimitedOptions'.
  return {
      {"synthetic", "", opt::flag(), "the built-in synthetic data (the default of fit) with the --synthetic-* options"},
      {"synthetic-users", "N", opt::integer(1, 100000000), "synthetic data: number of users (default 1000)"},
      {"synthetic-items", "N", opt::integer(3, 16385),
       "synthetic data: number of item ids, padding id 0 included (default 200)"},
      {"synthetic-interactions", "N", opt::integer(1, std::int64_t{1} << 31),
       "synthetic data: number of interactions (default 50000)"},
      {"concentration", "X", opt::number(1e-6, 1e6),
       "synthetic data: Dirichlet concentration of the transitions (default 0.01)"},
      {"order", "N", opt::integer(1, 16), "synthetic data: order of the Markov chain (default 2)"},
      {"movielens", "PATH", opt::text(), "MovieLens 100K, 1M/10M or latest directory or ratings file"},
      {"csv", "PATH", opt::text(), "a delimited file of interactions (RFC 4180 quoting)"},
      {"user", "COL", opt::text(), "--csv: user column, a header name or 0-based position (default userId)"},
      {"item", "COL", opt::text(), "--csv: item column (default movieId)"},
      {"timestamp", "COL", opt::text(),
       "--csv: timestamp column (default timestamp, or file order with --no-header; '' for file order)"},
      {"delimiter", "C", opt::text(","), "--csv: field delimiter, one character or 'tab' (default ,)"},
      {"no-header", "", opt::flag(), "--csv: the file has no header row (columns by position)"},
  };
}

Option max_sequence_length_option(const std::string& help) {
  return {"max-sequence-length", "N", opt::integer(1, 1 << 20), help};
}

std::vector<Option> window_split_options(const std::string& test_fraction_help) {
  return {
      max_sequence_length_option("sequence window length (default 10)"),
      // At most the window length: sequence_windows() reads it with that range.
      {"min-sequence-length", "N", opt::integer(0, 1 << 20), "drop windows with fewer items (default 0: keep all)"},
      {"step-size", "N", opt::integer(1, 1 << 20), "distance between window ends (default: the window length)"},
      {"test-fraction", "F", opt::number(0.0, 1.0), test_fraction_help},
  };
}

Option seed_option(const std::string& help) { return {"seed", "N", opt::integer(0, INT64_MAX), help}; }

namespace {
const char* const synthetic_options[] = {"synthetic", "synthetic-users", "synthetic-items", "synthetic-interactions",
                                         "concentration", "order"};
}  // namespace

bool has_data_options(const Args& args) {
  for (const char* o : synthetic_options)
    if (args.has(o)) return true;
  return args.has("movielens") || args.has("csv");
}

DataSpec data_spec(const Args& args, std::uint64_t seed, const std::string& user_option) {
  const bool movielens = args.has("movielens"), csv = args.has("csv");
  LL_CHECK(!(movielens && csv), "--movielens and --csv exclude each other");
  for (const std::string& o : {user_option, std::string("item"), std::string("timestamp"), std::string("delimiter"),
                               std::string("no-header")})
    LL_CHECK(csv || !args.has(o), "--", o, " needs --csv");
  for (const char* o : synthetic_options)
    LL_CHECK(!(movielens || csv) || !args.has(o), "--", o, " is for synthetic data; it excludes --",
             movielens ? "movielens" : "csv");
  DataSpec spec;
  if (movielens) {
    spec.loader = "movielens";
    spec.path = movielens_ratings_file(args.text("movielens"));
  } else if (csv) {
    spec.loader = "delimited";
    DelimitedOptions& opt = spec.delimited;
    opt.user_column = args.text(user_option, opt.user_column);
    opt.item_column = args.text("item", opt.item_column);
    opt.header = !args.flag("no-header");
    // Without a header there is no "timestamp" column to default to: file order.
    opt.timestamp_column = args.text("timestamp", opt.header ? opt.timestamp_column : "");
    const std::string delim = args.text("delimiter");
    LL_CHECK(delim.size() == 1 || delim == "tab" || delim == "\\t", "--delimiter: ", printable(delim),
             " is not one character (use 'tab' for a tab)");
    opt.delimiter = delim.size() == 1 ? delim[0] : '\t';
    spec.path = args.text("csv");
  } else {
    spec.loader = "synthetic";
    spec.users = static_cast<std::int32_t>(args.integer("synthetic-users", spec.users));
    spec.items = static_cast<std::int32_t>(args.integer("synthetic-items", spec.items));
    spec.interactions = args.integer("synthetic-interactions", spec.interactions);
    spec.concentration = args.number("concentration", spec.concentration);
    spec.order = static_cast<int>(args.integer("order", spec.order));
    spec.seed = seed;
  }
  return spec;
}

Dataset load_dataset(const DataSpec& spec) {
  Dataset out;
  out.spec = spec;
  if (spec.loader == "movielens") {
    out.description = spec.path;
    out.interactions = load_movielens(spec.path);
  } else if (spec.loader == "delimited") {
    out.description = spec.path;
    out.interactions = load_delimited(spec.path, spec.delimited);
  } else {
    LL_CHECK(spec.loader == "synthetic", "unknown data loader '", spec.loader, "'");
    out.interactions =
        generate_sequential(spec.users, spec.items, spec.interactions, spec.concentration, spec.order, spec.seed);
    std::ostringstream d;
    d << "synthetic (" << spec.users << " users, " << spec.items << " items, " << spec.interactions
      << " interactions, concentration " << spec.concentration << ", order " << spec.order << ", seed " << spec.seed
      << ")";
    out.description = d.str();
  }
  return out;
}

SequenceWindows sequence_windows(const Args& args, const SequenceWindows& defaults) {
  SequenceWindows w;
  w.max_length = static_cast<int>(args.integer("max-sequence-length", defaults.max_length));
  w.min_length = static_cast<int>(args.integer("min-sequence-length", defaults.min_length, 0, w.max_length));
  w.step = static_cast<int>(args.integer("step-size", defaults.step));
  return w;
}

SequenceInteractions to_sequences(const Interactions& interactions, const SequenceWindows& windows) {
  return interactions.to_sequence(windows.max_length, windows.min_length, windows.step);
}

Interactions map_to_model(const Interactions& data, const LabelIndex& model_ids, std::size_t& dropped) {
  const bool labelled = !data.item_labels.empty();
  std::vector<std::int32_t> mapped(static_cast<std::size_t>(data.num_items), -1);
  for (std::int32_t i = 1; i < data.num_items; ++i)
    mapped[static_cast<std::size_t>(i)] =
        model_ids.find(labelled ? data.item_labels[static_cast<std::size_t>(i)] : std::to_string(i));
  std::vector<std::size_t> keep;
  keep.reserve(data.size());
  for (std::size_t r = 0; r < data.size(); ++r)
    if (mapped[static_cast<std::size_t>(data.item_ids[r])] > 0) keep.push_back(r);
  dropped = data.size() - keep.size();
  LL_CHECK(!keep.empty(), "none of the ", data.size(), " interactions has an item the model knows (",
           labelled ? "the data's item ids are not among the model's item ids"
                    : "the data's dense item ids are outside the model's",
           ")");
  Interactions out = data.subset(keep);
  for (std::int32_t& item : out.item_ids) item = mapped[static_cast<std::size_t>(item)];
  out.num_items = model_ids.num_items();
  out.item_labels.clear();
  return out;
}

}  // namespace limelight::cli
