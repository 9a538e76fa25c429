// Tests of the JSON value type, parser and writer: values, round trips,
// escapes and surrogate pairs, and the errors malformed input must raise.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "io/json.hpp"
#include "limelight/error.hpp"

using limelight::Error;
namespace json = limelight::json;

namespace {

// The message of the Error that parsing `text` throws, or "" if it parses.
std::string parse_error(const std::string& text) {
  try {
    json::parse(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("json: scalars parse to the right kinds and values") {
  CHECK(json::parse("null").is_null());
  CHECK(json::parse(" true ").as_bool() == true);
  CHECK(json::parse("false").as_bool() == false);
  CHECK(json::parse("\"hi\"").as_string() == "hi");
  CHECK(json::parse("0.001").as_double() == 0.001);
  CHECK_FALSE(json::parse("0.001").is_integer());
  CHECK(json::parse("-17").as_int() == -17);
  CHECK(json::parse("1e3").as_int() == 1000);
  CHECK(json::parse("-0").as_int() == 0);
  CHECK(json::parse("2.5E-3").as_double() == 0.0025);
  // Integers past 2^53 stay exact.
  CHECK(json::parse("9007199254740993").as_int() == 9007199254740993LL);
  CHECK(json::parse("-9223372036854775808").as_int() == INT64_MIN);
  // Too large for int64: still a number, but not an integer.
  json::Value big = json::parse("18446744073709551616");
  CHECK(big.is_number());
  CHECK_FALSE(big.is_integer());
  CHECK_THROWS_AS(big.as_int(), Error);
  CHECK(json::parse("1e-400").as_double() == 0.0);
}

TEST_CASE("json: metadata-style values") {
  json::Value list = json::parse("[3,5]");
  REQUIRE(list.is_array());
  REQUIRE(list.size() == 2);
  CHECK(list[0].as_int() == 3);
  CHECK(list[1].as_int() == 5);
  CHECK_THROWS_AS(list[2], Error);
  json::Value adam = json::parse(R"({"lr":0.01,"betas":[0.9,0.999],"eps":1e-08,"amsgrad":false})");
  CHECK(adam.at("lr").as_double() == 0.01);
  CHECK(adam.at("betas")[1].as_double() == 0.999);
  CHECK(adam.at("eps").as_double() == 1e-8);
  CHECK(adam.at("amsgrad").as_bool() == false);
  CHECK(adam.find("missing") == nullptr);
  CHECK_THROWS_WITH_AS(adam.at("missing"), doctest::Contains("missing"), Error);
  CHECK_THROWS_WITH_AS(adam.at("lr").as_string(), doctest::Contains("expected a string"), Error);
  CHECK_THROWS_AS(adam.at("lr").as_int(), Error);
}

TEST_CASE("json: objects keep insertion order and set replaces") {
  json::Value v = json::Value::object();
  v.set("zeta", 1).set("alpha", "a").set("mid", json::Value::array().push_back(true).push_back(nullptr));
  v.set("zeta", 2);
  CHECK(json::dump(v) == R"({"zeta":2,"alpha":"a","mid":[true,null]})");
  json::Value parsed = json::parse(R"({"b":1,"a":2})");
  CHECK(parsed.as_object()[0].first == "b");
  CHECK(json::dump(parsed) == R"({"b":1,"a":2})");
}

TEST_CASE("json: dump and parse round trip") {
  const char* texts[] = {
      "null", "true", "[]", "{}", "[1,-2,3.5,1e+300,0.1,\"x\"]",
      R"({"a":{"b":[[],{}],"c":"\"\\\/\b\f\n\r\t"},"d":-0.000123})",
      R"(["\u00e9\u4e2d\ud83d\ude00","caf\u00e9"])",
  };
  for (const char* text : texts) {
    CAPTURE(text);
    json::Value v = json::parse(text);
    std::string once = json::dump(v);
    CHECK(json::parse(once) == v);
    CHECK(json::dump(json::parse(once)) == once);
    CHECK(json::parse(json::dump(v, 2)) == v);
  }
  // Shortest round-trip doubles.
  for (double d : {0.1, 1.0 / 3.0, 1e-8, 6.02214076e23, -2.5, 5e-324, 1.7976931348623157e308}) {
    CAPTURE(d);
    CHECK(json::parse(json::dump(json::Value(d))).as_double() == d);
  }
  CHECK(json::dump(json::Value(0.001)) == "0.001");
  CHECK(json::dump(json::Value(3.0)) == "3");
  CHECK(json::dump(json::Value(std::nan(""))) == "null");
  CHECK(json::dump(json::Value(std::size_t{18446744073709551615ULL})) == "18446744073709551616");
}

TEST_CASE("json: escapes and unicode") {
  CHECK(json::parse(R"("\u00e9")").as_string() == "\xc3\xa9");
  CHECK(json::parse(R"("\ud83d\ude00")").as_string() == "\xf0\x9f\x98\x80");
  CHECK(json::parse(R"("\u0000")").as_string() == std::string(1, '\0'));
  CHECK(json::parse("\"\xe4\xb8\xad\"").as_string() == "\xe4\xb8\xad");
  CHECK(json::quote("a\"b\\c\n\x01") == R"("a\"b\\c\n\u0001")");
  CHECK(json::quote("caf\xc3\xa9") == "\"caf\xc3\xa9\"");
  std::string all;
  for (int c = 0; c < 128; ++c) all += static_cast<char>(c);
  CHECK(json::parse(json::quote(all)).as_string() == all);
}

TEST_CASE("json: malformed input throws with the byte offset") {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {"", "end of input"},
      {"   ", "end of input"},
      {"[1,2", "expected ',' or ']'"},
      {"[1,]", "expected a value"},
      {"{\"a\":1,}", "expected a string key"},
      {"{\"a\" 1}", "expected ':'"},
      {"{\"a\":1 \"b\":2}", "expected ',' or '}'"},
      {"{a:1}", "expected a string key"},
      {"tru", "invalid literal"},
      {"nul", "invalid literal"},
      {"01", "trailing"},
      {"1.", "digit after '.'"},
      {"-", "expected a digit"},
      {"1e", "exponent"},
      {"+1", "unexpected character"},
      {".5", "unexpected character"},
      {"1e999", "out of the range"},
      {"{} x", "trailing"},
      {"[1] [2]", "trailing"},
      {"\"abc", "unterminated string"},
      {"\"a\\x\"", "invalid escape"},
      {"\"\\u12zz\"", "hex digit"},
      {"\"\\u12", "truncated"},
      {"\"\\ud800\"", "unpaired high surrogate"},
      {"\"\\ud800\\u0041\"", "low surrogate"},
      {"\"\\udc00\"", "unpaired low surrogate"},
      {"\"a\nb\"", "control character"},
      {"\"\xff\"", "UTF-8"},
      {"\"\xc0\xaf\"", "UTF-8"},
      {"\"\xed\xa0\x80\"", "UTF-8"},
      {"\"\xe4\xb8\"", "UTF-8"},
      {"{\"k\":1,\"k\":2}", "duplicate key"},
      {"NaN", "unexpected character"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    std::string message = parse_error(c.text);
    CHECK(message.find(c.message) != std::string::npos);
    CHECK(message.find("at byte") != std::string::npos);
  }
  CHECK(parse_error("[1, 2, x]").find("at byte 7") != std::string::npos);
  CHECK(parse_error("{\"k\":1,\"k\":2}").find("at byte 7") != std::string::npos);
}

TEST_CASE("json: nesting depth is limited") {
  std::string ok = std::string(64, '[') + std::string(64, ']');
  CHECK_NOTHROW(json::parse(ok));
  std::string deep = std::string(65, '[') + std::string(65, ']');
  CHECK_THROWS_WITH_AS(json::parse(deep), doctest::Contains("nesting"), Error);
  std::string very_deep(100000, '[');
  CHECK_THROWS_WITH_AS(json::parse(very_deep), doctest::Contains("nesting"), Error);
  std::string objects;
  for (int i = 0; i < 65; ++i) objects += "{\"a\":";
  objects += "1" + std::string(65, '}');
  CHECK_THROWS_WITH_AS(json::parse(objects), doctest::Contains("nesting"), Error);
}

TEST_CASE("json: every prefix of a valid document fails cleanly") {
  const std::string text = R"({"a":[1,2.5e-3,"x\u00e9\ud83d\ude00"],"b":{"c":null,"d":true}})";
  REQUIRE_NOTHROW(json::parse(text));
  for (std::size_t n = 0; n < text.size(); ++n) {
    CAPTURE(n);
    CHECK_THROWS_AS(json::parse(std::string_view(text).substr(0, n)), Error);
  }
}
