// JSON text or msgpack bytes parsed into nlohmann::json under bounds checked as each value is
// read: nesting depth and the number of values, so no input (a few MiB of "[", millions of "0,")
// costs more than the bounds allow in time and memory before it is refused, and the tree built is
// never deeper than the bound (the DOM's copy, dump and destructor recurse). Optionally records
// whether every string and key is UTF-8 (msgpack does not check it; JSON text always is).
//
// Counting rule, the same for every caller: each value is one (null, boolean, number, string,
// binary, array, object) and so is each key; an object of two members is five. Depth counts the
// levels of arrays and objects, the outermost one included. Pure, thread-safe.
#pragma once

#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

namespace safrl::util {

struct JsonLimits {
  size_t max_depth = 0;   // levels of arrays and objects; a scalar is 0 deep, [] is 1
  size_t max_values = 0;  // values and keys together
};

// Why parsing stopped before the end of the input.
enum class JsonStop {
  kNone,     // it did not: the input was read whole
  kTooDeep,  // an array or object opened past max_depth
  kTooMany,  // a value or key past max_values
};

struct BoundedJson {
  // The whole value; when stopped, what was built before the value past the bound (never it).
  nlohmann::json value;
  JsonStop stopped = JsonStop::kNone;
  // Every string and key read was UTF-8; always true unless asked to check.
  bool all_utf8 = true;
};

// Parses `input` (text for input_format_t::json, bytes for msgpack, cbor, ...) with nlohmann's
// SAX parser, building the tree as its own DOM parser does and stopping at the first value or
// level past `limits`. Throws nlohmann::json::exception (with a parse error's message) for input
// that is not one value of `format`; a bound is a JsonStop, not an exception. `check_utf8` checks
// each string and key as it arrives (the caller looks up where the bad one is only on error).
BoundedJson parse_bounded(
    std::string_view input, JsonLimits limits,
    nlohmann::json::input_format_t format = nlohmann::json::input_format_t::json,
    bool check_utf8 = false);

}  // namespace safrl::util
