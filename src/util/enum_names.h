// Name tables for enums that have a spelling (config values, protocol fields, command-line
// options). One table per enum serves both directions, so a name cannot be parsed one way and
// printed another, and every "unknown name" error lists the valid ones the same way.
#pragma once

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"

namespace safrl::util {

template <typename Enum>
struct EnumName {
  Enum value;
  std::string_view name;
};

// "a, b, c": a list of names, for error messages.
template <typename Names>
std::string join_names(const Names& names) {
  std::string joined;
  for (std::string_view name : names) {
    joined += joined.empty() ? "" : ", ";
    joined += name;
  }
  return joined;
}

// "a, b, c": the names of `table`, whose entries have a `name`: an EnumName table, or a richer
// one that also carries what each name stands for.
template <typename Table>
std::string valid_names(const Table& table) {
  std::vector<std::string_view> names;
  for (const auto& entry : table) names.push_back(entry.name);
  return join_names(names);
}

// The value named `name`, or nullopt.
template <typename Enum, size_t N>
std::optional<Enum> find_name(const EnumName<Enum> (&table)[N], std::string_view name) {
  for (const EnumName<Enum>& entry : table) {
    if (entry.name == name) return entry.value;
  }
  return std::nullopt;
}

// The value named `name`; throws util::InputError("unknown <what> "x"; valid values: ...").
template <typename Enum, size_t N>
Enum parse_name(const EnumName<Enum> (&table)[N], std::string_view name, std::string_view what) {
  if (std::optional<Enum> value = find_name(table, name)) return *value;
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

}  // namespace safrl::util
