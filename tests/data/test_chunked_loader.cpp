// The loader's chunked parse (src/data/delimited_load.hpp): small files cut
// into chunks of every size from one byte up must give what one chunk gives,
// the same arrays, labels and the same first error with its line, whatever
// falls on a boundary: a quoted field holding a line break, CRLF, a missing
// final line break, blank lines, an error in a later chunk.
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

Outcome parse(const std::string& path, const DelimitedOptions& opt, std::size_t chunk_bytes) {
  Outcome o;
  try {
    o.x = parse_delimited(path, ",", opt, chunk_bytes);
  } catch (const limelight::Error& e) {
    o.error = e.what();
  }
  o.skipped = limelight::last_skipped_rows();
  return o;
}

// Every chunk size gives the one-chunk outcome; returns that outcome.
Outcome same_at_every_chunk_size(const std::string& text, const DelimitedOptions& opt) {
  TempFile file(text);
  const std::string path = file.path.string();
  Outcome whole = parse(path, opt, text.size() + 1);
  for (std::size_t bytes = 1; bytes <= text.size(); ++bytes) {
    CAPTURE(bytes);
    const Outcome cut = parse(path, opt, bytes);
    CHECK(cut.error == whole.error);
    CHECK(cut.skipped == whole.skipped);
    CHECK(cut.x.user_ids == whole.x.user_ids);
    CHECK(cut.x.item_ids == whole.x.item_ids);
    CHECK(cut.x.timestamps == whole.x.timestamps);
    CHECK(cut.x.ratings == whole.x.ratings);
    CHECK(cut.x.user_labels == whole.x.user_labels);
    CHECK(cut.x.item_labels == whole.x.item_labels);
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
