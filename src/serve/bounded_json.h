// JSON text parsed under bounds checked while it is read (util/bounded_json.h): nesting depth and
// the number of values (keys included), so no legal-sized body (a few MiB of "[" or of "0,")
// costs more than the bounds allow in time and memory before it is refused. Pure, thread-safe.
#pragma once

#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

namespace safrl::serve {

struct JsonBounds {
  size_t max_depth = 64;                // arrays and objects nested
  size_t max_values = size_t{1} << 20;  // scalars, arrays, objects and keys
};

// Throws ProtocolError: bad_request for text that is not JSON or nests deeper than the bound,
// too_large for more values than the bound; `what` names the text in messages ("the body").
nlohmann::json parse_bounded_json(std::string_view text, JsonBounds bounds, const char* what);

}  // namespace safrl::serve
