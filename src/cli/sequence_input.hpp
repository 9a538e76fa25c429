// Item ids as users type them: a LabelIndex maps the data's own ids (a
// model's item labels, or plain dense ids "0".."num_items-1" for a model
// without labels) to dense ids and back, and parse_sequence_line turns one
// line of text ("3,17,42" or "3 17 42") into dense ids. The parser accepts
// any bytes and either returns ids or throws limelight::Error naming the
// line and the offending token; it is the fuzzing target of the CLI.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace limelight::cli {

class LabelIndex {
 public:
  // Plain ids: token "7" is id 7, valid in [0, num_items) (0 is the padding id).
  static LabelIndex dense(std::int32_t num_items);
  // labels[i] is the data's id of dense id i; labels[0] (the padding id) is
  // never matched. Error on duplicate labels.
  static LabelIndex from_labels(std::vector<std::string> labels);

  std::int32_t num_items() const { return num_items_; }
  bool has_labels() const { return !labels_.empty(); }
  // The dense id of a token, or -1 when the model has no such item.
  std::int32_t find(std::string_view token) const;
  // The data's id of a dense id ("7" for plain ids).
  std::string label(std::int32_t id) const;
  // label(id) appended to `out`, without a temporary string.
  void append_label(std::string& out, std::int32_t id) const;

 private:
  std::int32_t num_items_ = 0;
  std::vector<std::string> labels_;
  // Open addressing over labels_, probed linearly: (hash, dense id) slots,
  // id -1 when empty. Indices, not views, so that a copy stays valid.
  struct Slot {
    std::uint32_t hash = 0;
    std::int32_t id = -1;
  };
  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  // When every label is a plain decimal number ("1".."1682", as MovieLens
  // ids are) and the largest is not far above the label count: the dense id
  // of each value, -1 for none, so that a token is looked up without
  // hashing or comparing strings. Empty otherwise.
  std::vector<std::int32_t> by_value_;
};

// The most ids one line may hold.
inline constexpr std::size_t max_sequence_items = std::size_t{1} << 20;

// Tokens are separated by commas and/or whitespace (space, tab, CR, LF, VT,
// FF); empty tokens are skipped. Error, prefixed with `where` (e.g. "line 3"),
// for a token that is not an id of the model, for a line without any id, and
// for more than max_sequence_items ids.
std::vector<std::int32_t> parse_sequence_line(std::string_view line, const LabelIndex& index,
                                              std::string_view where = "input");
// parse_sequence_line's ids appended to `ids`, for a caller that keeps many
// lines in one buffer; errors name "<where> <number>" ("standard input line
// 3"), built only when there is an error. On error `ids` is as it was.
void append_sequence_line(std::string_view line, const LabelIndex& index, std::string_view where,
                          std::int64_t number, std::vector<std::int32_t>& ids);

}  // namespace limelight::cli
