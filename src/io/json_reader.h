// Reading a parsed JSON value strictly, the JSON twin of io/yaml_config.h: a JsonReader is a value
// with its key path ("samples[3].prompt"), and every accessor either returns the typed value or
// throws with a message that starts with that path:
//   samples[3].prompt: must be a string, got a number (5)
//   samples[3].respones: unknown key; allowed here: id, prompt, response
// Kinds are named as io/json_kind.h names them. The error type is the caller's: a reader throws
// through the JsonFail it was built with, so a file loader throws util::LoadError
// (throw_as<util::LoadError>()), a user-input reader util::InputError, and the server its
// ProtocolError with an error code (a lambda that builds one).
//
// Ownership: a reader refers to the JSON value and to the JsonFail; both must outlive it and
// every reader made from it. Readers are cheap to copy (a pointer pair and the path). Not
// thread-safe to share a JsonFail that captures mutable state; reading itself is const.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace safrl::io {

// Receives the whole message ("<path>: <problem>", or "<problem>" at the root) and throws; a
// JsonFail that returns is a bug, reported as std::logic_error.
using JsonFail = std::function<void(const std::string& message)>;

// The JsonFail that throws `Error(message)`; static, so it outlives every reader.
template <typename Error>
const JsonFail& throw_as() {
  static const JsonFail kFail = [](const std::string& message) { throw Error(message); };
  return kFail;
}

class JsonReader {
 public:
  // `path` names `value` in messages; empty for the root of a document.
  JsonReader(const nlohmann::json& value, const JsonFail& fail, std::string path = {});
  // A temporary JsonFail would dangle: keep it in a variable, or use throw_as.
  JsonReader(const nlohmann::json& value, JsonFail&& fail, std::string path = {}) = delete;

  const nlohmann::json& value() const { return *value_; }
  const std::string& path() const { return path_; }
  // The JsonFail this reader throws through, for a reader of a value moved out of this one.
  const JsonFail& on_fail() const { return *fail_; }
  // Throws "<path>: <problem>" through the JsonFail.
  [[noreturn]] void fail(std::string_view problem) const;

  // Objects. `has`: the key is present (an explicit null counts). `at`: the value of a present
  // key; absent fails as "<path>.<key>: missing" plus "; <hint>" when a hint is given.
  // `optional`: the value, or nullopt when absent or null (Hugging Face writes null for unset).
  // Each first fails unless this value is an object.
  bool has(std::string_view key) const;
  JsonReader at(std::string_view key, std::string_view hint = {}) const;
  std::optional<JsonReader> optional(std::string_view key) const;
  // The value of `key` without checking that it is present: a missing key reads as null, so the
  // type check that follows names the key (for readers that treat absent and wrong alike).
  JsonReader child(std::string_view key) const;
  // Fails on the first key not in `allowed`, naming it and the allowed ones, plus "; <hint>"
  // when a hint is given (why a key can be unknown: a format setting safrl does not implement).
  void allow_keys(std::initializer_list<std::string_view> allowed,
                  std::string_view hint = {}) const;
  void allow_keys(const std::vector<std::string_view>& allowed, std::string_view hint = {}) const;

  // Arrays: the element at `i` (fails past the end), and all elements in order.
  JsonReader index(size_t i) const;
  std::vector<JsonReader> items() const;

  // Typed values; each fails "must be <kind>, got <what it is>".
  const nlohmann::json& as_object() const;
  const nlohmann::json& as_array() const;
  const std::string& as_string() const;
  // A string with at least one byte.
  const std::string& as_nonempty_string() const;
  // An integer in [min, max] (JSON has no integer limits; an unsigned past int64 fails as out of
  // range too).
  int64_t as_int(int64_t min = std::numeric_limits<int64_t>::min(),
                 int64_t max = std::numeric_limits<int64_t>::max()) const;
  double as_double() const;  // finite
  bool as_bool() const;

  // What this value is, for a message of the caller's own: "a number (5)", "an object"; a long
  // string by its kind alone, so a message never echoes a megabyte.
  std::string describe() const;

 private:
  [[noreturn]] void expected(std::string_view kind) const;
  std::string key_path(std::string_view key) const;

  const nlohmann::json* value_;
  const JsonFail* fail_;
  std::string path_;
};

}  // namespace safrl::io
