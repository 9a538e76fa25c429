// The delimited-file parser behind load_delimited and load_movielens. The
// rows after the header are cut into one chunk per thread at line starts and
// parsed in parallel; a chunk whose start turns out to lie inside a quoted
// field (a line break in quotes) is parsed again from where the chunk before
// it stopped, so the result and the first error are those of a single pass.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "limelight/data.hpp"

namespace limelight::data {

// By default the rows are cut into one chunk per thread, each of at least
// this size (a smaller file is parsed on one thread).
inline constexpr std::size_t kMinChunkBytes = std::size_t{1} << 20;

// `delimiter` may be longer than one byte ("::"). A nonzero chunk_bytes cuts
// the rows into chunks of about that size instead, however many that makes
// (tests cut small files into many chunks with it). Rows are read by a fast
// scan of each line where the delimiter is one byte, and any line that scan
// is unsure of by DelimitedReader; `reader_only` sends every line to the
// reader (tests compare the two ways with it). `skipped_rows` is set to 0,
// then counts the rows skipped as malformed (skip_malformed); a load that
// fails leaves the count it had reached.
Interactions parse_delimited(const std::string& path, std::string_view delimiter, const DelimitedOptions& options,
                             std::size_t& skipped_rows, std::size_t chunk_bytes = 0, bool reader_only = false);

// parse_delimited into the calling thread's count that last_skipped_rows()
// reports: load_delimited and load_movielens load through it.
Interactions load_delimited_file(const std::string& path, std::string_view delimiter, const DelimitedOptions& options);

}  // namespace limelight::data
