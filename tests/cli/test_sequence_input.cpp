// Tests of the CLI's sequence-line parser: separators, dense ids and labels,
// errors that name the line and the token, and random bytes that either parse
// into valid ids or raise limelight::Error.
#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "cli/args.hpp"
#include "cli/sequence_input.hpp"
#include "limelight/error.hpp"

using limelight::Error;
using limelight::cli::LabelIndex;
using limelight::cli::parse_sequence_line;
using Ids = std::vector<std::int32_t>;

TEST_CASE("dense ids: commas, spaces, tabs and CR separate; padding 0 is an id") {
  const LabelIndex index = LabelIndex::dense(50);
  CHECK(parse_sequence_line("3,17,42", index) == Ids{3, 17, 42});
  CHECK(parse_sequence_line(" 3 17\t42\r", index) == Ids{3, 17, 42});
  CHECK(parse_sequence_line("0, 0,,5 ,", index) == Ids{0, 0, 5});
  CHECK(parse_sequence_line("49", index) == Ids{49});
  CHECK(index.label(7) == "7");
}

TEST_CASE("dense ids: out of range, signs, hex, overflow and words are errors naming line and token") {
  const LabelIndex index = LabelIndex::dense(50);
  CHECK_THROWS_WITH_AS(parse_sequence_line("3,50", index, "line 4"),
                       "line 4: item id '50' is not an id of the model (expected an integer in [0, 50))", Error);
  for (const char* bad : {"-1", "+3", "0x10", "3.0", "99999999999999999999", "abc", "1e2"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(parse_sequence_line(bad, index), Error);
  }
  CHECK_THROWS_WITH_AS(parse_sequence_line("1,2,\x01\xff", index, "line 2"),
                       "line 2: item id '\\x01\\xff' is not an id of the model (expected an integer in [0, 50))",
                       Error);
}

TEST_CASE("empty lines are errors") {
  const LabelIndex index = LabelIndex::dense(5);
  for (const char* empty : {"", " ", ",,,", "\t\r"})
    CHECK_THROWS_WITH_AS(parse_sequence_line(empty, index, "line 9"), "line 9: empty sequence (no item ids)", Error);
}

TEST_CASE("labels: the model's ids map to dense ids and back; unknown ids and the padding label are errors") {
  const LabelIndex index = LabelIndex::from_labels({"", "apple", "banana", "42"});
  CHECK(index.has_labels());
  CHECK(index.num_items() == 4);
  CHECK(parse_sequence_line("banana apple,42", index) == Ids{2, 1, 3});
  CHECK(index.label(2) == "banana");
  CHECK_THROWS_WITH_AS(parse_sequence_line("apple,cherry", index, "line 1"),
                       "line 1: item id 'cherry' is not in the model", Error);
  CHECK_THROWS_AS(parse_sequence_line("0", index), Error);
  CHECK_THROWS_AS(parse_sequence_line("1", index), Error);
  CHECK_THROWS_AS(LabelIndex::from_labels({"", "a", "a"}), Error);
}

TEST_CASE("number labels (looked up in a direct table when dense enough) match exactly as strings do") {
  // Dense numbers, in any order, "0" among them: the table; sparse ones and
  // a list with one word: the hash. Each must find a token iff it is
  // spelled as a label is, so "01", "+1" and "1 " are never "1".
  const std::vector<std::vector<std::string>> label_sets = {
      {"", "7", "3", "10", "0", "1"}, {"", "5", "123456789"}, {"", "1", "2", "x"}};
  for (const auto& labels : label_sets) {
    CAPTURE(labels.size());
    const LabelIndex index = LabelIndex::from_labels(labels);
    for (std::size_t i = 1; i < labels.size(); ++i) CHECK(index.find(labels[i]) == static_cast<std::int32_t>(i));
    for (const char* token : {"", "01", "007", "+1", "-1", "1 ", "1x", "11", "4", "1000000000", "99999999999", "2.0"}) {
      CAPTURE(token);
      std::int32_t expected = -1;
      for (std::size_t i = 1; i < labels.size(); ++i)
        if (labels[i] == token) expected = static_cast<std::int32_t>(i);
      CHECK(index.find(token) == expected);
    }
  }
  const LabelIndex index = LabelIndex::from_labels(label_sets[0]);
  CHECK(parse_sequence_line("10,0 7", index) == Ids{3, 4, 1});
  CHECK_THROWS_WITH_AS(parse_sequence_line("3,03", index, "line 2"), "line 2: item id '03' is not in the model", Error);
}

TEST_CASE("long tokens are cut in the message") {
  const LabelIndex index = LabelIndex::dense(5);
  const std::string token(1000, 'x');
  try {
    parse_sequence_line(token, index);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).size() < 200);
  }
}

TEST_CASE("random bytes parse into valid ids or raise Error") {
  std::mt19937 rng(7);
  const LabelIndex dense = LabelIndex::dense(100);
  const LabelIndex labelled = LabelIndex::from_labels({"", "a", "b", "7", "\xc3\xa9"});
  const std::string alphabet = std::string("0123456789ab ,\t\r\n-+x.\xc3\xa9") + '\0';
  int parsed = 0, rejected = 0;
  for (int trial = 0; trial < 20000; ++trial) {
    std::string line(rng() % 24, ' ');
    for (char& c : line) c = rng() % 4 == 0 ? static_cast<char>(rng()) : alphabet[rng() % alphabet.size()];
    for (const LabelIndex* index : {&dense, &labelled}) {
      try {
        const Ids ids = parse_sequence_line(line, *index);
        REQUIRE(!ids.empty());
        for (std::int32_t id : ids) REQUIRE((id >= 0 && id < index->num_items()));
        ++parsed;
      } catch (const Error&) {
        ++rejected;
      }
    }
  }
  CHECK(parsed > 200);
  CHECK(rejected > 200);
}
