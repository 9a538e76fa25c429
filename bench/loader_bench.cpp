// limelight-loader-bench: MB/s of load_delimited on a large CSV, beside two
// baselines measured in the same process: reading the file into memory
// (std::ifstream, the floor of any loader that reads the bytes), and the
// loader as it was before chunking (one thread, std::unordered_map ids, kept
// below verbatim but for names). Each loader's result is checked equal to the
// baseline loader's. The file comes from bench/make_interactions_csv.py:
//
//   /usr/bin/python3 bench/make_interactions_csv.py /tmp/limelight-10m.csv
//   build/bench/limelight-loader-bench /tmp/limelight-10m.csv [--threads 1,2] [--repeats 3]
//
// Every figure is the median of --repeats runs, A/B alternated.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "backend/backend.hpp"
#include "bench_common.hpp"
#include "data/delimited_reader.hpp"
#include "limelight/data.hpp"
#include "limelight/error.hpp"

namespace {

using namespace limelight;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  LL_CHECK(in.good(), path, ": cannot open file");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  std::string text(static_cast<std::size_t>(size), '\0');
  in.seekg(0, std::ios::beg);
  in.read(text.data(), size);
  return text;
}

// The single-threaded loader before chunking, for a header file of named
// columns and no malformed rows (what the benchmark file is).
Interactions baseline_load(const std::string& path, const DelimitedOptions& opt) {
  const std::string text = read_file(path);
  data::DelimitedReader reader(text, std::string_view(&opt.delimiter, 1), path);
  std::vector<std::string_view> fields;
  LL_CHECK(reader.next(fields), path, ": empty");
  auto index_of = [&](const std::string& name) -> int {
    if (name.empty()) return -1;
    for (std::size_t i = 0; i < fields.size(); ++i)
      if (fields[i] == name) return static_cast<int>(i);
    detail::fail(path, ": no column ", name);
  };
  const int user = index_of(opt.user_column), item = index_of(opt.item_column), time = index_of(opt.timestamp_column),
            rating = index_of(opt.rating_column);
  const std::size_t expected = fields.size();
  Interactions out;
  out.item_labels.emplace_back();
  std::unordered_map<std::string_view, std::int32_t> users, items;
  auto dense = [](std::unordered_map<std::string_view, std::int32_t>& ids, std::int32_t first,
                  std::vector<std::string>& labels, std::string_view raw) {
    auto [it, inserted] = ids.try_emplace(raw, first + static_cast<std::int32_t>(ids.size()));
    if (inserted) labels.emplace_back(raw);
    return it->second;
  };
  const std::size_t approx_rows = text.size() / 16 + 1;
  out.user_ids.reserve(approx_rows);
  out.item_ids.reserve(approx_rows);
  if (time >= 0) out.timestamps.reserve(approx_rows);
  if (rating >= 0) out.ratings.reserve(approx_rows);
  while (reader.next(fields)) {
    LL_CHECK(fields.size() == expected, path, ":", reader.line(), ": expected ", expected, " columns");
    std::int64_t ts = 0;
    float value = 0;
    if (time >= 0) {
      const std::string_view f = fields[static_cast<std::size_t>(time)];
      const auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), ts);
      LL_CHECK(ec == std::errc() && end == f.data() + f.size(), path, ":", reader.line(), ": timestamp");
    }
    if (rating >= 0) {
      const std::string_view f = fields[static_cast<std::size_t>(rating)];
      const auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), value);
      LL_CHECK(ec == std::errc() && end == f.data() + f.size() && std::isfinite(value), path, ":", reader.line(),
               ": rating");
    }
    out.user_ids.push_back(dense(users, 0, out.user_labels, fields[static_cast<std::size_t>(user)]));
    out.item_ids.push_back(dense(items, 1, out.item_labels, fields[static_cast<std::size_t>(item)]));
    if (time >= 0) out.timestamps.push_back(ts);
    if (rating >= 0) out.ratings.push_back(value);
  }
  out.num_users = static_cast<std::int32_t>(users.size());
  out.num_items = static_cast<std::int32_t>(items.size()) + 1;
  return out;
}

bool same(const Interactions& a, const Interactions& b) {
  return a.user_ids == b.user_ids && a.item_ids == b.item_ids && a.timestamps == b.timestamps &&
         a.ratings == b.ratings && a.user_labels == b.user_labels && a.item_labels == b.item_labels &&
         a.num_users == b.num_users && a.num_items == b.num_items;
}

std::vector<int> parse_counts(const std::string& s) {
  std::vector<int> out;
  for (const std::string& part : bench::split_list(s)) out.push_back(std::stoi(part));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const char* usage = "usage: limelight-loader-bench FILE.csv [--threads 1,2] [--repeats 3]";
    if (argc >= 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
      std::puts(usage);
      return 0;
    }
    LL_CHECK(argc >= 2, usage);
    const std::string path = argv[1];
    std::vector<int> threads{1, 2};
    int repeats = 3;
    for (int i = 2; i < argc; i += 2) {
      const std::string flag = argv[i];
      LL_CHECK(i + 1 < argc, flag, " needs a value (", usage, ")");
      if (flag == "--threads") threads = parse_counts(argv[i + 1]);
      else if (flag == "--repeats") repeats = std::max(1, std::atoi(argv[i + 1]));
      else detail::fail("unknown flag ", flag, " (", usage, ")");
    }
    DelimitedOptions opt;  // userId,movieId,timestamp (+ rating)
    opt.rating_column = "rating";
    const std::string probe = read_file(path);
    const double mb = static_cast<double>(probe.size()) / 1e6;
    Interactions reference = baseline_load(path, opt);
    std::printf("file %s: %.1f MB, %zu interactions, %d users, %d items\n", path.c_str(), mb, reference.size(),
                reference.num_users, reference.num_items - 1);

    std::vector<double> t_read, t_base;
    std::vector<std::vector<double>> t_new(threads.size());
    bool all_same = true;
    for (int r = 0; r < repeats; ++r) {
      t_read.push_back(bench::seconds_of([&] { volatile std::size_t n = read_file(path).size(); (void)n; }));
      t_base.push_back(bench::seconds_of([&] { reference = baseline_load(path, opt); }));
      for (std::size_t t = 0; t < threads.size(); ++t) {
        backend::get(Device::cpu).set_threads(threads[t]);
        Interactions x;
        t_new[t].push_back(bench::seconds_of([&] { x = load_delimited(path, opt); }));
        all_same = all_same && same(x, reference);
      }
    }
    const double base = bench::upper_median(t_base);
    std::printf("%-34s %8s %9s %9s\n", "", "seconds", "MB/s", "vs before");
    const double read_s = bench::upper_median(t_read);
    std::printf("%-34s %8.3f %9.0f %9s\n", "read the file (ifstream)", read_s, mb / read_s, "");
    std::printf("%-34s %8.3f %9.0f %8.2fx\n", "loader before (1 thread)", base, mb / base, 1.0);
    for (std::size_t t = 0; t < threads.size(); ++t) {
      const double s = bench::upper_median(t_new[t]);
      std::printf("load_delimited, %d thread%s %16s %8.3f %9.0f %8.2fx\n", threads[t], threads[t] == 1 ? " " : "s",
                  "", s, mb / s, base / s);
    }
    std::printf("results identical to the loader before: %s\n", all_same ? "yes" : "NO");
    return all_same ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "limelight-loader-bench: %s\n", e.what());
    return 1;
  }
}
