#include "io/json_reader.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <stdexcept>

#include "io/json_kind.h"
#include "util/enum_names.h"
#include "util/error.h"

namespace safrl::io {
namespace {

using nlohmann::json;

constexpr int64_t kMinInt = std::numeric_limits<int64_t>::min();
constexpr int64_t kMaxInt = std::numeric_limits<int64_t>::max();
// Longer scalars are described by their kind alone.
constexpr size_t kMaxShownBytes = 64;

// A key that reads unambiguously after a dot: letters, digits and '_', not starting with a digit.
bool is_plain_key(std::string_view key) {
  if (key.empty() || std::isdigit(static_cast<unsigned char>(key[0]))) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

std::string integer_kind(int64_t min, int64_t max) {
  if (min == kMinInt && max == kMaxInt) return "an integer";
  if (max == kMaxInt) return util::cat("an integer >= ", min);
  if (min == kMinInt) return util::cat("an integer <= ", max);
  return util::cat("an integer from ", min, " to ", max);
}

}  // namespace

JsonReader::JsonReader(const json& value, const JsonFail& fail, std::string path)
    : value_(&value), fail_(&fail), path_(std::move(path)) {}

void JsonReader::fail(std::string_view problem) const {
  (*fail_)(path_.empty() ? std::string(problem) : util::cat(path_, ": ", problem));
  throw std::logic_error("a JsonFail returned instead of throwing");
}

void JsonReader::expected(std::string_view kind) const {
  fail(util::cat("must be ", kind, ", got ", describe()));
}

std::string JsonReader::key_path(std::string_view key) const {
  if (is_plain_key(key)) return path_.empty() ? std::string(key) : util::cat(path_, ".", key);
  // Not UTF-8-checked: a key from a msgpack request may not be, and a message must not throw.
  return util::cat(path_, "[", json(key).dump(-1, ' ', false, json::error_handler_t::replace), "]");
}

bool JsonReader::has(std::string_view key) const {
  return as_object().contains(key);
}

JsonReader JsonReader::at(std::string_view key, std::string_view hint) const {
  const json& object = as_object();
  const auto found = object.find(key);
  if (found == object.end()) {
    child(key).fail(hint.empty() ? "missing" : util::cat("missing; ", hint));
  }
  return JsonReader(*found, *fail_, key_path(key));
}

std::optional<JsonReader> JsonReader::optional(std::string_view key) const {
  const json& object = as_object();
  const auto found = object.find(key);
  if (found == object.end() || found->is_null()) return std::nullopt;
  return JsonReader(*found, *fail_, key_path(key));
}

JsonReader JsonReader::child(std::string_view key) const {
  static const json kNull;
  const json& object = as_object();
  const auto found = object.find(key);
  return JsonReader(found == object.end() ? kNull : *found, *fail_, key_path(key));
}

void JsonReader::allow_keys(std::initializer_list<std::string_view> allowed,
                            std::string_view hint) const {
  allow_keys(std::vector<std::string_view>(allowed), hint);
}

void JsonReader::allow_keys(const std::vector<std::string_view>& allowed,
                            std::string_view hint) const {
  for (const auto& item : as_object().items()) {
    if (std::find(allowed.begin(), allowed.end(), item.key()) == allowed.end()) {
      child(item.key())
          .fail(util::cat("unknown key; allowed here: ", util::join_names(allowed),
                          hint.empty() ? "" : "; ", hint));
    }
  }
}

JsonReader JsonReader::index(size_t i) const {
  const json& array = as_array();
  if (i >= array.size()) {
    fail(util::cat("has ", array.size(), " elements, no element ", i));
  }
  return JsonReader(array[i], *fail_, util::cat(path_, "[", i, "]"));
}

std::vector<JsonReader> JsonReader::items() const {
  const json& array = as_array();
  std::vector<JsonReader> items;
  items.reserve(array.size());
  for (size_t i = 0; i < array.size(); ++i) {
    items.emplace_back(array[i], *fail_, util::cat(path_, "[", i, "]"));
  }
  return items;
}

const json& JsonReader::as_object() const {
  if (!value_->is_object()) expected("an object");
  return *value_;
}

const json& JsonReader::as_array() const {
  if (!value_->is_array()) expected("an array");
  return *value_;
}

const std::string& JsonReader::as_string() const {
  if (!value_->is_string()) expected("a string");
  return value_->get_ref<const std::string&>();
}

const std::string& JsonReader::as_nonempty_string() const {
  if (!value_->is_string()) expected("a non-empty string");
  const auto& text = value_->get_ref<const std::string&>();
  if (text.empty()) fail("must not be empty");
  return text;
}

int64_t JsonReader::as_int(int64_t min, int64_t max) const {
  const bool in_int64 =
      value_->is_number_integer() &&
      (!value_->is_number_unsigned() || value_->get<uint64_t>() <= static_cast<uint64_t>(kMaxInt));
  // An unsigned value past int64 is too large whatever the lower bound: say so, since "an
  // integer >= 0" would read as satisfied.
  if (!in_int64 && value_->is_number_unsigned()) {
    expected(min == kMinInt ? util::cat("an integer no larger than ", kMaxInt)
                            : util::cat("an integer from ", min, " to ", max));
  }
  if (!in_int64 || value_->get<int64_t>() < min || value_->get<int64_t>() > max) {
    expected(integer_kind(min, max));
  }
  return value_->get<int64_t>();
}

double JsonReader::as_double() const {
  if (!value_->is_number()) expected("a number");
  const double number = value_->get<double>();
  // nlohmann reads 1e999 as infinity.
  if (!std::isfinite(number)) expected("a finite number");
  return number;
}

bool JsonReader::as_bool() const {
  if (!value_->is_boolean()) expected("true or false");
  return value_->get<bool>();
}

std::string JsonReader::describe() const {
  if (value_->is_null() || value_->is_structured()) return json_kind(*value_);
  const std::string text = value_->dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > kMaxShownBytes) return json_kind(*value_);
  return util::cat(json_kind(*value_), " (", text, ")");
}

}  // namespace safrl::io
