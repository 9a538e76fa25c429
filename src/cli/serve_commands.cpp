// `limelight recommend` (top-k items for each sequence read from standard
// input, scored in blocks) and `limelight predict` (the scores of one
// sequence). Item ids are the data's own ids: the model's item labels when it
// has them, else its dense ids.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>

#include "cli/args.hpp"
#include "cli/commands.hpp"
#include "cli/sequence_input.hpp"
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

// Lines read per block; a block's lines of equal length share one score_batch call.
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

}  // namespace

int run_recommend(int argc, char** argv, int first) {
  Args args("recommend", {{"model", "FILE", "the model file (required)"},
                          {"k", "N", "recommendations per sequence (default 10)"},
                          {"exclude-seen", "", "never recommend an item of the input sequence"},
                          {"json", "", "print {\"items\": [...], \"scores\": [...]} lines"}});
  if (wants_help(argc, argv, first)) {
    std::cout << "usage: limelight recommend --model FILE [--k N] [--exclude-seen] [--json] < sequences\n\n"
                 "Each line of standard input is a sequence of item ids, oldest first, separated by\n"
                 "commas or spaces: the model's item ids when it has them (the data's own ids), else\n"
                 "dense ids 0..num_items-1. Each output line holds the k best next items with their\n"
                 "scores, best first, as 'id:score' pairs or, with --json, a JSON object.\n\noptions:\n"
              << args.options_help();
    return 0;
  }
  args.parse(argc, argv, first);
  LL_CHECK(args.positionals().empty(), "recommend takes no positional argument, got ",
           printable(args.positionals()[0]));
  LL_CHECK(args.has("model"), "recommend needs --model FILE");
  const int k = static_cast<int>(args.integer("k", 10, 1, 1 << 30));
  const bool exclude_seen = args.flag("exclude-seen"), as_json = args.flag("json");
  const LoadedModel loaded = load_model(args.text("model"));
  const LabelIndex index = label_index(loaded);
  // Bounds a block's score buffer (rows x num_items floats) at 64 MiB.
  const std::size_t block_lines = std::clamp<std::size_t>(
      (std::size_t{1} << 24) / static_cast<std::size_t>(loaded.model.num_items()), 1, kBlockLines);
  std::vector<unsigned char> skip(static_cast<std::size_t>(loaded.model.num_items()), 0);

  std::vector<PendingLine> block;
  auto flush = [&] {
    score_block(loaded.model, block, k, exclude_seen, skip);
    std::string out;
    for (const PendingLine& line : block) {
      if (as_json) {
        json::Value items = json::Value::array(), scores = json::Value::array();
        for (const Recommendation& r : line.top) {
          items.push_back(index.has_labels() ? json::Value(index.label(r.item)) : json::Value(r.item));
          scores.push_back(json::Value(r.score));
        }
        json::Value obj = json::Value::object();
        obj.set("items", std::move(items)).set("scores", std::move(scores));
        out += json::dump(obj);
      } else {
        for (std::size_t i = 0; i < line.top.size(); ++i) {
          if (i > 0) out += ' ';
          out += index.label(line.top[i].item) + ":" + score_text(line.top[i].score);
        }
      }
      out += '\n';
    }
    std::cout << out;
    std::cout.flush();
    block.clear();
  };
  std::string text;
  std::int64_t line_number = 0;
  while (std::getline(std::cin, text)) {
    ++line_number;
    block.push_back({parse_sequence_line(text, index, "standard input line " + std::to_string(line_number)), {}});
    if (block.size() == block_lines) flush();
  }
  LL_CHECK(!std::cin.bad(), "cannot read standard input");
  if (!block.empty()) flush();
  return 0;
}

int run_predict(int argc, char** argv, int first) {
  Args args("predict", {{"model", "FILE", "the model file (required)"},
                        {"sequence", "IDS", "the input sequence, oldest first, comma-separated (required)"},
                        {"item-ids", "IDS", "score only these items, in this order (default: every item)"},
                        {"json", "", "print {\"items\": [...], \"scores\": [...]}"}});
  if (wants_help(argc, argv, first)) {
    std::cout << "usage: limelight predict --model FILE --sequence 3,17,42 [--item-ids 5,9] [--json]\n\n"
                 "Scores items as the next item of one sequence, as the reference's predict(): one score\n"
                 "per requested item, or per item id of the model (0..num_items-1 for a model without\n"
                 "item ids, padding id 0 included; every labelled item otherwise). Padding zeros may\n"
                 "appear in the sequence of a model without item ids.\n\noptions:\n"
              << args.options_help();
    return 0;
  }
  args.parse(argc, argv, first);
  LL_CHECK(args.positionals().empty(), "predict takes no positional argument, got ",
           printable(args.positionals()[0]));
  LL_CHECK(args.has("model"), "predict needs --model FILE");
  LL_CHECK(args.has("sequence"), "predict needs --sequence IDS");
  const LoadedModel loaded = load_model(args.text("model"));
  const LabelIndex index = label_index(loaded);
  const std::vector<std::int32_t> sequence = parse_sequence_line(args.text("sequence"), index, "--sequence");
  std::vector<std::int32_t> items;
  if (args.has("item-ids")) {
    items = parse_sequence_line(args.text("item-ids"), index, "--item-ids");
  } else {
    for (std::int32_t v = index.has_labels() ? 1 : 0; v < index.num_items(); ++v) items.push_back(v);
  }
  const std::vector<float> scores = loaded.model.predict(sequence, items);
  if (args.flag("json")) {
    json::Value ids = json::Value::array(), values = json::Value::array();
    for (std::size_t i = 0; i < items.size(); ++i) {
      ids.push_back(index.has_labels() ? json::Value(index.label(items[i])) : json::Value(items[i]));
      values.push_back(json::Value(scores[i]));
    }
    json::Value obj = json::Value::object();
    obj.set("items", std::move(ids)).set("scores", std::move(values));
    std::cout << json::dump(obj) << "\n";
  } else {
    std::string out;
    for (std::size_t i = 0; i < items.size(); ++i) out += index.label(items[i]) + " " + score_text(scores[i]) + "\n";
    std::cout << out;
  }
  std::cout.flush();
  return 0;
}

}  // namespace limelight::cli
