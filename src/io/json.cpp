// The JSON value type, a recursive-descent parser that validates the whole
// grammar (RFC 8259) including UTF-8 and surrogate pairs, and the writer.
#include "io/json.hpp"

#include <charconv>
#include <cmath>
#include <cstring>

#include "limelight/error.hpp"

namespace limelight::json {

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::null: return "null";
    case Kind::boolean: return "bool";
    case Kind::number: return "number";
    case Kind::string: return "string";
    case Kind::array: return "array";
    case Kind::object: return "object";
  }
  return "?";
}

namespace {

// 2^63 as a double: the integral doubles in [-2^63, 2^63) convert to int64 exactly.
constexpr double two_63 = 9223372036854775808.0;

bool integral_double(double d) { return std::isfinite(d) && std::trunc(d) == d && d >= -two_63 && d < two_63; }

}  // namespace

Value::Value(double d) : kind_(Kind::number), number_(d) {
  if (integral_double(d)) {
    integral_ = true;
    int_ = static_cast<std::int64_t>(d);
  }
}

void Value::set_int(std::int64_t i) {
  kind_ = Kind::number;
  integral_ = true;
  int_ = i;
  number_ = static_cast<double>(i);
}

void Value::expect(Kind kind) const {
  LL_CHECK(kind_ == kind, "json: expected a ", kind_name(kind), ", found a ", kind_name(kind_));
}

bool Value::as_bool() const {
  expect(Kind::boolean);
  return bool_;
}

double Value::as_double() const {
  expect(Kind::number);
  return number_;
}

std::int64_t Value::as_int() const {
  expect(Kind::number);
  LL_CHECK(integral_, "json: expected an integer, found ", dump(*this));
  return int_;
}

const std::string& Value::as_string() const {
  expect(Kind::string);
  return string_;
}

const Array& Value::as_array() const {
  expect(Kind::array);
  return array_;
}

Array& Value::as_array() {
  expect(Kind::array);
  return array_;
}

const Object& Value::as_object() const {
  expect(Kind::object);
  return object_;
}

Object& Value::as_object() {
  expect(Kind::object);
  return object_;
}

std::size_t Value::size() const {
  if (kind_ == Kind::array) return array_.size();
  if (kind_ == Kind::object) return object_.size();
  detail::fail("json: size() of a ", kind_name(kind_));
}

const Value& Value::operator[](std::size_t i) const {
  expect(Kind::array);
  LL_CHECK(i < array_.size(), "json: index ", i, " out of range for an array of ", array_.size());
  return array_[i];
}

const Value* Value::find(std::string_view key) const {
  expect(Kind::object);
  for (const auto& member : object_) {
    if (member.first == key) return &member.second;
  }
  return nullptr;
}

const Value& Value::at(std::string_view key) const {
  const Value* v = find(key);
  LL_CHECK(v != nullptr, "json: missing key ", quote(key));
  return *v;
}

Value& Value::set(std::string key, Value value) {
  expect(Kind::object);
  for (auto& member : object_) {
    if (member.first == key) {
      member.second = std::move(value);
      return *this;
    }
  }
  object_.emplace_back(std::move(key), std::move(value));
  return *this;
}

Value& Value::push_back(Value value) {
  expect(Kind::array);
  array_.push_back(std::move(value));
  return *this;
}

bool Value::operator==(const Value& other) const {
  if (kind_ != other.kind_) return false;
  switch (kind_) {
    case Kind::null: return true;
    case Kind::boolean: return bool_ == other.bool_;
    case Kind::number:
      if (integral_ && other.integral_) return int_ == other.int_;
      return integral_ == other.integral_ && number_ == other.number_;
    case Kind::string: return string_ == other.string_;
    case Kind::array: return array_ == other.array_;
    case Kind::object: return object_ == other.object_;
  }
  return false;
}

namespace {

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Value parse_document() {
    skip_space();
    Value v = parse_value(0);
    skip_space();
    if (pos_ != text_.size()) fail("unexpected trailing characters");
    return v;
  }

 private:
  [[noreturn]] void fail(const char* what) const { fail_at(what, pos_); }
  [[noreturn]] void fail_at(const char* what, std::size_t at) const {
    if (at >= text_.size()) detail::fail("json: ", what, " at byte ", at, " (end of input)");
    detail::fail("json: ", what, " at byte ", at);
  }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }

  void skip_space() {
    while (!at_end()) {
      char c = text_[pos_];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
      ++pos_;
    }
  }

  void expect_literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) fail("invalid literal");
    pos_ += word.size();
  }

  Value parse_value(int depth) {
    if (at_end()) fail("unexpected end of input, expected a value");
    switch (text_[pos_]) {
      case '{': return parse_object(depth + 1);
      case '[': return parse_array(depth + 1);
      case '"': return Value(parse_string());
      case 't': expect_literal("true"); return Value(true);
      case 'f': expect_literal("false"); return Value(false);
      case 'n': expect_literal("null"); return Value();
      default:
        if (text_[pos_] == '-' || (text_[pos_] >= '0' && text_[pos_] <= '9')) return parse_number();
        fail("unexpected character, expected a value");
    }
  }

  Value parse_object(int depth) {
    if (depth > max_depth) fail("nesting deeper than the limit of 64");
    ++pos_;  // '{'
    Value result = Value::object();
    Object& members = result.as_object();
    skip_space();
    if (peek() == '}') {
      ++pos_;
      return result;
    }
    for (;;) {
      skip_space();
      if (peek() != '"') fail("expected a string key");
      std::size_t key_at = pos_;
      std::string key = parse_string();
      for (const auto& m : members) {
        if (m.first == key) fail_at("duplicate key", key_at);
      }
      skip_space();
      if (peek() != ':') fail("expected ':'");
      ++pos_;
      skip_space();
      Value v = parse_value(depth);
      members.emplace_back(std::move(key), std::move(v));
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == '}') {
        ++pos_;
        return result;
      }
      fail("expected ',' or '}'");
    }
  }

  Value parse_array(int depth) {
    if (depth > max_depth) fail("nesting deeper than the limit of 64");
    ++pos_;  // '['
    Value result = Value::array();
    Array& items = result.as_array();
    skip_space();
    if (peek() == ']') {
      ++pos_;
      return result;
    }
    for (;;) {
      skip_space();
      items.push_back(parse_value(depth));
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == ']') {
        ++pos_;
        return result;
      }
      fail("expected ',' or ']'");
    }
  }

  Value parse_number() {
    std::size_t start = pos_;
    bool integer_syntax = true;
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
    } else if (peek() >= '1' && peek() <= '9') {
      while (peek() >= '0' && peek() <= '9') ++pos_;
    } else {
      fail("invalid number: expected a digit");
    }
    if (peek() == '.') {
      integer_syntax = false;
      ++pos_;
      if (!(peek() >= '0' && peek() <= '9')) fail("invalid number: expected a digit after '.'");
      while (peek() >= '0' && peek() <= '9') ++pos_;
    }
    bool negative_exponent = false;
    if (peek() == 'e' || peek() == 'E') {
      integer_syntax = false;
      ++pos_;
      if (peek() == '+' || peek() == '-') {
        negative_exponent = peek() == '-';
        ++pos_;
      }
      if (!(peek() >= '0' && peek() <= '9')) fail("invalid number: expected a digit in the exponent");
      while (peek() >= '0' && peek() <= '9') ++pos_;
    }
    const char* first = text_.data() + start;
    const char* last = text_.data() + pos_;
    if (integer_syntax) {
      std::int64_t i = 0;
      auto r = std::from_chars(first, last, i);
      if (r.ec == std::errc() && r.ptr == last) return Value(i);
    }
    double d = 0.0;
    auto r = std::from_chars(first, last, d);
    if (r.ec == std::errc::result_out_of_range) {
      // Underflow reads as zero; overflow has no JSON-preserving value.
      // Without an exponent only a "0.000..." literal can underflow.
      bool has_exponent = std::memchr(first, 'e', pos_ - start) || std::memchr(first, 'E', pos_ - start);
      bool tiny = has_exponent ? negative_exponent : first[*first == '-' ? 1 : 0] == '0';
      if (!tiny) fail_at("number out of the range of a double", start);
      return Value(*first == '-' ? -0.0 : 0.0);
    }
    if (r.ec != std::errc() || r.ptr != last) fail_at("invalid number", start);
    return Value(d);
  }

  unsigned hex4() {
    if (pos_ + 4 > text_.size()) fail("truncated \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = text_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<unsigned>(c - 'A' + 10);
      else fail_at("invalid hex digit in \\u escape", pos_ - 1);
    }
    return v;
  }

  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  // Copies one raw UTF-8 sequence starting at pos_, rejecting overlong forms,
  // surrogates and code points past U+10FFFF.
  void copy_utf8(std::string& out) {
    auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text_[i]); };
    std::size_t start = pos_;
    unsigned char b0 = byte(pos_);
    int extra = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      extra = 1;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      extra = 2;
      if (b0 == 0xE0) lo = 0xA0;
      if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      extra = 3;
      if (b0 == 0xF0) lo = 0x90;
      if (b0 == 0xF4) hi = 0x8F;
    } else {
      fail("invalid UTF-8 byte in string");
    }
    if (pos_ + 1 + static_cast<std::size_t>(extra) > text_.size()) fail("truncated UTF-8 sequence in string");
    for (int k = 1; k <= extra; ++k) {
      unsigned char b = byte(pos_ + static_cast<std::size_t>(k));
      unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
      if (b < l || b > h) fail_at("invalid UTF-8 sequence in string", start);
    }
    out.append(text_.data() + pos_, static_cast<std::size_t>(extra) + 1);
    pos_ += static_cast<std::size_t>(extra) + 1;
  }

  std::string parse_string() {
    std::size_t start = pos_;
    ++pos_;  // opening quote
    std::string out;
    for (;;) {
      if (at_end()) fail_at("unterminated string", start);
      unsigned char c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) fail("unescaped control character in string");
      if (c >= 0x80) {
        copy_utf8(out);
        continue;
      }
      if (c != '\\') {
        out += static_cast<char>(c);
        ++pos_;
        continue;
      }
      std::size_t escape_at = pos_;
      ++pos_;
      if (at_end()) fail_at("unterminated string", start);
      char e = text_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xDC00 && cp <= 0xDFFF) fail_at("unpaired low surrogate in \\u escape", escape_at);
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (text_.substr(pos_, 2) != "\\u") fail_at("unpaired high surrogate in \\u escape", escape_at);
            pos_ += 2;
            unsigned low = hex4();
            if (low < 0xDC00 || low > 0xDFFF) fail_at("high surrogate not followed by a low surrogate", escape_at);
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default: fail_at("invalid escape in string", escape_at);
      }
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

void dump_number(std::string& out, const Value& v) {
  if (v.is_integer()) {
    out += std::to_string(v.as_int());
    return;
  }
  double d = v.as_double();
  if (!std::isfinite(d)) {
    out += "null";
    return;
  }
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  out.append(buf, r.ptr);
}

void newline(std::string& out, int indent, int level) {
  if (indent < 0) return;
  out += '\n';
  out.append(static_cast<std::size_t>(indent) * static_cast<std::size_t>(level), ' ');
}

void dump_into(std::string& out, const Value& v, int indent, int level) {
  switch (v.kind()) {
    case Kind::null: out += "null"; return;
    case Kind::boolean: out += v.as_bool() ? "true" : "false"; return;
    case Kind::number: dump_number(out, v); return;
    case Kind::string: out += quote(v.as_string()); return;
    case Kind::array: {
      const Array& items = v.as_array();
      out += '[';
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) out += ',';
        newline(out, indent, level + 1);
        dump_into(out, items[i], indent, level + 1);
      }
      if (!items.empty()) newline(out, indent, level);
      out += ']';
      return;
    }
    case Kind::object: {
      const Object& members = v.as_object();
      out += '{';
      for (std::size_t i = 0; i < members.size(); ++i) {
        if (i) out += ',';
        newline(out, indent, level + 1);
        out += quote(members[i].first);
        out += indent >= 0 ? ": " : ":";
        dump_into(out, members[i].second, indent, level + 1);
      }
      if (!members.empty()) newline(out, indent, level);
      out += '}';
      return;
    }
  }
}

}  // namespace

Value parse(std::string_view text) { return Parser(text).parse_document(); }

std::string dump(const Value& value, int indent) {
  std::string out;
  dump_into(out, value, indent, 0);
  return out;
}

std::string quote(std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7F) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 0xF];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
  return out;
}

}  // namespace limelight::json
