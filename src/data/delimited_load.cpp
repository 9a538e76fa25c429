// The chunked parse of a delimited file (delimited_load.hpp). The file is
// mapped (mapped_file.hpp) and its columns fixed by the first record
// (column_spec.hpp); the data rows are cut into chunks at line starts and
// parsed on all threads, plain lines by the fast scan (row_parser.hpp), any
// other line by DelimitedReader and RowLayout::problem. Each chunk numbers
// its ids in an IdTable of its own; the merge maps them, in file order, into
// the first chunk's, so ids are dense in order of first appearance (users
// from 0, items from 1, 0 being padding) and the raw ids are kept as labels.
// Every malformed row is reported as file:line with what was wrong.
#include "data/delimited_load.hpp"

#include <algorithm>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <string_view>

#include "backend/cpu/parallel.hpp"
#include "data/column_spec.hpp"
#include "data/delimited_reader.hpp"
#include "data/id_table.hpp"
#include "data/mapped_file.hpp"
#include "data/row_parser.hpp"
#include "limelight/data.hpp"
#include "limelight/error.hpp"

namespace limelight::data {

namespace {

// The records that start in [begin, end) of the text, parsed apart from the
// rest: lines numbered from 1 at `begin`, ids dense within the chunk but
// numbered from the file's first ids (users 0, items 1), so that the first
// chunk's ids are already the file's. A chunk that begins at a guessed line
// start (see split_chunks) is only kept when the chunk before it stopped
// exactly there.
struct Chunk : ParsedRows {
  std::size_t begin = 0, end = 0;
  std::size_t stop = 0;   // where the parse stood after the chunk's last record
  std::size_t lines = 0;  // the lines it read (the next chunk's first line, less one)
  std::unique_ptr<DelimitedReader> reader;  // owns the unquoted copies the labels may view
  std::size_t skipped = 0;
  // The first error, on the chunk's own line `error_line` (a row problem or
  // a RecordError's detail), or an error of another kind.
  std::string error;
  std::size_t error_line = 0;
  std::exception_ptr other_error;

  void clear() {
    reader.reset();
    users = IdTable(0), items = IdTable(1);
    user_ids.clear(), item_ids.clear(), timestamps.clear(), ratings.clear();
    skipped = 0, error.clear(), error_line = 0, other_error = nullptr;
    stop = begin, lines = 0;
  }
};

// `reserve_rows`: the rows the chunk is expected to hold at most (its arrays
// are reserved once for them); `fast`: whether rows may take FastRows.
void parse_chunk(Chunk& c, std::string_view text, std::string_view delim, const std::string& path,
                 const RowLayout& layout, std::size_t reserve_rows, bool fast) {
  c.clear();
  c.reader = std::make_unique<DelimitedReader>(text, delim, path, c.begin, 1);
  try {
    c.user_ids.reserve(reserve_rows);
    c.item_ids.reserve(reserve_rows);
    if (layout.time->present()) c.timestamps.reserve(reserve_rows);
    if (layout.rating->present()) c.ratings.reserve(reserve_rows);
    DelimitedReader& reader = *c.reader;
    std::optional<FastRows> rows;
    if (fast && delim.size() == 1) rows.emplace(delim[0], layout);
    std::vector<std::string_view> fields;
    const char* const base = text.data();
    const char* const text_end = base + text.size();
    std::size_t pos = c.begin, line = 1;
    while (pos < c.end) {
      if (rows) {
        const char* next = nullptr;
        const FastRows::Outcome o = rows->read(base + pos, text_end, c, next);
        if (o != FastRows::kUnsure) {
          pos = static_cast<std::size_t>(next - base);
          ++line;
          continue;
        }
      }
      reader.seek(pos, line);
      const bool have = reader.next(fields);
      pos = reader.position(), line = reader.current_line();
      if (!have) break;
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
      c.user_ids.push_back(c.users.get(fields[layout.user->index]));
      c.item_ids.push_back(c.items.get(fields[layout.item->index]));
      if (layout.time->present()) c.timestamps.push_back(ts);
      if (layout.rating->present()) c.ratings.push_back(value);
    }
    c.stop = pos;
    c.lines = line - 1;
  } catch (const RecordError& e) {
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

Interactions parse_delimited(const std::string& path, std::string_view delim, const DelimitedOptions& opt,
                             std::size_t& skipped_rows, std::size_t chunk_bytes, bool reader_only) {
  skipped_rows = 0;
  LL_CHECK(!delim.empty(), path, ": empty delimiter");
  LL_CHECK(delim != " " && delim != "\r" && delim != "\n" && delim != "\"", path, ": delimiter ", show_field(delim),
           " is not supported (fields are trimmed of spaces; quotes quote fields)");
  const MappedFile file(path);
  const std::string_view text = file.text();
  // The header and the first data row fix the columns.
  const ColumnSpec spec = read_column_spec(text, delim, path, opt);
  const std::size_t rows_begin = spec.rows_begin, rows_line = spec.rows_line;
  const RowLayout layout = spec.layout(opt);

  // The data rows (the first one again), in chunks on all threads. The rows
  // per byte of the first 64 KB, with a margin, size each chunk's arrays once;
  // the first chunk's are sized for the whole file, as they become the result.
  const std::size_t threads = static_cast<std::size_t>(std::max(1, cpu::num_threads()));
  const std::size_t row_bytes = text.size() - rows_begin;
  const std::size_t parts = chunk_bytes ? std::max<std::size_t>(1, row_bytes / chunk_bytes)
                                        : std::clamp<std::size_t>(row_bytes / kMinChunkBytes, 1, threads);
  const std::size_t sample = std::min<std::size_t>(row_bytes, std::size_t{1} << 16);
  const double rows_per_byte =
      static_cast<double>(std::count(text.data() + rows_begin, text.data() + rows_begin + sample, '\n') + 1) /
      static_cast<double>(std::max<std::size_t>(sample, 1));
  auto reserve_for = [&](std::size_t bytes) {
    return static_cast<std::size_t>(static_cast<double>(bytes) * rows_per_byte * 1.1) + 64;
  };
  const bool fast = !reader_only;
  std::vector<Chunk> chunks = split_chunks(text, rows_begin, parts);
  auto parse = [&](std::size_t k) {
    Chunk& c = chunks[k];
    parse_chunk(c, text, delim, path, layout, reserve_for(k == 0 ? text.size() - c.begin : c.end - c.begin), fast);
  };
  const int count = static_cast<int>(chunks.size());
  const int team = static_cast<int>(std::min<std::size_t>(chunks.size(), threads));
#pragma omp parallel for num_threads(team) schedule(static, 1) if (team > 1)
  for (int k = 0; k < count; ++k) parse(static_cast<std::size_t>(k));

  // In file order: a chunk whose guessed start is not where the one before
  // stopped is parsed again from there; the first error is the file's first.
  std::size_t line = rows_line;
  for (std::size_t k = 0; k < chunks.size(); ++k) {
    Chunk& c = chunks[k];
    if (k > 0 && c.begin != chunks[k - 1].stop) {
      c.begin = chunks[k - 1].stop;
      if (c.begin < c.end) parse(k);
      else c.clear();  // a quoted field ran over the whole chunk
    }
    skipped_rows += c.skipped;
    if (c.other_error) std::rethrow_exception(c.other_error);
    if (!c.error.empty()) detail::fail(path, ":", line + c.error_line - 1, ": ", c.error);
    line += c.lines;
  }

  // Chunk ids to file ids: each chunk's distinct ids in its order of first
  // appearance, chunks in file order, give the file's order of first
  // appearance. The first chunk's ids already are the file's: its tables and
  // arrays become the file's, and the later chunks' rows are mapped into them.
  std::vector<std::size_t> offsets(chunks.size() + 1, 0);
  for (std::size_t k = 0; k < chunks.size(); ++k) offsets[k + 1] = offsets[k] + chunks[k].user_ids.size();
  const std::size_t rows = offsets.back();
  LL_CHECK(rows > 0, path, ":", line, ": no valid rows (", skipped_rows, " malformed rows skipped)");
  IdTable users = std::move(chunks[0].users), items = std::move(chunks[0].items);
  std::vector<std::vector<std::int32_t>> user_map(chunks.size()), item_map(chunks.size());
  for (std::size_t k = 1; k < chunks.size(); ++k) {
    for (std::string_view raw : chunks[k].users.labels()) user_map[k].push_back(users.get(raw));
    for (std::string_view raw : chunks[k].items.labels()) item_map[k].push_back(items.get(raw));
  }
  Interactions out;
  out.user_ids = std::move(chunks[0].user_ids);
  out.item_ids = std::move(chunks[0].item_ids);
  out.timestamps = std::move(chunks[0].timestamps);
  out.ratings = std::move(chunks[0].ratings);
  out.user_ids.resize(rows);
  out.item_ids.resize(rows);
  if (spec.time.present()) out.timestamps.resize(rows);
  if (spec.rating.present()) out.ratings.resize(rows);
  struct Piece {
    std::size_t chunk, begin, end;  // rows [begin, end) of the chunk
  };
  std::vector<Piece> pieces;
  constexpr std::size_t kPieceRows = std::size_t{1} << 18;
  for (std::size_t k = 1; k < chunks.size(); ++k)
    for (std::size_t r = 0; r < chunks[k].user_ids.size(); r += kPieceRows)
      pieces.push_back({k, r, std::min(chunks[k].user_ids.size(), r + kPieceRows)});
  const int piece_count = static_cast<int>(pieces.size());
  const int map_team = static_cast<int>(std::min<std::size_t>(pieces.size(), threads));
#pragma omp parallel for num_threads(map_team) schedule(dynamic, 1) if (map_team > 1)
  for (int q = 0; q < piece_count; ++q) {
    const Piece& piece = pieces[static_cast<std::size_t>(q)];
    const Chunk& c = chunks[piece.chunk];
    const std::int32_t* users_of = user_map[piece.chunk].data();
    const std::int32_t* items_of = item_map[piece.chunk].data();
    const std::size_t o = offsets[piece.chunk];
    for (std::size_t r = piece.begin; r < piece.end; ++r) {
      out.user_ids[o + r] = users_of[c.user_ids[r]];
      out.item_ids[o + r] = items_of[c.item_ids[r] - 1];
    }
    const std::size_t n = piece.end - piece.begin;
    if (!c.timestamps.empty())
      std::memcpy(out.timestamps.data() + o + piece.begin, c.timestamps.data() + piece.begin, n * 8);
    if (!c.ratings.empty()) std::memcpy(out.ratings.data() + o + piece.begin, c.ratings.data() + piece.begin, n * 4);
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

}  // namespace limelight::data
