// `limelight recommend --stream`: reads `SESSION_ID ITEM` lines, pushes the
// item into that session (include/limelight/session.hpp) and answers each
// line at once with the session's top k. Sessions live in memory, at most
// --max-sessions of them; the least recently used one is evicted (its memory
// reused) when a new one needs room. A bad line gets an error answer naming
// the line and the stream goes on; a report goes to standard error at the end.
#include <cstdio>
#include <iostream>
#include <list>
#include <string>
#include <unordered_map>

#include "cli/args.hpp"
#include "cli/commands.hpp"
#include "cli/model_options.hpp"
#include "cli/sequence_input.hpp"
#include "io/json.hpp"
#include "limelight/error.hpp"
#include "limelight/model_file.hpp"
#include "limelight/session.hpp"

namespace limelight::cli {

namespace {

struct StreamReport {
  std::int64_t lines = 0, answered = 0, errors = 0, sessions_started = 0, evicted = 0, active = 0;

  // The report with --json: one object of the counts.
  json::Value to_json() const {
    const std::pair<const char*, std::int64_t> counts[] = {
        {"lines", lines}, {"answered", answered}, {"errors", errors},
        {"sessions_started", sessions_started}, {"evicted", evicted}, {"active", active}};
    json::Value obj = json::Value::object();
    for (const auto& [key, count] : counts) obj.set(key, json::Value(count));
    return obj;
  }
};

// The sessions, most recently used first.
class SessionCache {
 public:
  SessionCache(const SessionModel& serving, std::size_t capacity, std::int64_t max_events)
      : serving_(serving), capacity_(capacity), max_events_(max_events) {}

  Session& get(const std::string& id, StreamReport& report) {
    auto found = index_.find(id);
    if (found != index_.end()) {
      order_.splice(order_.begin(), order_, found->second);
      return found->second->second;
    }
    ++report.sessions_started;
    if (order_.size() == capacity_) {
      // The evicted session's buffers serve the new one.
      auto last = std::prev(order_.end());
      index_.erase(last->first);
      ++report.evicted;
      last->first = id;
      last->second.reset();
      order_.splice(order_.begin(), order_, last);
    } else {
      order_.emplace_front(id, serving_.start(SessionOptions{max_events_}));
    }
    index_[id] = order_.begin();
    return order_.front().second;
  }

  std::size_t size() const { return order_.size(); }

 private:
  const SessionModel& serving_;
  std::size_t capacity_;
  std::int64_t max_events_;
  std::list<std::pair<std::string, Session>> order_;
  std::unordered_map<std::string, std::list<std::pair<std::string, Session>>::iterator> index_;
};

std::string score_text(float score) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", static_cast<double>(score));
  return buf;
}

// Splits "SESSION_ID ITEM" (spaces or tabs); Error naming the problem otherwise.
std::pair<std::string, std::string> split_event(const std::string& text) {
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  std::vector<std::string> tokens;
  std::string token;
  for (char c : text) {
    if (is_space(c)) {
      if (!token.empty()) tokens.push_back(std::move(token));
      token.clear();
    } else {
      token += c;
    }
  }
  if (!token.empty()) tokens.push_back(std::move(token));
  LL_CHECK(tokens.size() == 2, "expected 'SESSION_ID ITEM', got ", tokens.empty() ? "an empty line" : printable(text));
  return {tokens[0], tokens[1]};
}

Command stream_command() {
  return {"recommend --stream",
          "usage: limelight recommend --stream --model FILE [--k N] [--exclude-seen] [--max-sessions N]\n"
          "                           [--max-events N] [--json] < events\n\n"
          "Each line of standard input is one event, 'SESSION_ID ITEM': any session id without\n"
          "spaces, and an item id of the model (its data's own ids when it has them, else dense\n"
          "ids 1..num_items-1). The item advances that session's state by one step (O(1), the same\n"
          "scores as predict on the session's whole history, or on its last --max-events events)\n"
          "and the line is answered at once with 'SESSION_ID id:score ...', best first. A bad line\n"
          "is answered with 'SESSION_ID error: line N: ...' (or {\"line\": N, \"error\": ...}) and\n"
          "changes no session; the exit status is then 1. At the end a report goes to standard\n"
          "error: lines, answers, errors, sessions started, evicted and still in memory.\n",
          {{"stream", "", opt::flag(), "read SESSION_ID ITEM events and answer each with the session's top k"},
           model_option(),
           top_k_option("recommendations per event (default 10)"),
           {"exclude-seen", "", opt::flag(), "never recommend an item the session has seen (bounded: in its window)"},
           {"max-sessions", "N", opt::integer(1, std::int64_t{1} << 40, 100000),
            "sessions kept in memory, least recently used evicted (default 100000)"},
           {"max-events", "N", opt::integer(0, std::int64_t{1} << 24, 0),
            "bound each session to its last N events (default 0: unbounded)"},
           {"json", "", opt::flag(),
            "answer with {\"session\", \"items\", \"scores\"} or {\"session\", \"line\", \"error\"}"}}};
}

}  // namespace

int run_recommend_stream(int argc, char** argv, int first) {
  Args args(stream_command());
  if (!args.parse(argc, argv, first)) return 0;  // --help
  const int k = static_cast<int>(args.integer("k"));
  const bool exclude_seen = args.flag("exclude-seen"), as_json = args.flag("json");
  const auto max_sessions = static_cast<std::size_t>(args.integer("max-sessions"));
  const std::int64_t max_events = args.integer("max-events");
  const LoadedModel loaded = load_model_named(args);
  const LabelIndex index = item_ids(loaded);
  const SessionModel serving(loaded.model);
  SessionCache sessions(serving, max_sessions, max_events);
  StreamReport report;
  std::vector<Recommendation> top(static_cast<std::size_t>(std::min<std::int64_t>(k, loaded.model.num_items())));
  std::string text, out;
  while (std::getline(std::cin, text)) {
    ++report.lines;
    std::string session_id;
    out.clear();
    try {
      auto [id, token] = split_event(text);
      session_id = id;
      const std::int32_t item = index.find(token);
      LL_CHECK(item >= 1, "item ", printable(token), item == 0 ? " is the padding id" : " is not an item of the model");
      Session& session = sessions.get(session_id, report);
      session.push(item);
      const std::size_t n = session.recommend_into(k, exclude_seen, top);
      if (as_json) {
        json::Value items = json::Value::array(), scores = json::Value::array();
        for (std::size_t i = 0; i < n; ++i) {
          items.push_back(index.has_labels() ? json::Value(index.label(top[i].item)) : json::Value(top[i].item));
          scores.push_back(json::Value(top[i].score));
        }
        json::Value obj = json::Value::object();
        obj.set("session", json::Value(session_id)).set("items", std::move(items)).set("scores", std::move(scores));
        out = json::dump(obj);
      } else {
        out = session_id;
        for (std::size_t i = 0; i < n; ++i) {
          out += ' ';
          out += index.label(top[i].item);
          out += ':';
          out += score_text(top[i].score);
        }
      }
      ++report.answered;
    } catch (const Error& e) {
      ++report.errors;
      std::string message = "line ";
      message += std::to_string(report.lines);
      message += ": ";
      message += e.what();
      if (as_json) {
        json::Value obj = json::Value::object();
        obj.set("session", session_id.empty() ? json::Value() : json::Value(session_id))
            .set("line", json::Value(report.lines))
            .set("error", json::Value(message));
        out = json::dump(obj);
      } else {
        out = session_id.empty() ? "-" : session_id;
        out += " error: ";
        out += message;
      }
    }
    out += '\n';
    std::cout << out;
    std::cout.flush();  // each event is answered before the next is read
  }
  LL_CHECK(!std::cin.bad(), "cannot read standard input");
  report.active = static_cast<std::int64_t>(sessions.size());
  if (as_json) {
    std::cerr << json::dump(report.to_json()) << "\n";
  } else {
    std::cerr << "limelight: stream: " << report.lines << " lines, " << report.answered << " answered, "
              << report.errors << " errors; sessions: " << report.sessions_started << " started, " << report.evicted
              << " evicted, " << report.active << " in memory\n";
  }
  return report.errors == 0 ? 0 : 1;
}

}  // namespace limelight::cli
