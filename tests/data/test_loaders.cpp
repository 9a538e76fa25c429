// Tests of the delimited and MovieLens loaders: MovieLens 100K's known counts
// and load time, dense id remapping with labels, and malformed files written
// to a temporary directory, each of which must fail naming file and line.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

#include "limelight/data.hpp"
#include "limelight/error.hpp"
#include "tests/support/shared_dir.hpp"
#include "tests/support/temp_dir.hpp"

namespace fs = std::filesystem;
using limelight::DelimitedOptions;
using test_support::TempDir;

namespace {

std::string movielens_dir() {
  return test_support::shared_dir() + "/data/movielens-100k";
}

}  // namespace

TEST_CASE("MovieLens 100K loads with its known counts") {
  const auto start = std::chrono::steady_clock::now();
  const auto x = limelight::load_movielens(movielens_dir());
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  MESSAGE("MovieLens 100K load time: ", ms, " ms");
  CHECK(x.size() == 100000);
  CHECK(x.num_users == 943);
  CHECK(x.num_items == 1683);
  CHECK(x.ratings.size() == 100000);
  CHECK(x.timestamps.size() == 100000);
  REQUIRE(x.user_labels.size() == 943);
  REQUIRE(x.item_labels.size() == 1683);
  // u.data starts with "196\t242\t3\t881250949".
  CHECK(x.user_labels[0] == "196");
  CHECK(x.item_labels[0] == "");
  CHECK(x.item_labels[1] == "242");
  CHECK(x.user_ids[0] == 0);
  CHECK(x.item_ids[0] == 1);
  CHECK(x.ratings[0] == 3.0f);
  CHECK(x.timestamps[0] == 881250949);
  CHECK(limelight::load_movielens(movielens_dir() + "/u.data").item_ids == x.item_ids);

  // Row count of to_sequence(200, 20, 200), checked against the window rule:
  // windows end at n, n-200, ...; a window ending at e holds min(e, 200) items.
  const auto s = x.to_sequence(200, 20, 200);
  std::map<std::int32_t, std::int64_t> per_user;
  for (auto u : x.user_ids) ++per_user[u];
  std::int64_t expected = 0;
  for (const auto& [u, n] : per_user)
    for (std::int64_t e = n; e > 0; e -= 200) expected += std::min<std::int64_t>(e, 200) >= 20;
  MESSAGE("MovieLens 100K to_sequence(200, 20, 200): ", s.num_sequences, " rows");
  CHECK(s.num_sequences == expected);
  CHECK(s.max_sequence_length == 200);
}

TEST_CASE("load_delimited remaps ids in order of first appearance") {
  TempDir dir;
  const auto path = dir.write("ok.csv",
                              "ts;who;what;stars\r\n"
                              "10;alice;x9;4.5\r\n"
                              "\r\n"
                              "5;bob;x1;3\r\n"
                              "7;alice;x1;1\r\n");
  DelimitedOptions opt;
  opt.delimiter = ';';
  opt.user_column = "who";
  opt.item_column = "2";  // by position
  opt.timestamp_column = "ts";
  opt.rating_column = "stars";
  const auto x = limelight::load_delimited(path, opt);
  CHECK(x.user_ids == std::vector<std::int32_t>{0, 1, 0});
  CHECK(x.item_ids == std::vector<std::int32_t>{1, 2, 2});
  CHECK(x.timestamps == std::vector<std::int64_t>{10, 5, 7});
  CHECK(x.ratings == std::vector<float>{4.5f, 3.0f, 1.0f});
  CHECK(x.user_labels == std::vector<std::string>{"alice", "bob"});
  CHECK(x.item_labels == std::vector<std::string>{"", "x9", "x1"});
  CHECK(x.num_users == 2);
  CHECK(x.num_items == 3);

  // No header, no timestamps: positions only.
  const auto bare = dir.write("bare.tsv", "1\t7\n2\t8\n");
  DelimitedOptions tab;
  tab.delimiter = '\t';
  tab.header = false;
  tab.user_column = "0";
  tab.item_column = "1";
  tab.timestamp_column = "";
  const auto y = limelight::load_delimited(bare, tab);
  CHECK(y.size() == 2);
  CHECK(y.timestamps.empty());
  CHECK(y.ratings.empty());
  CHECK(y.to_sequence(2).num_sequences == 2);
}

TEST_CASE("malformed files name the file and line") {
  TempDir dir;
  DelimitedOptions opt;
  auto fails_with = [&](const std::string& name, const std::string& text, const std::string& what) {
    const auto path = dir.write(name, text);
    CAPTURE(name);
    CHECK_THROWS_WITH_AS(limelight::load_delimited(path, opt), doctest::Contains((name + what).c_str()), limelight::Error);
  };
  fails_with("bad_number.csv", "userId,movieId,timestamp\n1,2,3\n1,3,12x\n", ":3: timestamp '12x' is not an integer");
  fails_with("missing_field.csv", "userId,movieId,timestamp\n1,2,3\n\n1,3\n", ":4: expected 3 columns, found 2");
  fails_with("too_many.csv", "userId,movieId,timestamp\n1,2,3,4\n", ":2: expected 3 columns, found 4");
  fails_with("empty.csv", "", ":1: empty file");
  fails_with("blank.csv", "\n  \n", ":3: empty file");
  fails_with("header_only.csv", "userId,movieId,timestamp\n", ":2: no data rows");
  fails_with("no_user.csv", "user,movieId,timestamp\n1,2,3\n", ":1: header has no user column 'userId'");
  fails_with("empty_item.csv", "userId,movieId,timestamp\n1,,3\n", ":2: empty item id");

  opt.rating_column = "rating";
  fails_with("bad_rating.csv", "userId,movieId,timestamp,rating\n1,2,3,four\n", ":2: rating 'four' is not a finite number");
  opt.rating_column.clear();

  opt.header = false;
  fails_with("names_without_header.csv", "1,2,3\n", ":1: user column 'userId' is a name but the file has no header");
  opt = DelimitedOptions{',', false, "0", "1", "5", "", false};
  fails_with("short_rows.csv", "1,2,3\n", ":1: timestamp column 5 is past the row's 3 columns");

  opt = DelimitedOptions{};
  opt.skip_malformed = true;
  const auto path = dir.write("skip.csv", "userId,movieId,timestamp\n1,2,3\n1,x\n2,3,zz\n4,5,6\n");
  const auto x = limelight::load_delimited(path, opt);
  CHECK(x.size() == 2);
  CHECK(limelight::last_skipped_rows() == 2);
  CHECK(x.user_labels == std::vector<std::string>{"1", "4"});
  const auto all_bad = dir.write("all_bad.csv", "userId,movieId,timestamp\n1,x\n");
  CHECK_THROWS_WITH_AS(limelight::load_delimited(all_bad, opt), doctest::Contains("no valid rows (1 malformed"),
                       limelight::Error);

  CHECK_THROWS_WITH_AS(limelight::load_delimited((dir.path / "nope.csv").string(), opt),
                       doctest::Contains("nope.csv: cannot open"), limelight::Error);
}

TEST_CASE("load_movielens detects the 1M/10M and latest formats") {
  TempDir dir;
  fs::create_directories(dir.path / "ml-1m");
  fs::create_directories(dir.path / "ml-latest");
  fs::create_directories(dir.path / "other");
  dir.write("ml-1m/ratings.dat", "1::1193::5::978300760\n1::661::3.5::978302109\n2::1193::4::978298413\n");
  dir.write("ml-latest/ratings.csv", "userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n7,31,3.0,1260759179\n");
  const auto a = limelight::load_movielens((dir.path / "ml-1m").string());
  CHECK(a.size() == 3);
  CHECK(a.num_users == 2);
  CHECK(a.num_items == 3);
  CHECK(a.ratings == std::vector<float>{5.0f, 3.5f, 4.0f});
  CHECK(a.timestamps[2] == 978298413);
  CHECK(a.item_labels[1] == "1193");
  const auto b = limelight::load_movielens((dir.path / "ml-latest").string());
  CHECK(b.size() == 2);
  CHECK(b.item_ids == std::vector<std::int32_t>{1, 1});
  CHECK(b.ratings == std::vector<float>{2.5f, 3.0f});
  CHECK(b.timestamps[1] == 1260759179);
  CHECK_THROWS_WITH_AS(limelight::load_movielens((dir.path / "other").string()), doctest::Contains("u.data"),
                       limelight::Error);
  CHECK_THROWS_WITH_AS(limelight::load_movielens((dir.path / "missing").string()),
                       doctest::Contains("does not exist"), limelight::Error);
  dir.write("ml-1m/bad.dat", "1::2::3\n");
  CHECK_THROWS_WITH_AS(limelight::load_movielens((dir.path / "ml-1m/bad.dat").string()),
                       doctest::Contains("bad.dat:1: timestamp column 3 is past"), limelight::Error);
}

TEST_CASE("RFC 4180: quoted fields, doubled quotes, embedded delimiters and line breaks") {
  TempDir dir;
  DelimitedOptions opt;
  opt.user_column = "user";
  opt.item_column = "item";
  opt.timestamp_column = "ts";
  const auto plain = limelight::load_delimited(dir.write("plain.csv", "user,item,ts\n1,10,1\n1,11,2\n2,10,3\n"), opt);
  const auto quoted = limelight::load_delimited(
      dir.write("quoted.csv", "\"user\",\"item\",\"ts\"\r\n\"1\",\"10\",1\r\n \"1\" , \"11\" ,\"2\"\r\n2,\"10\",3\r\n"), opt);
  CHECK(quoted.user_ids == plain.user_ids);
  CHECK(quoted.item_ids == plain.item_ids);
  CHECK(quoted.timestamps == plain.timestamps);
  CHECK(quoted.user_labels == plain.user_labels);
  CHECK(quoted.item_labels == plain.item_labels);

  // Inside quotes: the delimiter, a line break and "" are data; line numbers count the break.
  const auto odd = limelight::load_delimited(
      dir.write("odd.csv", "user,item,ts\nann,\"tea, green\",1\nann,\"the \"\"best\"\"\njam\",2\nbob,\"\",3\nbob,x,y\n"),
      [&] {
        DelimitedOptions o = opt;
        o.skip_malformed = true;
        return o;
      }());
  CHECK(odd.item_labels == std::vector<std::string>{"", "tea, green", "the \"best\"\njam"});
  CHECK(limelight::last_skipped_rows() == 2);  // the empty item, and the bad timestamp
  auto fails_with = [&](const std::string& name, const std::string& text, const std::string& what) {
    const auto path = dir.write(name, text);
    CAPTURE(name);
    CHECK_THROWS_WITH_AS(limelight::load_delimited(path, opt), doctest::Contains((name + what).c_str()), limelight::Error);
  };
  fails_with("line_count.csv", "user,item,ts\n1,\"a\nb\",1\n1,b,zz\n", ":4: timestamp 'zz' is not an integer");
  fails_with("unclosed.csv", "user,item,ts\n1,2,3\n1,\"2,4\n5,6,7\n", ":3: a quoted field opened on this line is never closed");
  fails_with("after_quote.csv", "user,item,ts\n1,\"2\"x,3\n", ":2: text after the closing quote");
  fails_with("header_typo.csv", "user,itme,ts\n1,2,3\n",
             ":1: header has no item column 'item' (the header's columns: 'user', 'itme', 'ts')");
}

TEST_CASE("MovieLens ids must be numeric: an error names the line") {
  TempDir dir;
  fs::create_directories(dir.path / "ml");
  dir.write("ml/u.data", "1\t10\t3\t100\n2\tx7\t4\t101\n");
  CHECK_THROWS_WITH_AS(limelight::load_movielens((dir.path / "ml").string()),
                       doctest::Contains("u.data:2: item id 'x7' is not a non-negative integer"), limelight::Error);
  dir.write("ml/u.data", "1\t10\t3\t100\nbob\t7\t4\t101\n");
  CHECK_THROWS_WITH_AS(limelight::load_movielens((dir.path / "ml/u.data").string()),
                       doctest::Contains("u.data:2: user id 'bob'"), limelight::Error);
  fs::create_directories(dir.path / "latest");
  dir.write("latest/ratings.csv", "userId,movieId,rating,timestamp\n1,31,2.5,1\n1,-4,3,2\n");
  CHECK_THROWS_WITH_AS(limelight::load_movielens((dir.path / "latest").string()),
                       doctest::Contains("ratings.csv:3: item id '-4'"), limelight::Error);
}

TEST_CASE("item names: u.item (Latin-1), movies.csv (quoted), found beside the ratings") {
  const auto names = limelight::load_item_names(movielens_dir());
  CHECK(names.size() == 1682);
  CHECK(names.at("50") == "Star Wars (1977)");
  CHECK(names.at("543") == "Mis\xc3\xa9rables, Les (1995)");  // Latin-1 0xE9 as UTF-8
  CHECK(limelight::find_item_names_file(movielens_dir() + "/u.data") == movielens_dir() + "/u.item");
  TempDir dir;
  fs::create_directories(dir.path / "latest");
  dir.write("latest/ratings.csv", "userId,movieId,rating,timestamp\n");
  dir.write("latest/movies.csv", "movieId,title,genres\n1,Toy Story (1995),Animation\n11,\"American President, The (1995)\",Comedy\n");
  const auto latest = limelight::load_item_names((dir.path / "latest/ratings.csv").string());
  CHECK(latest.at("11") == "American President, The (1995)");
  CHECK(latest.at("1") == "Toy Story (1995)");
  dir.write("dup.csv", "id,name\n1,a\n1,b\n");
  CHECK_THROWS_WITH_AS(limelight::load_item_names((dir.path / "dup.csv").string()),
                       doctest::Contains("dup.csv:3: item id '1' is named twice"), limelight::Error);
  CHECK_THROWS_WITH_AS(limelight::load_item_names((dir.path / "other").string()), doctest::Contains("does not exist"),
                       limelight::Error);
}
