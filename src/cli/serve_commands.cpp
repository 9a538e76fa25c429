// `limelight recommend` (top-k items for each sequence read from standard
// input, answered line by line as it is read, or for one user of a dataset)
// and `limelight predict` (the scores of one sequence or user). Item ids are
// the data's own ids: the model's item labels when it has them, else its
// dense ids; --item-names adds titles.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <string>

#include "cli/args.hpp"
#include "cli/commands.hpp"
#include "cli/data_source.hpp"
#include "cli/line_reader.hpp"
#include "cli/sequence_input.hpp"
#include "cli/training_data.hpp"
#include "cli/user_history.hpp"
#include "io/json.hpp"
#include "limelight/error.hpp"
#include "limelight/model_file.hpp"

namespace limelight::cli {

namespace {

LabelIndex label_index(const LoadedModel& loaded) {
  return loaded.item_labels.empty() ? LabelIndex::dense(loaded.model.num_items())
                                    : LabelIndex::from_labels(loaded.item_labels);
}

std::string score_text(float score) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", static_cast<double>(score));
  return buf;
}

// The most lines scored together; a block's lines of equal length share one
// score_batch call. A block is answered as soon as the next line is not yet
// there, so interactive input gets each answer at once.
constexpr std::size_t kBlockLines = 256;

struct PendingLine {
  std::vector<std::int32_t> ids;
  std::vector<Recommendation> top;
};

// Top k of one row of scores, best first, ties by lower id; the padding id
// and, with exclude_seen, the sequence's items are skipped (as the model's
// recommend()).
std::vector<Recommendation> top_k(const float* scores, std::int32_t num_items, const std::vector<std::int32_t>& seen,
                                  int k, bool exclude_seen, std::vector<unsigned char>& skip) {
  skip[0] = 1;
  if (exclude_seen)
    for (std::int32_t id : seen) skip[static_cast<std::size_t>(id)] = 1;
  std::vector<Recommendation> all;
  all.reserve(static_cast<std::size_t>(num_items));
  for (std::int32_t v = 0; v < num_items; ++v)
    if (!skip[static_cast<std::size_t>(v)]) all.push_back({v, scores[v]});
  for (std::int32_t id : seen) skip[static_cast<std::size_t>(id)] = 0;
  const std::size_t n = std::min(static_cast<std::size_t>(k), all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n), all.end(),
                    [](const Recommendation& a, const Recommendation& b) {
                      return a.score > b.score || (a.score == b.score && a.item < b.item);
                    });
  all.resize(n);
  return all;
}

void score_block(const ImplicitSequenceModel& model, std::vector<PendingLine>& block, int k, bool exclude_seen,
                 std::vector<unsigned char>& skip) {
  const std::int32_t V = model.num_items();
  std::map<std::size_t, std::vector<std::size_t>> by_length;
  for (std::size_t i = 0; i < block.size(); ++i) by_length[block[i].ids.size()].push_back(i);
  std::vector<std::int32_t> batch;
  std::vector<float> scores;
  for (const auto& [length, lines] : by_length) {
    // Rows of one call share a length, so no row is padded and every
    // representation (LSTM too) sees exactly the typed sequence.
    batch.clear();
    for (std::size_t i : lines) batch.insert(batch.end(), block[i].ids.begin(), block[i].ids.end());
    scores.resize(lines.size() * static_cast<std::size_t>(V));
    model.score_batch(batch.data(), static_cast<std::int64_t>(lines.size()), static_cast<std::int64_t>(length),
                      scores.data());
    for (std::size_t r = 0; r < lines.size(); ++r)
      block[lines[r]].top = top_k(scores.data() + r * static_cast<std::size_t>(V), V, block[lines[r]].ids, k,
                                  exclude_seen, skip);
  }
}


// Display names of the model's dense ids, from --item-names (empty without).
std::vector<std::optional<std::string>> item_names(const Args& args, const LabelIndex& index) {
  std::vector<std::optional<std::string>> out;
  if (!args.has("item-names")) return out;
  const auto names = load_item_names(args.text("item-names"));
  out.resize(static_cast<std::size_t>(index.num_items()));
  std::size_t found = 0;
  for (std::int32_t id = 1; id < index.num_items(); ++id) {
    const auto it = names.find(index.label(id));
    if (it != names.end()) out[static_cast<std::size_t>(id)] = it->second, ++found;
  }
  LL_CHECK(found > 0, "--item-names: ", args.text("item-names"), " names none of the model's ",
           index.num_items() - 1, " item ids");
  return out;
}

// The data options and window length that --user reads a history with.
std::vector<OptionSpec> user_specs() {
  std::vector<OptionSpec> specs = {
      {"user", "ID", "score this user's latest history from the data (the data options, else the model's recorded training data)"},
      {"max-sequence-length", "N", "--user: items of history (default: the recorded window, else 10)"}};
  for (OptionSpec s : data_source_specs()) {
    if (s.name == "user") s = {"user-column", "COL", "--csv: user column (default userId)"};
    specs.push_back(s);
  }
  specs.push_back({"item-names", "PATH", "titles file (u.item, movies.csv, movies.dat, or id,name CSV) or the MovieLens folder"});
  return specs;
}

// The --user history as model ids; notes dropped items on standard error.
std::vector<std::int32_t> history_of_user(const Args& args, const LoadedModel& loaded, const LabelIndex& index,
                                          const std::string& model_path, const std::string& command) {
  // Here --user is the user's id, so the csv's user column is --user-column.
  const ModelData source = data_for_model(args, loaded, model_path, command + " --user", 0.2, "user-column");
  std::size_t dropped = 0;
  std::vector<std::int32_t> history =
      user_history(source.data.interactions, args.text("user"), index, source.windows.max_length, dropped);
  if (dropped > 0)
    std::cerr << "limelight: note: left out " << dropped << " of the user's items, which are not in the model\n";
  return history;
}

json::Value item_json(const LabelIndex& index, std::int32_t id) {
  return index.has_labels() ? json::Value(index.label(id)) : json::Value(id);
}

json::Value name_json(const std::vector<std::optional<std::string>>& names, std::int32_t id) {
  const auto& n = names[static_cast<std::size_t>(id)];
  return n ? json::Value(*n) : json::Value();
}

// One output line of recommend.
std::string recommendation_line(const std::vector<Recommendation>& top, const LabelIndex& index,
                                const std::vector<std::optional<std::string>>& names, bool as_json) {
  std::string out;
  if (as_json) {
    json::Value items = json::Value::array(), scores = json::Value::array(), titles = json::Value::array();
    for (const Recommendation& r : top) {
      items.push_back(item_json(index, r.item));
      scores.push_back(json::Value(r.score));
      if (!names.empty()) titles.push_back(name_json(names, r.item));
    }
    json::Value obj = json::Value::object();
    obj.set("items", std::move(items)).set("scores", std::move(scores));
    if (!names.empty()) obj.set("names", std::move(titles));
    out = json::dump(obj);
  } else {
    for (std::size_t i = 0; i < top.size(); ++i) {
      if (i > 0) out += ' ';
      out += index.label(top[i].item) + ":" + score_text(top[i].score);
      if (!names.empty()) {
        out += ' ';
        out += json::quote(names[static_cast<std::size_t>(top[i].item)].value_or(""));
      }
    }
  }
  return out + '\n';
}

}  // namespace

int run_recommend(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i)  // session streaming: src/cli/stream_command.cpp
    if (std::string(argv[i]) == "--stream") return run_recommend_stream(argc, argv, first);
  std::vector<OptionSpec> specs = {
      {"model", "FILE", "the model file (required)"},
      {"k", "N", "recommendations per sequence (default 10)"},
      {"exclude-seen", "", "never recommend an item of the input sequence"},
      {"on-error", "MODE", "a bad input line: stop (default) ends the run, skip goes on; either way the exit status is 1"},
      {"device", "NAME", "cpu | cuda (default cpu): where the model computes"},
      {"json", "", "print {\"items\": [...], \"scores\": [...]} lines"}};
  for (const OptionSpec& s : user_specs()) specs.push_back(s);
  Args args("recommend", specs);
  if (wants_help(argc, argv, first)) {
    std::cout << "usage: limelight recommend --model FILE [--k N] [--exclude-seen] [--json] < sequences\n"
                 "       limelight recommend --model FILE --user ID [data options] [--k N] [--json]\n\n"
                 "Each line of standard input is a sequence of item ids, oldest first, separated by\n"
                 "commas or spaces: the model's item ids when it has them (the data's own ids), else\n"
                 "dense ids 0..num_items-1. Each line is answered, in order, as it is read: the k best\n"
                 "next items with their scores, best first, as 'id:score' pairs or, with --json, a JSON\n"
                 "object. A bad line is reported on standard error with its line number; --on-error\n"
                 "decides whether the run goes on. With --user, the user's latest history from the\n"
                 "data is the one sequence. With --stream, lines are 'SESSION_ID ITEM' events\n"
                 "(limelight recommend --stream --help).\n\noptions:\n"
              << args.options_help();
    return 0;
  }
  args.parse(argc, argv, first);
  LL_CHECK(args.positionals().empty(), "recommend takes no positional argument, got ",
           printable(args.positionals()[0]));
  LL_CHECK(args.has("model"), "recommend needs --model FILE");
  const int k = static_cast<int>(args.integer("k", 10, 1, 1 << 30));
  const bool exclude_seen = args.flag("exclude-seen"), as_json = args.flag("json");
  const std::string on_error = args.text("on-error", "stop");
  LL_CHECK(on_error == "stop" || on_error == "skip", "--on-error: ", printable(on_error),
           " is not stop or skip");
  const std::string model_path = args.text("model");
  const LoadedModel loaded = load_model(model_path, args.text("device", "cpu"));
  const LabelIndex index = label_index(loaded);
  const std::vector<std::optional<std::string>> names = item_names(args, index);
  // Bounds a block's score buffer (rows x num_items floats) at 64 MiB.
  const std::size_t block_lines = std::clamp<std::size_t>(
      (std::size_t{1} << 24) / static_cast<std::size_t>(loaded.model.num_items()), 1, kBlockLines);
  std::vector<unsigned char> skip(static_cast<std::size_t>(loaded.model.num_items()), 0);

  std::vector<PendingLine> block;
  auto flush = [&] {
    if (block.empty()) return;
    score_block(loaded.model, block, k, exclude_seen, skip);
    std::string out;
    for (const PendingLine& line : block) out += recommendation_line(line.top, index, names, as_json);
    std::cout << out;
    std::cout.flush();
    block.clear();
  };
  if (args.has("user")) {
    block.push_back({history_of_user(args, loaded, index, model_path, "recommend"), {}});
    flush();
    return 0;
  }
  LineReader reader(0);
  std::string text;
  std::int64_t line_number = 0, bad_lines = 0;
  while (reader.next(text)) {
    ++line_number;
    std::vector<std::int32_t> ids;
    try {
      ids = parse_sequence_line(text, index, "standard input line " + std::to_string(line_number));
    } catch (const Error& e) {
      flush();  // the lines before the bad one are answered first, in order
      ++bad_lines;
      if (on_error == "stop") throw;
      std::cerr << "limelight: error: " << e.what() << "\n";
      continue;
    }
    block.push_back({std::move(ids), {}});
    if (block.size() == block_lines || reader.would_block()) flush();
  }
  flush();
  if (bad_lines > 0) {
    std::cerr << "limelight: note: skipped " << bad_lines << " bad of " << line_number << " input lines\n";
    return 1;
  }
  return 0;
}

int run_predict(int argc, char** argv, int first) {
  std::vector<OptionSpec> specs = {
      {"model", "FILE", "the model file (required)"},
      {"sequence", "IDS", "the input sequence, oldest first, comma-separated (or --user)"},
      {"item-ids", "IDS", "score only these items, in this order (default: every item)"},
      {"device", "NAME", "cpu | cuda (default cpu): where the model computes"},
      {"json", "", "print {\"items\": [...], \"scores\": [...]}"}};
  for (const OptionSpec& s : user_specs()) specs.push_back(s);
  Args args("predict", specs);
  if (wants_help(argc, argv, first)) {
    std::cout << "usage: limelight predict --model FILE --sequence 3,17,42 [--item-ids 5,9] [--json]\n"
                 "       limelight predict --model FILE --user ID [data options] [--item-ids 5,9] [--json]\n\n"
                 "Scores items as the next item of one sequence, as the reference's predict(): one score\n"
                 "per requested item, or per item id of the model (0..num_items-1 for a model without\n"
                 "item ids, padding id 0 included; every labelled item otherwise). Padding zeros may\n"
                 "appear in the sequence of a model without item ids. With --user, the sequence is the\n"
                 "user's latest history from the data.\n\noptions:\n"
              << args.options_help();
    return 0;
  }
  args.parse(argc, argv, first);
  LL_CHECK(args.positionals().empty(), "predict takes no positional argument, got ",
           printable(args.positionals()[0]));
  LL_CHECK(args.has("model"), "predict needs --model FILE");
  LL_CHECK(args.has("sequence") != args.has("user"), args.has("user") ? "--sequence and --user exclude each other"
                                                                      : "predict needs --sequence IDS or --user ID");
  const std::string model_path = args.text("model");
  const LoadedModel loaded = load_model(model_path, args.text("device", "cpu"));
  const LabelIndex index = label_index(loaded);
  const std::vector<std::optional<std::string>> names = item_names(args, index);
  const std::vector<std::int32_t> sequence =
      args.has("user") ? history_of_user(args, loaded, index, model_path, "predict")
                       : parse_sequence_line(args.text("sequence"), index, "--sequence");
  std::vector<std::int32_t> items;
  if (args.has("item-ids")) {
    items = parse_sequence_line(args.text("item-ids"), index, "--item-ids");
  } else {
    for (std::int32_t v = index.has_labels() ? 1 : 0; v < index.num_items(); ++v) items.push_back(v);
  }
  const std::vector<float> scores = loaded.model.predict(sequence, items);
  if (args.flag("json")) {
    json::Value ids = json::Value::array(), values = json::Value::array(), titles = json::Value::array();
    for (std::size_t i = 0; i < items.size(); ++i) {
      ids.push_back(item_json(index, items[i]));
      values.push_back(json::Value(scores[i]));
      if (!names.empty()) titles.push_back(name_json(names, items[i]));
    }
    json::Value obj = json::Value::object();
    obj.set("items", std::move(ids)).set("scores", std::move(values));
    if (!names.empty()) obj.set("names", std::move(titles));
    std::cout << json::dump(obj) << "\n";
  } else {
    std::string out;
    for (std::size_t i = 0; i < items.size(); ++i) {
      out += index.label(items[i]) + " " + score_text(scores[i]);
      if (!names.empty() && names[static_cast<std::size_t>(items[i])]) {
        out += ' ';
        out += *names[static_cast<std::size_t>(items[i])];
      }
      out += "\n";
    }
    std::cout << out;
  }
  std::cout.flush();
  return 0;
}

}  // namespace limelight::cli
