// The loader's chunked parse (src/data/delimited_load.hpp): small files cut
// into chunks of every size from one byte up must give what one chunk gives,
// the same arrays, labels and the same first error with its line, whatever
// falls on a boundary: a quoted field holding a line break, CRLF, a missing
// final line break, blank lines, an error in a later chunk. The fast row scan
// must give what DelimitedReader alone gives (reader_only) on every file.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "data/delimited_load.hpp"
#include "limelight/data.hpp"
#include "limelight/error.hpp"

namespace fs = std::filesystem;
using limelight::DelimitedOptions;
using limelight::Interactions;
using limelight::data::parse_delimited;

namespace {

struct TempFile {
  fs::path path;
  explicit TempFile(const std::string& text) {
    path = fs::temp_directory_path() /
           ("limelight_chunk_test_" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) +
            ".csv");
    std::ofstream(path, std::ios::binary) << text;
  }
  ~TempFile() {
    std::error_code ec;
    fs::remove(path, ec);
  }
};

DelimitedOptions options() { return DelimitedOptions{',', true, "user", "item", "ts", "rating", false, false}; }

// The parse's result, or its error's message.
struct Outcome {
  Interactions x;
  std::string error;
  std::size_t skipped = 0;
};

Outcome parse(const std::string& path, const DelimitedOptions& opt, std::size_t chunk_bytes,
              bool reader_only = false) {
  Outcome o;
  try {
    o.x = parse_delimited(path, std::string_view(&opt.delimiter, 1), opt, o.skipped, chunk_bytes, reader_only);
  } catch (const limelight::Error& e) {
    o.error = e.what();
  }
  return o;
}

void check_same(const Outcome& a, const Outcome& b) {
  CHECK(a.error == b.error);
  CHECK(a.skipped == b.skipped);
  CHECK(a.x.user_ids == b.x.user_ids);
  CHECK(a.x.item_ids == b.x.item_ids);
  CHECK(a.x.timestamps == b.x.timestamps);
  CHECK(a.x.ratings == b.x.ratings);
  CHECK(a.x.user_labels == b.x.user_labels);
  CHECK(a.x.item_labels == b.x.item_labels);
  CHECK(a.x.num_users == b.x.num_users);
  CHECK(a.x.num_items == b.x.num_items);
}

// Every chunk size gives the one-chunk outcome, and so does every line read
// by DelimitedReader alone; returns that outcome.
Outcome same_at_every_chunk_size(const std::string& text, const DelimitedOptions& opt) {
  TempFile file(text);
  const std::string path = file.path.string();
  Outcome whole = parse(path, opt, text.size() + 1);
  {
    INFO("every line through the reader");
    check_same(parse(path, opt, text.size() + 1, true), whole);
  }
  for (std::size_t bytes = 1; bytes <= text.size(); ++bytes) {
    CAPTURE(bytes);
    check_same(parse(path, opt, bytes), whole);
  }
  return whole;
}

}  // namespace

TEST_CASE("chunked parse: a quoted line break across a boundary, CRLF, no final line break") {
  const std::string text =
      "user,item,ts,rating\r\n"
      "ann,\"tea\r\n,green\",1,2.5\r\n"
      "bob,\"x\"\"y\n\nz\",2,3\r\n"
      "\r\n"
      "ann,plain,3,4\r\n"
      "\"c,d\",\"tea\r\n,green\",4,1.5\r\n"
      "bob,plain,5,0.5";
  const Outcome o = same_at_every_chunk_size(text, options());
  REQUIRE(o.error.empty());
  CHECK(o.x.user_labels == std::vector<std::string>{"ann", "bob", "c,d"});
  CHECK(o.x.item_labels == std::vector<std::string>{"", "tea\r\n,green", "x\"y\n\nz", "plain"});
  CHECK(o.x.user_ids == std::vector<std::int32_t>{0, 1, 0, 2, 1});
  CHECK(o.x.item_ids == std::vector<std::int32_t>{1, 2, 3, 1, 3});
  CHECK(o.x.timestamps == std::vector<std::int64_t>{1, 2, 3, 4, 5});
  CHECK(o.x.ratings == std::vector<float>{2.5f, 3.0f, 4.0f, 1.5f, 0.5f});
}

TEST_CASE("chunked parse: an error late in the file names its line") {
  const std::string head =
      "user,item,ts,rating\n"
      "a,\"1\n2\",1,1\n"  // lines 2-3
      "b,2,2,1\n"         // 4
      "\n"                // 5
      "c,\"3\n\n\",3,1\n"  // 6-8
      "d,4,4,1\n";        // 9
  SUBCASE("a bad timestamp") {
    const Outcome o = same_at_every_chunk_size(head + "e,5,zz,1\nf,6,6,1\n", options());
    CHECK(o.error.find(".csv:10: timestamp 'zz' is not an integer") != std::string::npos);
  }
  SUBCASE("an unclosed quote") {
    const Outcome o = same_at_every_chunk_size(head + "e,5,5,1\nf,\"6,6,1\ng,7,7,1\n", options());
    CHECK(o.error.find(".csv:11: a quoted field opened on this line is never closed") != std::string::npos);
  }
  SUBCASE("text after a closing quote") {
    const Outcome o = same_at_every_chunk_size(head + "e,\"5\"x,5,1\n", options());
    CHECK(o.error.find(".csv:10: text after the closing quote") != std::string::npos);
  }
  SUBCASE("a short row after a quoted line break") {
    const Outcome o = same_at_every_chunk_size(head + "e,\"5\n\",5\n", options());
    CHECK(o.error.find(".csv:10: expected 4 columns, found 3") != std::string::npos);
  }
  SUBCASE("skipped rows are counted across chunks") {
    DelimitedOptions opt = options();
    opt.skip_malformed = true;
    const Outcome o = same_at_every_chunk_size("user,item,ts,rating\na,1,x,1\nb,2,2,1\nc,,3,1\nd,4,4\ne,5,5,1", opt);
    CHECK(o.error.empty());
    CHECK(o.skipped == 3);
    CHECK(o.x.user_labels == std::vector<std::string>{"b", "e"});
  }
  SUBCASE("no valid rows: the line past the end") {
    DelimitedOptions opt = options();
    opt.skip_malformed = true;
    const Outcome o = same_at_every_chunk_size("user,item,ts,rating\na,1,x,1\n\"b\n\",,2,1\n", opt);
    CHECK(o.error.find(".csv:5: no valid rows (2 malformed rows skipped)") != std::string::npos);
  }
}

TEST_CASE("chunked parse: a quote that opens a field in one chunk and closes chunks later") {
  std::string text = "user,item,ts,rating\nu,\"";
  for (int i = 0; i < 12; ++i) text += "line\n";
  text += "\",1,1\nv,w,2,2\n";
  const Outcome o = same_at_every_chunk_size(text, options());
  REQUIRE(o.error.empty());
  CHECK(o.x.item_labels.size() == 3);
  CHECK(o.x.timestamps == std::vector<std::int64_t>{1, 2});
}

TEST_CASE("fast row scan: ids it reads by value and the ones it hashes, numbers it reads or leaves to from_chars") {
  DelimitedOptions opt = options();
  SUBCASE("leading zeros, ids past the by-value range, mixed kinds keep first-appearance order") {
    const Outcome o = same_at_every_chunk_size(
        "user,item,ts,rating\n7,007,1,1\n007,7,2,2\n4194304,4194303,3,3\n0,00,4,4\n"
        "99999999999,x1,5,5\n7,4194303,6,6\n4194303,0,7,7\n",
        opt);
    REQUIRE(o.error.empty());
    CHECK(o.x.user_labels == std::vector<std::string>{"7", "007", "4194304", "0", "99999999999", "4194303"});
    CHECK(o.x.item_labels == std::vector<std::string>{"", "007", "7", "4194303", "00", "x1", "0"});
    CHECK(o.x.user_ids == std::vector<std::int32_t>{0, 1, 2, 3, 4, 0, 5});
    CHECK(o.x.item_ids == std::vector<std::int32_t>{1, 2, 3, 4, 5, 3, 6});
  }
  SUBCASE("ratings and timestamps of every shape") {
    const Outcome o = same_at_every_chunk_size(
        "user,item,ts,rating\n1,1,-5,2.5\n2,2,+0,1e3\n3,3,0,-1\n4,4,9,.5\n5,5,1,3.14159265\n"
        "6,6,2,16777217\n7,7,3,0.1\n8,8,4,16777215\n9,9,5,7.\n10,10,6,0000000001.5\n",
        opt);
    CHECK(o.error.find(".csv:3: timestamp '+0' is not an integer") != std::string::npos);
    opt.skip_malformed = true;
    const Outcome skipped = same_at_every_chunk_size(
        "user,item,ts,rating\n1,1,-5,2.5\n2,2,+0,1e3\n3,3,0,-1\n4,4,9,.5\n5,5,1,3.14159265\n"
        "6,6,2,16777217\n7,7,3,0.1\n8,8,4,16777215\n9,9,5,7.\n10,10,6,0000000001.5\n11,11,7,nan\n",
        opt);
    CHECK(skipped.skipped == 2);  // +0, nan
    CHECK(skipped.x.timestamps == std::vector<std::int64_t>{-5, 0, 9, 1, 2, 3, 4, 5, 6});
    CHECK(skipped.x.ratings == std::vector<float>{2.5f, -1.0f, 0.5f, 3.14159265f, 16777217.0f, 0.1f, 16777215.0f,
                                                  7.0f, 1.5f});
  }
  SUBCASE("spaces, a tab, a lone CR, quotes, extra and missing columns, blank lines") {
    opt.skip_malformed = true;
    const Outcome o = same_at_every_chunk_size(
        "user,item,ts,rating\r\n 1 ,2,3,4\r\n1,\t2,3,4\n1,2\r,3,4\n\n\r\n  \n1,\"2\",3,4\n1,2,3,4,5\n1,2,3\n"
        ",2,3,4\n1,,3,4\n1,2,3,4\r",
        opt);
    CHECK(o.error.empty());
    CHECK(o.skipped == 4);
    CHECK(o.x.item_labels == std::vector<std::string>{"", "2", "\t2"});
    CHECK(o.x.user_ids.size() == 5);
  }
  SUBCASE("timestamps at 18 digits and past int64, a quote and a space past the first 16 bytes") {
    opt.skip_malformed = true;
    const Outcome o = same_at_every_chunk_size(
        "user,item,ts,rating\n1,1,999999999999999999,1\n2,2,-999999999999999999,1\n3,3,9223372036854775807,1\n"
        "4,4,9223372036854775808,1\n5,5,-,1\n123456789012345678,\"q\",1,1\n123456789012345678,r ,1,1\n",
        opt);
    CHECK(o.skipped == 2);
    CHECK(o.x.timestamps ==
          std::vector<std::int64_t>{999999999999999999, -999999999999999999, 9223372036854775807, 1, 1});
    CHECK(o.x.item_labels == std::vector<std::string>{"", "1", "2", "3", "q", "r"});
  }
  SUBCASE("numeric ids") {
    opt.numeric_ids = true;
    const Outcome o = same_at_every_chunk_size("user,item,ts,rating\n1,2,3,4\n0012,99999999999,3,4\n1,2a,3,4\n", opt);
    CHECK(o.error.find(".csv:4: item id '2a' is not a non-negative integer") != std::string::npos);
  }
  SUBCASE("a tab delimiter and no header") {
    DelimitedOptions tabs{'\t', false, "0", "1", "3", "2", false, true};
    const Outcome o = same_at_every_chunk_size("1\t2\t3.5\t10\n2\t1\t4\t11\n1\t1\t5\t12", tabs);
    REQUIRE(o.error.empty());
    CHECK(o.x.ratings == std::vector<float>{3.5f, 4.0f, 5.0f});
    CHECK(o.x.timestamps == std::vector<std::int64_t>{10, 11, 12});
  }
}

TEST_CASE("fast row scan: decimal ratings read as from_chars reads them") {
  // Ratings of 1 to 8 digits with 0 to 7 decimals, from a fixed LCG: the scan
  // reads m / 10^k itself, the reader path asks from_chars.
  std::string text = "user,item,ts,rating\n";
  std::uint64_t state = 12345;
  for (int i = 0; i < 4000; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const int digits = 1 + static_cast<int>((state >> 60) % 8);
    const int decimals = static_cast<int>((state >> 56) % static_cast<std::uint64_t>(digits));
    std::string m = std::to_string((state >> 20) % 100000000ULL);
    m = std::string(8, '0') + m;
    m = m.substr(m.size() - static_cast<std::size_t>(digits));
    if (decimals) m.insert(m.size() - static_cast<std::size_t>(decimals), ".");
    text += "1,1,1," + m + "\n";
  }
  TempFile file(text);
  const DelimitedOptions opt = options();
  const Outcome fast = parse(file.path.string(), opt, 0), reader = parse(file.path.string(), opt, 0, true);
  REQUIRE(fast.error.empty());
  REQUIRE(fast.x.ratings.size() == 4000);
  CHECK(fast.x.ratings == reader.x.ratings);
}
