#include "reward/decoded_by.h"

#include "util/enum_names.h"

namespace safrl::reward {
namespace {

constexpr util::EnumName<DecodedBy> kDecodedByNames[] = {
    {DecodedBy::kConstrained, "constrained"},
    {DecodedBy::kFree, "free"},
    {DecodedBy::kFallback, "fallback"},
    {DecodedBy::kNone, "none"},
};

}  // namespace

std::string_view decoded_by_name(DecodedBy decoded_by) {
  return util::name_of(kDecodedByNames, decoded_by);
}

DecodedBy parse_decoded_by(std::string_view name) {
  return util::parse_name(kDecodedByNames, name, "decoding");
}

}  // namespace safrl::reward
