// A small JSON value type with a strict parser and a compact writer, used for
// safetensors headers, metadata values ("[3,5]", "true", "0.001") and the
// CLI's JSON lines. Numbers keep their double value and, when integral and in
// range, an exact int64 (so 2^53 + 1 survives a round trip). Objects keep
// their keys in insertion order; the parser rejects duplicate keys, nesting
// deeper than max_depth, invalid UTF-8 and trailing garbage, throwing
// limelight::Error with the byte offset of the problem.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace limelight::json {

class Value;
using Array = std::vector<Value>;
using Member = std::pair<std::string, Value>;
using Object = std::vector<Member>;

enum class Kind : std::uint8_t { null, boolean, number, string, array, object };
const char* kind_name(Kind kind);

class Value {
 public:
  Value() = default;
  Value(std::nullptr_t) {}
  Value(bool b) : kind_(Kind::boolean), bool_(b) {}
  Value(double d);
  Value(float f) : Value(static_cast<double>(f)) {}
  template <class T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  Value(T i) {
    if constexpr (std::is_signed_v<T> || sizeof(T) < sizeof(std::int64_t)) {
      set_int(static_cast<std::int64_t>(i));
    } else if (i <= static_cast<T>(std::numeric_limits<std::int64_t>::max())) {
      set_int(static_cast<std::int64_t>(i));
    } else {
      *this = Value(static_cast<double>(i));
    }
  }
  Value(const char* s) : kind_(Kind::string), string_(s) {}
  Value(std::string_view s) : kind_(Kind::string), string_(s) {}
  Value(std::string s) : kind_(Kind::string), string_(std::move(s)) {}
  Value(Array a) : kind_(Kind::array), array_(std::move(a)) {}
  Value(Object o) : kind_(Kind::object), object_(std::move(o)) {}

  static Value array() { return Value(Array{}); }
  static Value object() { return Value(Object{}); }

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::null; }
  bool is_bool() const { return kind_ == Kind::boolean; }
  bool is_number() const { return kind_ == Kind::number; }
  // A number whose value is an integer that fits in int64.
  bool is_integer() const { return kind_ == Kind::number && integral_; }
  bool is_string() const { return kind_ == Kind::string; }
  bool is_array() const { return kind_ == Kind::array; }
  bool is_object() const { return kind_ == Kind::object; }

  // Typed access; each throws limelight::Error naming the expected and actual kind.
  bool as_bool() const;
  double as_double() const;
  std::int64_t as_int() const;  // also throws for 1.5 or 1e300
  const std::string& as_string() const;
  const Array& as_array() const;
  Array& as_array();
  const Object& as_object() const;
  Object& as_object();

  // Arrays and objects: element count. Other kinds throw.
  std::size_t size() const;
  const Value& operator[](std::size_t i) const;  // bounds-checked
  // Objects: nullptr when the key is absent.
  const Value* find(std::string_view key) const;
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  const Value& at(std::string_view key) const;  // throws naming the key
  // Objects: replaces an existing key's value or appends a new key; returns *this.
  Value& set(std::string key, Value value);
  // Arrays: appends; returns *this.
  Value& push_back(Value value);

  bool operator==(const Value& other) const;
  bool operator!=(const Value& other) const { return !(*this == other); }

 private:
  void set_int(std::int64_t i);
  void expect(Kind kind) const;

  Kind kind_ = Kind::null;
  bool bool_ = false;
  bool integral_ = false;
  double number_ = 0.0;
  std::int64_t int_ = 0;
  std::string string_;
  Array array_;
  Object object_;
};

inline constexpr int max_depth = 64;

// Parses one complete JSON text (surrounding whitespace allowed).
Value parse(std::string_view text);

// Compact JSON (no spaces); with indent >= 0, one member per line indented by
// that many spaces. Integers print exactly, other numbers in the shortest form
// that reads back to the same double; NaN and infinities print as null.
std::string dump(const Value& value, int indent = -1);

// `s` as a quoted JSON string literal: escapes quotes, backslashes and control
// characters; other bytes (UTF-8) pass through.
std::string quote(std::string_view s);

}  // namespace limelight::json
