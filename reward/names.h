// Name tables for the reward layer's enums (config values, JSON fields); not part of the public
// API. One table per enum serves both directions, so a name cannot be parsed one way and printed
// another.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

#include "util/error.h"

namespace safrl::reward::internal {

template <typename Enum>
struct EnumName {
  Enum value;
  std::string_view name;
};

// "a, b, c": the names of `table`, for error messages.
template <typename Enum, size_t N>
std::string valid_names(const EnumName<Enum> (&table)[N]) {
  std::string valid;
  for (const EnumName<Enum>& entry : table) {
    valid += valid.empty() ? "" : ", ";
    valid += entry.name;
  }
  return valid;
}

// The value named `name`; throws util::InputError("unknown <what> "x"; valid values: ...").
template <typename Enum, size_t N>
Enum parse_name(const EnumName<Enum> (&table)[N], std::string_view name, std::string_view what) {
  for (const EnumName<Enum>& entry : table) {
    if (entry.name == name) return entry.value;
  }
  throw util::InputError(
      util::cat("unknown ", what, " \"", name, "\"; valid values: ", valid_names(table)));
}

template <typename Enum, size_t N>
std::string_view name_of(const EnumName<Enum> (&table)[N], Enum value) {
  for (const EnumName<Enum>& entry : table) {
    if (entry.value == value) return entry.name;
  }
  throw std::logic_error("name_of: enum value out of range");
}

}  // namespace safrl::reward::internal
