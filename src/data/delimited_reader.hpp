// Records of a delimited text file as RFC 4180 defines them: fields separated
// by a delimiter (one or more bytes), records by LF or CRLF; a field may be
// quoted ("..."), and inside quotes the delimiter and line breaks are data
// and a doubled quote ("") is one quote. Spaces around a field (outside any
// quotes) are trimmed. Blank lines are skipped. Fields are views into the
// text, or into the reader's own storage when a doubled quote had to be
// undone, and stay valid as long as the reader.
#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "limelight/error.hpp"

namespace limelight::data {

// A malformed record: the message reads "source:line: detail"; line and
// detail are kept apart for a caller that numbers lines itself (a chunk of a
// file parsed apart from the lines before it).
class RecordError : public Error {
 public:
  RecordError(const std::string& source, std::size_t line, std::string detail)
      : Error(source + ":" + std::to_string(line) + ": " + detail), line(line), detail(std::move(detail)) {}
  std::size_t line;
  std::string detail;
};

class DelimitedReader {
 public:
  // `source` names the text in errors (a file path). Reading starts at byte
  // `start` of `text`, which must begin a record, counted as line
  // `first_line`.
  DelimitedReader(std::string_view text, std::string_view delimiter, std::string source, std::size_t start = 0,
                  std::size_t first_line = 1);

  // The next non-blank record into `fields`; false at the end of the text.
  // RecordError naming source:line for an unclosed quote or text after a
  // closing quote.
  bool next(std::vector<std::string_view>& fields);
  // The line on which the last record started (1-based).
  std::size_t line() const { return record_line_; }
  // The line the reader stands on (after the last record: one past the end).
  std::size_t current_line() const { return line_; }
  // The byte of `text` where the next call starts looking for a record.
  std::size_t position() const { return pos_; }
  // Moves the reader to byte `start`, which must begin a record, counted as
  // line `line` (a caller that reads most lines itself hands the odd one here).
  void seek(std::size_t start, std::size_t line) { pos_ = start, line_ = line; }

 private:
  std::string_view text_, delimiter_;
  std::string source_;
  std::size_t pos_ = 0, line_ = 1, record_line_ = 0;
  std::deque<std::string> unescaped_;  // stable storage for fields that held ""
};

}  // namespace limelight::data
