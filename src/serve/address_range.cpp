#include "serve/address_range.h"

#include <arpa/inet.h>

#include <algorithm>

#include "util/error.h"

namespace safrl::serve {
namespace {

struct Parsed {
  int family = 0;
  std::array<uint8_t, 16> bytes{};
};

// An IPv4-mapped IPv6 address is the IPv4 peer it stands for: an IPv6 socket reports IPv4
// clients that way, and the allow-list names them as IPv4.
bool parse_address(const std::string& text, Parsed* out) {
  if (inet_pton(AF_INET, text.c_str(), out->bytes.data()) == 1) {
    out->family = AF_INET;
    return true;
  }
  if (inet_pton(AF_INET6, text.c_str(), out->bytes.data()) != 1) return false;
  constexpr std::array<uint8_t, 12> kMapped = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(kMapped.begin(), kMapped.end(), out->bytes.begin())) {
    std::copy(out->bytes.begin() + 12, out->bytes.end(), out->bytes.begin());
    std::fill(out->bytes.begin() + 4, out->bytes.end(), 0);
    out->family = AF_INET;
    return true;
  }
  out->family = AF_INET6;
  return true;
}

void clear_host_bits(std::array<uint8_t, 16>& bytes, int prefix_bits) {
  for (int bit = prefix_bits; bit < 128; ++bit) {
    bytes[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  }
}

}  // namespace

AddressRange AddressRange::parse(const std::string& text) {
  const size_t slash = text.find('/');
  Parsed parsed;
  if (!parse_address(text.substr(0, slash), &parsed)) {
    throw util::InputError(
        util::cat("\"", text,
                  "\" is not an address or CIDR block; give an IPv4 or IPv6 address of a "
                  "client (10.0.0.7, fd00::7) or a block of them (10.0.0.0/24, fd00::/64)"));
  }
  const int max_bits = parsed.family == AF_INET ? 32 : 128;
  int prefix_bits = max_bits;
  if (slash != std::string::npos) {
    const std::string bits = text.substr(slash + 1);
    if (bits.empty() || bits.size() > 3 || bits.find_first_not_of("0123456789") != bits.npos ||
        std::stoi(bits) > max_bits) {
      throw util::InputError(
          util::cat("\"", text, "\": the prefix length after / must be 0 to ", max_bits));
    }
    prefix_bits = std::stoi(bits);
  }
  AddressRange range;
  range.family_ = parsed.family;
  range.bytes_ = parsed.bytes;
  range.prefix_bits_ = prefix_bits;
  range.text_ = text;
  clear_host_bits(range.bytes_, prefix_bits);
  return range;
}

bool AddressRange::contains(const std::string& address) const {
  Parsed peer;
  if (!parse_address(address, &peer) || peer.family != family_) return false;
  clear_host_bits(peer.bytes, prefix_bits_);
  return peer.bytes == bytes_;
}

bool address_allowed(const std::vector<AddressRange>& ranges, const std::string& address) {
  return std::any_of(ranges.begin(), ranges.end(),
                     [&](const AddressRange& range) { return range.contains(address); });
}

}  // namespace safrl::serve
