// RFC 4180 record splitting (see delimited_reader.hpp).
#include "data/delimited_reader.hpp"

#include "limelight/error.hpp"

namespace limelight::data {

namespace {
bool is_blank(char c) { return c == ' ' || c == '\r'; }
}  // namespace

DelimitedReader::DelimitedReader(std::string_view text, std::string_view delimiter, std::string source,
                                 std::size_t start, std::size_t first_line)
    : text_(text), delimiter_(delimiter), source_(std::move(source)), pos_(start), line_(first_line) {
  LL_CHECK(!delimiter_.empty(), source_, ": empty delimiter");
}

bool DelimitedReader::next(std::vector<std::string_view>& fields) {
  const std::size_t n = text_.size();
  for (;;) {
    fields.clear();
    if (pos_ >= n) return false;
    record_line_ = line_;
    bool any_content = false;
    for (;;) {  // one field per turn
      std::size_t i = pos_;
      while (i < n && is_blank(text_[i]) && text_.compare(i, delimiter_.size(), delimiter_) != 0) ++i;
      std::string_view field;
      if (i < n && text_[i] == '"') {
        any_content = true;
        const std::size_t open_line = line_;
        const std::size_t start = ++i;
        bool doubled = false;
        for (;;) {
          if (i >= n) throw RecordError(source_, open_line, "a quoted field opened on this line is never closed");
          if (text_[i] == '"') {
            if (i + 1 < n && text_[i + 1] == '"') {
              doubled = true;
              i += 2;
              continue;
            }
            break;
          }
          if (text_[i] == '\n') ++line_;
          ++i;
        }
        field = text_.substr(start, i - start);
        ++i;  // the closing quote
        if (doubled) {
          std::string plain;
          plain.reserve(field.size());
          for (std::size_t k = 0; k < field.size(); ++k) {
            plain += field[k];
            if (field[k] == '"') ++k;  // the second quote of a pair
          }
          unescaped_.push_back(std::move(plain));
          field = unescaped_.back();
        }
        while (i < n && is_blank(text_[i]) && text_.compare(i, delimiter_.size(), delimiter_) != 0) ++i;
        if (!(i >= n || text_[i] == '\n' || text_.compare(i, delimiter_.size(), delimiter_) == 0))
          throw RecordError(source_, line_,
                            "text after the closing quote of a field (a quote inside a quoted field is written \"\")");
      } else {
        std::size_t end = i;
        const char first = delimiter_[0];
        while (end < n && text_[end] != '\n' &&
               !(text_[end] == first && text_.compare(end, delimiter_.size(), delimiter_) == 0))
          ++end;
        field = text_.substr(i, end - i);
        while (!field.empty() && is_blank(field.back())) field.remove_suffix(1);
        if (!field.empty()) any_content = true;
        i = end;
      }
      fields.push_back(field);
      if (i < n && text_[i] != '\n') {  // a delimiter: another field follows
        pos_ = i + delimiter_.size();
        any_content = true;
        continue;
      }
      pos_ = i < n ? i + 1 : n;
      ++line_;
      break;
    }
    if (any_content) return true;
  }
}

}  // namespace limelight::data
