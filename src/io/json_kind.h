// How io::JsonReader (io/json_reader.h, the one reader of every JSON input) names a JSON value it
// did not expect, so every "must be X, got Y" message says it the same way.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace safrl::io {

// "null", "a string", "a number", "a boolean", "an array", "an object": the type alone, safe for a
// value of any size or depth.
inline std::string json_kind(const nlohmann::json& value) {
  if (value.is_null()) return "null";
  return util::cat(value.is_structured() ? "an " : "a ", value.type_name());
}

// json_kind with a scalar's value: "a string (\"1024\")", "a number (16)"; arrays and objects,
// which may be long, by their type alone.
inline std::string json_described(const nlohmann::json& value) {
  if (value.is_null() || value.is_structured()) return json_kind(value);
  return util::cat(json_kind(value), " (", value.dump(), ")");
}

}  // namespace safrl::io
