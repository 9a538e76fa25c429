// `limelight recommend` (top-k items for each sequence read from standard
// input, answered line by line as it is read, or for one user of a dataset)
// and `limelight predict` (the scores of one sequence or user). Item ids are
// the data's own ids: the model's item labels when it has them, else its
// dense ids; --item-names adds titles.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

#include "cli/args.hpp"
#include "cli/commands.hpp"
#include "cli/data_source.hpp"
#include "cli/line_reader.hpp"
#include "cli/model_options.hpp"
#include "cli/sequence_input.hpp"
#include "cli/training_data.hpp"
#include "cli/user_history.hpp"
#include "io/json.hpp"
#include "limelight/distributed.hpp"
#include "limelight/error.hpp"
#include "limelight/model_file.hpp"

namespace limelight::cli {

namespace {

// A score as printf's %.6g writes it (std::to_chars is specified so).
void append_score(std::string& out, float score) {
  char buf[32];
  const auto end = std::to_chars(buf, buf + sizeof buf, static_cast<double>(score), std::chars_format::general, 6).ptr;
  out.append(buf, end);
}

std::string score_text(float score) {
  std::string s;
  append_score(s, score);
  return s;
}

// The most lines scored together; a block's lines of equal length share one
// recommend_batch call. A block is answered as soon as the next line is not
// yet there, so interactive input gets each answer at once (one write and
// flush per answer in lock-step use; one write per block when lines come
// faster than they are answered).
constexpr std::size_t kBlockLines = 256;
// The most item ids a block holds: a block's activations (ids x the state
// width, the LSTM's gates 4x that) then stay in cache and the model's work
// arena stays small: blocks of 256 lines of 199 ids ran 1.6-4x slower a
// line than blocks of about 40, the first blocks worst, as the arena's
// pages were first touched (bench/recommend_line_bench.cpp).
constexpr std::size_t kBlockIds = 8192;

// Lines read but not yet answered, in buffers reused from block to block so
// that a line costs no allocation: line i's ids are ids[starts[i],
// starts[i + 1]), its answer top[i * k, i * k + counts[i]).
struct LineBlock {
  std::vector<std::int32_t> ids;
  std::vector<std::size_t> starts{0};
  std::vector<Recommendation> top;
  std::vector<std::size_t> counts;
  // Scratch of score(): line numbers by length, and one length's rows.
  std::vector<std::size_t> order;
  std::vector<std::int32_t> rows;
  std::vector<Recommendation> rows_top;
  std::vector<std::size_t> rows_counts;

  std::size_t size() const { return starts.size() - 1; }
  std::size_t length(std::size_t i) const { return starts[i + 1] - starts[i]; }
  void clear() {
    ids.clear();
    starts.resize(1);
  }
  // Every line's top k, best first, as the model's recommend() gives them:
  // lines of one length are one recommend_batch call, so no row is padded
  // and every representation (LSTM too) sees exactly the typed sequence.
  // across_ranks: the model's table is sharded and every rank scores the
  // same block in step (recommend_across_ranks).
  void score(const ImplicitSequenceModel& model, int k, bool exclude_seen, bool across_ranks) {
    const std::size_t n = size(), kk = static_cast<std::size_t>(k);
    order.resize(n);
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return length(a) < length(b); });
    top.resize(n * kk);
    counts.resize(n);
    for (std::size_t at = 0; at < n;) {
      const std::size_t len = length(order[at]);
      std::size_t end = at;
      rows.clear();
      for (; end < n && length(order[end]) == len; ++end)
        rows.insert(rows.end(), ids.begin() + static_cast<std::ptrdiff_t>(starts[order[end]]),
                    ids.begin() + static_cast<std::ptrdiff_t>(starts[order[end] + 1]));
      const std::size_t m = end - at;
      rows_top.resize(m * kk);
      rows_counts.resize(m);
      if (across_ranks)
        model.recommend_across_ranks(rows.data(), static_cast<std::int64_t>(m), static_cast<std::int64_t>(len), k,
                                     exclude_seen, rows_top.data(), rows_counts.data());
      else
        model.recommend_batch(rows.data(), static_cast<std::int64_t>(m), static_cast<std::int64_t>(len), k,
                              exclude_seen, rows_top.data(), rows_counts.data());
      for (std::size_t r = 0; r < m; ++r) {
        const std::size_t line = order[at + r];
        counts[line] = rows_counts[r];
        std::copy_n(rows_top.begin() + static_cast<std::ptrdiff_t>(r * kk), rows_counts[r],
                    top.begin() + static_cast<std::ptrdiff_t>(line * kk));
      }
      at = end;
    }
  }
};

// Under mpirun rank 0 reads the lines and sends each block to the other
// ranks, which score it with it (each its block of the catalogue); a block
// is preceded by what comes: more lines, the end (with the exit status), or
// a failure rank 0 reports.
enum class BlockControl : std::int64_t { lines, end, failed };

// Rank 0: the block (or the control alone) to every rank.
void send_block(distributed::Communicator& comm, BlockControl control, LineBlock& block, std::int64_t status = 0) {
  static_assert(sizeof(std::size_t) == sizeof(std::int64_t));
  std::int64_t head[4] = {static_cast<std::int64_t>(control), static_cast<std::int64_t>(block.size()),
                          static_cast<std::int64_t>(block.ids.size()), status};
  comm.broadcast(distributed::Element::i64, head, 4, 0);
  if (control != BlockControl::lines) return;
  comm.broadcast(distributed::Element::i64, block.starts.data(), head[1] + 1, 0);
  comm.broadcast(distributed::Element::i32, block.ids.data(), head[2], 0);
}

// Another rank: rank 0's next block into `block`; the control, and the
// exit status with `end`.
BlockControl receive_block(distributed::Communicator& comm, LineBlock& block, std::int64_t& status) {
  std::int64_t head[4] = {};
  comm.broadcast(distributed::Element::i64, head, 4, 0);
  status = head[3];
  const auto control = static_cast<BlockControl>(head[0]);
  if (control != BlockControl::lines) return control;
  block.starts.resize(static_cast<std::size_t>(head[1] + 1));
  block.ids.resize(static_cast<std::size_t>(head[2]));
  comm.broadcast(distributed::Element::i64, block.starts.data(), head[1] + 1, 0);
  comm.broadcast(distributed::Element::i32, block.ids.data(), head[2], 0);
  return control;
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

// The data options and window length that --user reads a history with, and --item-names.
std::vector<Option> user_options() {
  std::vector<Option> options = {
      {"user", "ID", opt::text(),
       "score this user's latest history from the data (the data options, else the model's recorded training data)"},
      max_sequence_length_option("--user: items of history (default: the recorded window, else 10)")};
  for (Option o : data_source_options()) {
    if (o.name == "user") o = {"user-column", "COL", opt::text(), "--csv: user column (default userId)"};
    options.push_back(o);
  }
  options.push_back({"item-names", "PATH", opt::text(),
                     "titles file (u.item, movies.csv, movies.dat, or id,name CSV) or the MovieLens folder"});
  return options;
}

Command recommend_command() {
  return {"recommend",
          "usage: limelight recommend --model FILE [--k N] [--exclude-seen] [--json] < sequences\n"
          "       limelight recommend --model FILE --user ID [data options] [--k N] [--json]\n\n"
          "Each line of standard input is a sequence of item ids, oldest first, separated by\n"
          "commas or spaces: the model's item ids when it has them (the data's own ids), else\n"
          "dense ids 0..num_items-1. Each line is answered, in order, as it is read: the k best\n"
          "next items with their scores, best first, as 'id:score' pairs or, with --json, a JSON\n"
          "object. A bad line is reported on standard error with its line number; --on-error\n"
          "decides whether the run goes on. With --user, the user's latest history from the\n"
          "data is the one sequence. With --stream, lines are 'SESSION_ID ITEM' events\n"
          "(limelight recommend --stream --help).\n",
          join({{model_option(),
                 top_k_option("recommendations per sequence (default 10)"),
                 {"exclude-seen", "", opt::flag(), "never recommend an item of the input sequence"},
                 {"on-error", "MODE", opt::choice({"stop", "skip"}),
                  "a bad input line: stop (default) ends the run, skip goes on; either way the exit status is 1"},
                 device_option(),
                 {"item-table", "PRECISION", opt::choice({"f32", "int8"}),
                  "f32 (default) | int8: scan an int8 copy of the item table, rescoring its candidates in float32 "
                  "(the same answers; pooling, cnn, lstm on cpu)"},
                 {"json", "", opt::flag(), "print {\"items\": [...], \"scores\": [...]} lines"}},
                user_options()})};
}

Command predict_command() {
  return {"predict",
          "usage: limelight predict --model FILE --sequence 3,17,42 [--item-ids 5,9] [--json]\n"
          "       limelight predict --model FILE --user ID [data options] [--item-ids 5,9] [--json]\n\n"
          "Scores items as the next item of one sequence, as the reference's predict(): one score\n"
          "per requested item, or per item id of the model (0..num_items-1 for a model without\n"
          "item ids, padding id 0 included; every labelled item otherwise). Padding zeros may\n"
          "appear in the sequence of a model without item ids. With --user, the sequence is the\n"
          "user's latest history from the data.\n",
          join({{model_option(),
                 {"sequence", "IDS", opt::text(), "the input sequence, oldest first, comma-separated (or --user)"},
                 {"item-ids", "IDS", opt::text(), "score only these items, in this order (default: every item)"},
                 device_option(),
                 {"json", "", opt::flag(), "print {\"items\": [...], \"scores\": [...]}"}},
                user_options()})};
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

// One output line of recommend, appended to `out`.
void append_recommendation_line(std::string& out, const Recommendation* top, std::size_t count,
                                const LabelIndex& index, const std::vector<std::optional<std::string>>& names,
                                bool as_json) {
  if (as_json) {
    json::Value items = json::Value::array(), scores = json::Value::array(), titles = json::Value::array();
    for (std::size_t i = 0; i < count; ++i) {
      items.push_back(item_json(index, top[i].item));
      scores.push_back(json::Value(top[i].score));
      if (!names.empty()) titles.push_back(name_json(names, top[i].item));
    }
    json::Value obj = json::Value::object();
    obj.set("items", std::move(items)).set("scores", std::move(scores));
    if (!names.empty()) obj.set("names", std::move(titles));
    out += json::dump(obj);
  } else {
    for (std::size_t i = 0; i < count; ++i) {
      if (i > 0) out += ' ';
      index.append_label(out, top[i].item);
      out += ':';
      append_score(out, top[i].score);
      if (!names.empty()) {
        out += ' ';
        out += json::quote(names[static_cast<std::size_t>(top[i].item)].value_or(""));
      }
    }
  }
  out += '\n';
}

}  // namespace

int run_recommend(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i)  // session streaming: src/cli/stream_command.cpp
    if (std::string(argv[i]) == "--stream") {
      LL_CHECK(distributed::launcher_size() == 1, "limelight recommend --stream runs as one process, not under ",
               "mpirun (", distributed::launcher_size(), " ranks)");
      return run_recommend_stream(argc, argv, first);
    }
  Args args(recommend_command());
  if (!args.parse(argc, argv, first)) return 0;  // --help
  const int k = static_cast<int>(args.integer("k"));
  const bool exclude_seen = args.flag("exclude-seen"), as_json = args.flag("json");
  const std::string on_error = args.text("on-error");
  const std::string item_table = args.text("item-table");
  const std::string model_path = args.text("model");
  // Under mpirun the catalogue is split across the ranks: each scores its
  // block, rank 0 reads, merges and answers.
  const bool across_ranks = distributed::launcher_size() > 1;
  if (across_ranks) {
    LL_CHECK(item_table == "f32", "recommend --item-table int8 serves in one process only, not under mpirun");
    LL_CHECK(args.text("device", "cpu") == "cpu", "recommend under mpirun serves on the CPU only in this version ",
             "(leave out --device)");
  }
  distributed::Communicator* comm = across_ranks ? &distributed::world() : nullptr;
  const bool speaks = comm == nullptr || comm->rank() == 0;
  std::optional<LoadedModel> loaded_model;
  if (comm != nullptr)
    distributed::agree(*comm, [&] { loaded_model.emplace(load_model_sharded(model_path, *comm)); });
  else
    loaded_model.emplace(load_model_named(args));
  LoadedModel& loaded = *loaded_model;
  loaded.model.set_serving_precision(parse_serving_precision(item_table));
  const LabelIndex index = item_ids(loaded);
  std::vector<std::optional<std::string>> names;
  if (comm != nullptr)
    distributed::agree(*comm, [&] { names = item_names(args, index); });
  else
    names = item_names(args, index);
  // Bounds a block's results (lines x k) at 16M entries; no line gets more
  // results than the catalogue has items.
  const int top_k = std::min<int>(k, loaded.model.num_items());
  const std::size_t block_lines =
      std::clamp<std::size_t>((std::size_t{1} << 24) / static_cast<std::size_t>(top_k), 1, kBlockLines);

  LineBlock block;
  if (!speaks) {
    // The other ranks score rank 0's blocks with it until it ends.
    for (std::int64_t status = 0;;) {
      const BlockControl control = receive_block(*comm, block, status);
      if (control == BlockControl::end) return static_cast<int>(status);
      if (control == BlockControl::failed) throw distributed::AgreedError(0, "rank 0 failed");
      block.score(loaded.model, top_k, exclude_seen, true);
      block.clear();
    }
  }
  std::string out;
  auto flush = [&] {
    if (block.size() == 0) return;
    if (comm != nullptr) send_block(*comm, BlockControl::lines, block);
    block.score(loaded.model, top_k, exclude_seen, comm != nullptr);
    out.clear();
    for (std::size_t i = 0; i < block.size(); ++i)
      append_recommendation_line(out, block.top.data() + i * static_cast<std::size_t>(top_k), block.counts[i], index,
                                 names, as_json);
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
    block.clear();
  };
  // An error of rank 0's input ends every rank: they are waiting for its
  // next block (only rank 0 prints it).
  auto fail = [&](const Error& e) {
    if (comm == nullptr) throw;
    send_block(*comm, BlockControl::failed, block);
    throw distributed::AgreedError(0, e.what());
  };
  int status = 0;
  if (args.has("user")) {
    try {
      const std::vector<std::int32_t> history = history_of_user(args, loaded, index, model_path, "recommend");
      block.ids = history;
      block.starts.push_back(history.size());
    } catch (const Error& e) {
      fail(e);
    }
    flush();
  } else {
    LineReader reader(0);
    std::string text;
    std::int64_t line_number = 0, bad_lines = 0;
    while (reader.next(text)) {
      ++line_number;
      try {
        append_sequence_line(text, index, "standard input line", line_number, block.ids);
      } catch (const Error& e) {
        flush();  // the lines before the bad one are answered first, in order
        ++bad_lines;
        if (on_error == "stop") fail(e);
        std::cerr << "limelight: error: " << e.what() << "\n";
        continue;
      }
      block.starts.push_back(block.ids.size());
      if (block.size() == block_lines || block.ids.size() >= kBlockIds || reader.would_block()) flush();
    }
    flush();
    if (bad_lines > 0) {
      std::cerr << "limelight: note: skipped " << bad_lines << " bad of " << line_number << " input lines\n";
      status = 1;
    }
  }
  if (comm != nullptr) send_block(*comm, BlockControl::end, block, status);
  return status;
}

int run_predict(int argc, char** argv, int first) {
  Args args(predict_command());
  if (!args.parse(argc, argv, first)) return 0;  // --help
  LL_CHECK(args.has("sequence") != args.has("user"), args.has("user") ? "--sequence and --user exclude each other"
                                                                      : "predict needs --sequence IDS or --user ID");
  const std::string model_path = args.text("model");
  const LoadedModel loaded = load_model_named(args);
  const LabelIndex index = item_ids(loaded);
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
