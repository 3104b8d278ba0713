// How a guard output was decoded: said in every output line, so it is read back with the line.
#pragma once

#include <string_view>

namespace safrl::reward {

enum class DecodedBy {
  kConstrained,  // constrained decoding, the model's greedy tokens followed the grammar
  kFree,         // free decoding (guard.decoding: free)
  kFallback,     // constrained decoding until the model left the grammar, free from there
  kNone,         // no decoding: the verdict was read from one prefill (guard.kind stream)
};

std::string_view decoded_by_name(
    DecodedBy decoded_by);  // "constrained" | "free" | "fallback" | "none"

// The inverse of decoded_by_name(); anything else throws util::InputError listing the names.
DecodedBy parse_decoded_by(std::string_view name);

}  // namespace safrl::reward
