// Loaders for delimited interaction files and the MovieLens datasets
// (include/limelight/data.hpp). A file is memory-mapped and parsed in place
// with std::from_chars, in chunks split at line starts and parsed on all
// threads (src/data/delimited_load.hpp); raw ids become dense ids in order of
// first appearance (users from 0, items from 1, 0 being padding) and are kept
// as labels. Every malformed row is reported as file:line with what was wrong.
#include "data/delimited_load.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <algorithm>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <string_view>

#include "backend/cpu/parallel.hpp"
#include "data/delimited_reader.hpp"
#include "data/id_hash.hpp"
#include "limelight/data.hpp"
#include "limelight/error.hpp"

namespace limelight {

namespace {

thread_local std::size_t skipped_rows = 0;

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  LL_CHECK(in.good(), path, ": cannot open file");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  LL_CHECK(size >= 0, path, ": cannot read file size");
  std::string text(static_cast<std::size_t>(size), '\0');
  in.seekg(0, std::ios::beg);
  in.read(text.data(), size);
  LL_CHECK(in.gcount() == size, path, ": read ", in.gcount(), " of ", size, " bytes");
  return text;
}

// A file's bytes: mapped when it is a regular file (no copy; pages are read
// in by whichever thread parses them), read whole otherwise.
class FileText {
 public:
  explicit FileText(const std::string& path) {
    std::error_code ec;
    LL_CHECK(!std::filesystem::is_directory(path, ec), path, ": is a directory, expected a file");
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    LL_CHECK(fd >= 0, path, ": cannot open file");
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
      void* p = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
      if (p != MAP_FAILED) {
        map_ = p;
        size_ = static_cast<std::size_t>(st.st_size);
        ::madvise(map_, size_, MADV_SEQUENTIAL);
      }
    }
    ::close(fd);
    if (!map_) copy_ = read_whole_file(path);
  }
  ~FileText() {
    if (map_) ::munmap(map_, size_);
  }
  FileText(const FileText&) = delete;
  FileText& operator=(const FileText&) = delete;
  std::string_view text() const { return map_ ? std::string_view(static_cast<const char*>(map_), size_) : copy_; }

 private:
  void* map_ = nullptr;
  std::size_t size_ = 0;
  std::string copy_;
};

bool is_position(const std::string& spec) {
  if (spec.empty() || spec.size() > 9) return false;
  for (char c : spec)
    if (c < '0' || c > '9') return false;
  return true;
}

std::string show_field(std::string_view field) {
  constexpr std::size_t kMax = 40;
  std::string s;
  s += '\'';
  s.append(field.substr(0, kMax));
  if (field.size() > kMax) s.append("...");
  s += '\'';
  return s;
}

// "userId, movieId, rating" for a header error.
std::string column_list(const std::vector<std::string_view>& fields) {
  std::string out;
  for (std::size_t i = 0; i < fields.size(); ++i) out += (i ? ", " : "") + show_field(fields[i]);
  return out;
}

bool is_decimal(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// A column wanted by the loader: by header name, or a 0-based position.
struct Column {
  const char* role;
  std::string spec;
  std::size_t index = 0;
  bool present() const { return !spec.empty(); }
};

using data::hash_id;

// Raw ids to dense ids from `first` in order of first appearance: an
// open-addressing table probed linearly. A slot holds an id of up to 16 bytes
// itself, so that a look-up touches one cache line and not the file's text
// at the id's first appearance; longer ids are compared through the label
// views (into the file, or a reader's unquoted copies).
class IdTable {
 public:
  explicit IdTable(std::int32_t first) : first_(first) { rehash(1024); }
  std::int32_t get(std::string_view raw) { return get(raw, hash_id(raw)); }
  // Starts loading the slot a look-up of hash h begins at, so that work done
  // before get(raw, h) hides the cache miss.
  void prefetch(std::uint64_t h) const { __builtin_prefetch(&slots_[h & mask_]); }
  // get() of an id whose hash_id() is h.
  std::int32_t get(std::string_view raw, std::uint64_t h) {
    std::uint64_t key[2] = {0, 0};
    std::memcpy(key, raw.data(), std::min<std::size_t>(raw.size(), kInline));
    const std::uint32_t len = static_cast<std::uint32_t>(std::min<std::size_t>(raw.size(), 0xffffffffu));
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.id < 0) {
        LL_CHECK(labels_.size() < static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max() - first_),
                 "too many distinct ids");
        s.hash = h;
        s.id = static_cast<std::int32_t>(labels_.size());
        s.len = len;
        s.key[0] = key[0], s.key[1] = key[1];
        labels_.push_back(raw);
        const std::int32_t id = first_ + s.id;
        if (labels_.size() * 2 > slots_.size()) rehash(slots_.size() * 2);
        return id;
      }
      if (s.hash == h && s.len == len && s.key[0] == key[0] && s.key[1] == key[1] &&
          (raw.size() <= kInline || labels_[static_cast<std::size_t>(s.id)] == raw))
        return first_ + s.id;
    }
  }
  const std::vector<std::string_view>& labels() const { return labels_; }
  std::int32_t count() const { return first_ + static_cast<std::int32_t>(labels_.size()); }

 private:
  static constexpr std::size_t kInline = 16;
  struct Slot {
    std::uint64_t hash = 0;
    std::int32_t id = -1;  // index into labels_; -1 for an empty slot
    std::uint32_t len = 0;
    std::uint64_t key[2] = {0, 0};  // the id's first 16 bytes, zero-padded
  };
  void rehash(std::size_t n) {
    std::vector<Slot> old(n);
    old.swap(slots_);
    mask_ = n - 1;
    for (const Slot& s : old) {
      if (s.id < 0) continue;
      std::size_t i = s.hash & mask_;
      while (slots_[i].id >= 0) i = (i + 1) & mask_;
      slots_[i] = s;
    }
  }
  std::int32_t first_;
  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  std::vector<std::string_view> labels_;
};

// What a data row must hold: the columns' positions, the column count, the
// options' checks.
struct RowLayout {
  std::size_t expected = 0;
  const Column *user, *item, *time, *rating;
  const DelimitedOptions* opt;

  // Empty when the row is good (ts and value then hold its timestamp and
  // rating), else what is wrong with it.
  std::string problem(const std::vector<std::string_view>& fields, std::int64_t& ts, float& value) const {
    if (fields.size() != expected)
      return "expected " + std::to_string(expected) + " columns, found " + std::to_string(fields.size());
    if (fields[user->index].empty()) return "empty user id";
    if (fields[item->index].empty()) return "empty item id";
    if (opt->numeric_ids && !is_decimal(fields[user->index]))
      return "user id " + show_field(fields[user->index]) +
             " is not a non-negative integer (this format's ids are numeric)";
    if (opt->numeric_ids && !is_decimal(fields[item->index]))
      return "item id " + show_field(fields[item->index]) +
             " is not a non-negative integer (this format's ids are numeric)";
    if (time->present()) {
      const std::string_view f = fields[time->index];
      const auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), ts);
      if (ec != std::errc() || end != f.data() + f.size() || f.empty())
        return "timestamp " + show_field(f) + " is not an integer";
    }
    if (rating->present()) {
      const std::string_view f = fields[rating->index];
      const auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), value);
      if (ec != std::errc() || end != f.data() + f.size() || f.empty() || !std::isfinite(value))
        return "rating " + show_field(f) + " is not a finite number";
    }
    return {};
  }
};

// The records that start in [begin, end) of the text, parsed apart from the
// rest: lines numbered from 1 at `begin`, ids dense within the chunk. A chunk
// that begins at a guessed line start (see split_chunks) is only kept when
// the chunk before it stopped exactly there.
struct Chunk {
  std::size_t begin = 0, end = 0;
  std::size_t stop = 0;   // where the reader stood after the chunk's last record
  std::size_t lines = 0;  // the lines it read (the next chunk's first line, less one)
  std::unique_ptr<data::DelimitedReader> reader;  // owns the unquoted copies the labels may view
  IdTable users{0}, items{0};
  std::vector<std::int32_t> user_ids, item_ids;
  std::vector<std::int64_t> timestamps;
  std::vector<float> ratings;
  std::size_t skipped = 0;
  // The first error, on the chunk's own line `error_line` (a row problem or
  // a RecordError's detail), or an error of another kind.
  std::string error;
  std::size_t error_line = 0;
  std::exception_ptr other_error;
};

void parse_chunk(Chunk& c, std::string_view text, std::string_view delim, const std::string& path,
                 const RowLayout& layout) {
  c.reader = std::make_unique<data::DelimitedReader>(text, delim, path, c.begin, 1);
  c.users = IdTable(0);
  c.items = IdTable(0);
  c.user_ids.clear(), c.item_ids.clear(), c.timestamps.clear(), c.ratings.clear();
  c.skipped = 0;
  c.error.clear();
  c.other_error = nullptr;
  try {
    const std::size_t approx_rows = (c.end - c.begin) / 16 + 1;
    c.user_ids.reserve(approx_rows);
    c.item_ids.reserve(approx_rows);
    if (layout.time->present()) c.timestamps.reserve(approx_rows);
    if (layout.rating->present()) c.ratings.reserve(approx_rows);
    data::DelimitedReader& reader = *c.reader;
    std::vector<std::string_view> fields;
    while (reader.position() < c.end && reader.next(fields)) {
      std::uint64_t user_hash = 0, item_hash = 0;
      if (fields.size() == layout.expected) {
        user_hash = hash_id(fields[layout.user->index]);
        item_hash = hash_id(fields[layout.item->index]);
        c.users.prefetch(user_hash);
        c.items.prefetch(item_hash);
      }
      std::int64_t ts = 0;
      float value = 0.0f;
      std::string problem = layout.problem(fields, ts, value);
      if (!problem.empty()) {
        if (!layout.opt->skip_malformed) {
          c.error = std::move(problem);
          c.error_line = reader.line();
          return;
        }
        ++c.skipped;
        continue;
      }
      c.user_ids.push_back(c.users.get(fields[layout.user->index], user_hash));
      c.item_ids.push_back(c.items.get(fields[layout.item->index], item_hash));
      if (layout.time->present()) c.timestamps.push_back(ts);
      if (layout.rating->present()) c.ratings.push_back(value);
    }
    c.stop = reader.position();
    c.lines = reader.current_line() - 1;
  } catch (const data::RecordError& e) {
    c.error = e.detail;
    c.error_line = e.line;
  } catch (...) {
    c.other_error = std::current_exception();
  }
}

// Chunk boundaries over [begin, text.size()): `parts` near-equal pieces, each
// moved on to just past the next line break. A break inside a quoted field
// makes a wrong guess, which the merge detects and reparses.
std::vector<Chunk> split_chunks(std::string_view text, std::size_t begin, std::size_t parts) {
  std::vector<std::size_t> starts{begin};
  const std::size_t n = text.size(), step = (n - begin) / parts;
  for (std::size_t k = 1; k < parts; ++k) {
    const std::size_t guess = std::max(begin + k * step, starts.back() + 1);
    if (guess >= n) break;
    const void* nl = std::memchr(text.data() + guess - 1, '\n', n - (guess - 1));
    if (!nl) break;
    const std::size_t s = static_cast<std::size_t>(static_cast<const char*>(nl) - text.data()) + 1;
    if (s >= n) break;
    if (s > starts.back()) starts.push_back(s);
  }
  std::vector<Chunk> chunks(starts.size());
  for (std::size_t k = 0; k < starts.size(); ++k) {
    chunks[k].begin = starts[k];
    chunks[k].end = k + 1 < starts.size() ? starts[k + 1] : n;
  }
  return chunks;
}

}  // namespace

namespace data {

Interactions parse_delimited(const std::string& path, std::string_view delim, const DelimitedOptions& opt,
                             std::size_t chunk_bytes) {
  skipped_rows = 0;
  LL_CHECK(!delim.empty(), path, ": empty delimiter");
  LL_CHECK(delim != " " && delim != "\r" && delim != "\n" && delim != "\"", path, ": delimiter ", show_field(delim),
           " is not supported (fields are trimmed of spaces; quotes quote fields)");
  const FileText file(path);
  const std::string_view text = file.text();
  Column user{"user", opt.user_column}, item{"item", opt.item_column},
      time{"timestamp", opt.timestamp_column}, rating{"rating", opt.rating_column};
  LL_CHECK(user.present(), path, ": no user column given");
  LL_CHECK(item.present(), path, ": no item column given");
  Column* columns[] = {&user, &item, &time, &rating};

  // The header and the first data row, read here: they fix the columns.
  DelimitedReader reader(text, delim, path);
  std::vector<std::string_view> fields;
  std::size_t expected = 0;  // columns per row, from the header or the first row
  std::size_t rows_begin = reader.position(), rows_line = reader.current_line();
  bool have_row = reader.next(fields);
  LL_CHECK(have_row, path, ":", reader.current_line(), ": empty file, no interactions");
  if (opt.header) {
    expected = fields.size();
    for (Column* c : columns) {
      if (!c->present()) continue;
      bool found = false;
      for (std::size_t i = 0; i < fields.size() && !found; ++i)
        if (fields[i] == c->spec) c->index = i, found = true;
      if (!found && is_position(c->spec)) c->index = std::stoul(c->spec), found = true;
      LL_CHECK(found, path, ":", reader.line(), ": header has no ", c->role, " column ", show_field(c->spec),
               " (the header's columns: ", column_list(fields), ")");
      LL_CHECK(c->index < expected, path, ":", reader.line(), ": ", c->role, " column ", c->spec,
               " is past the header's ", expected, " columns");
    }
    rows_begin = reader.position(), rows_line = reader.current_line();
    have_row = reader.next(fields);
    LL_CHECK(have_row, path, ":", reader.current_line(), ": no data rows after the header");
  } else {
    for (Column* c : columns) {
      if (!c->present()) continue;
      LL_CHECK(is_position(c->spec), path, ":", reader.line(), ": ", c->role, " column ", show_field(c->spec),
               " is a name but the file has no header; give a 0-based position");
      c->index = std::stoul(c->spec);
    }
    expected = fields.size();
    for (Column* c : columns)
      LL_CHECK(!c->present() || c->index < expected, path, ":", reader.line(), ": ", c->role, " column ", c->spec,
               " is past the row's ", expected, " columns");
  }
  const RowLayout layout{expected, &user, &item, &time, &rating, &opt};

  // The data rows (the first one again), in chunks on all threads.
  const std::size_t threads = static_cast<std::size_t>(std::max(1, cpu::num_threads()));
  const std::size_t row_bytes = text.size() - rows_begin;
  const std::size_t parts = chunk_bytes ? std::max<std::size_t>(1, row_bytes / chunk_bytes)
                                        : std::clamp<std::size_t>(row_bytes / kMinChunkBytes, 1, threads);
  std::vector<Chunk> chunks = split_chunks(text, rows_begin, parts);
  const int count = static_cast<int>(chunks.size());
  const int team = static_cast<int>(std::min<std::size_t>(chunks.size(), threads));
#pragma omp parallel for num_threads(team) schedule(static, 1) if (team > 1)
  for (int k = 0; k < count; ++k) parse_chunk(chunks[static_cast<std::size_t>(k)], text, delim, path, layout);

  // In file order: a chunk whose guessed start is not where the one before
  // stopped is parsed again from there; the first error is the file's first.
  std::size_t line = rows_line;
  for (std::size_t k = 0; k < chunks.size(); ++k) {
    Chunk& c = chunks[k];
    if (k > 0 && c.begin != chunks[k - 1].stop) {
      c.begin = chunks[k - 1].stop;
      if (c.begin < c.end) {
        parse_chunk(c, text, delim, path, layout);
      } else {  // a quoted field ran over the whole chunk
        c.reader.reset();
        c.users = IdTable(0), c.items = IdTable(0);
        c.user_ids.clear(), c.item_ids.clear(), c.timestamps.clear(), c.ratings.clear();
        c.skipped = 0, c.error.clear(), c.other_error = nullptr;
        c.stop = c.begin, c.lines = 0;
      }
    }
    skipped_rows += c.skipped;
    if (c.other_error) std::rethrow_exception(c.other_error);
    if (!c.error.empty()) detail::fail(path, ":", line + c.error_line - 1, ": ", c.error);
    line += c.lines;
  }

  // Chunk ids to file ids: each chunk's distinct ids in its order of first
  // appearance, chunks in file order, give the file's order of first appearance.
  Interactions out;
  IdTable users(0), items(1);
  std::vector<std::vector<std::int32_t>> user_map(chunks.size()), item_map(chunks.size());
  std::vector<std::size_t> offsets(chunks.size() + 1, 0);
  for (std::size_t k = 0; k < chunks.size(); ++k) {
    for (std::string_view raw : chunks[k].users.labels()) user_map[k].push_back(users.get(raw));
    for (std::string_view raw : chunks[k].items.labels()) item_map[k].push_back(items.get(raw));
    offsets[k + 1] = offsets[k] + chunks[k].user_ids.size();
  }
  const std::size_t rows = offsets.back();
  LL_CHECK(rows > 0, path, ":", line, ": no valid rows (", skipped_rows, " malformed rows skipped)");
  out.user_ids.resize(rows);
  out.item_ids.resize(rows);
  if (time.present()) out.timestamps.resize(rows);
  if (rating.present()) out.ratings.resize(rows);
#pragma omp parallel for num_threads(team) schedule(static, 1) if (team > 1)
  for (int k = 0; k < count; ++k) {
    const std::size_t ck = static_cast<std::size_t>(k);
    const Chunk& c = chunks[ck];
    const std::size_t o = offsets[ck];
    for (std::size_t r = 0; r < c.user_ids.size(); ++r) {
      out.user_ids[o + r] = user_map[ck][static_cast<std::size_t>(c.user_ids[r])];
      out.item_ids[o + r] = item_map[ck][static_cast<std::size_t>(c.item_ids[r])];
    }
    if (!c.timestamps.empty()) std::memcpy(out.timestamps.data() + o, c.timestamps.data(), c.timestamps.size() * 8);
    if (!c.ratings.empty()) std::memcpy(out.ratings.data() + o, c.ratings.data(), c.ratings.size() * 4);
  }
  out.user_labels.reserve(users.labels().size());
  for (std::string_view raw : users.labels()) out.user_labels.emplace_back(raw);
  out.item_labels.reserve(items.labels().size() + 1);
  out.item_labels.emplace_back();
  for (std::string_view raw : items.labels()) out.item_labels.emplace_back(raw);
  out.num_users = users.count();
  out.num_items = items.count();
  out.validate();
  return out;
}

}  // namespace data

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::size_t last_skipped_rows() { return skipped_rows; }

Interactions load_delimited(const std::string& path, const DelimitedOptions& options) {
  return data::parse_delimited(path, std::string_view(&options.delimiter, 1), options);
}

std::string movielens_ratings_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  LL_CHECK(fs::exists(path, ec), "load_movielens: ", path, " does not exist");
  if (!fs::is_directory(path, ec)) return path;
  for (const char* name : {"u.data", "ratings.dat", "ratings.csv"}) {
    const fs::path candidate = fs::path(path) / name;
    if (fs::is_regular_file(candidate, ec)) return candidate.string();
  }
  detail::fail("load_movielens: ", path, " holds none of u.data (100K), ratings.dat (1M/10M), ratings.csv (latest)");
}

Interactions load_movielens(const std::string& path) {
  const std::string file = movielens_ratings_file(path);
  // MovieLens 100K, 1M and 10M: user item rating timestamp, no header.
  const DelimitedOptions positional{'\t', false, "0", "1", "3", "2", false, true};
  if (ends_with(file, ".data")) return load_delimited(file, positional);
  if (ends_with(file, ".dat")) return data::parse_delimited(file, "::", positional);
  LL_CHECK(ends_with(file, ".csv"), "load_movielens: ", file,
           " is not a MovieLens ratings file (u.data, ratings.dat or ratings.csv)");
  DelimitedOptions opt;
  opt.rating_column = "rating";
  opt.numeric_ids = true;
  return load_delimited(file, opt);
}

}  // namespace limelight
