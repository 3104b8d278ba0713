#include "serve/bounded_json.h"

#include <utility>

#include "serve/protocol.h"
#include "util/bounded_json.h"
#include "util/error.h"

namespace safrl::serve {

nlohmann::json parse_bounded_json(std::string_view text, JsonBounds bounds, const char* what) {
  util::BoundedJson parsed;
  try {
    parsed = util::parse_bounded(text, {bounds.max_depth, bounds.max_values});
  } catch (const nlohmann::json::exception& e) {
    throw ProtocolError(ErrorCode::kBadRequest, util::cat(what, " is not JSON: ", e.what()));
  }
  if (parsed.stopped == util::JsonStop::kTooDeep) {
    throw ProtocolError(
        ErrorCode::kBadRequest,
        util::cat(what, " nests arrays and objects deeper than ", bounds.max_depth));
  }
  if (parsed.stopped == util::JsonStop::kTooMany) {
    throw ProtocolError(ErrorCode::kTooLarge,
                        util::cat(what, " holds more than ", bounds.max_values,
                                  " JSON values; send fewer queries per request"));
  }
  return std::move(parsed.value);
}

}  // namespace safrl::serve
