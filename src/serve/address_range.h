// One entry of a client address allow-list (server.allowed_clients): an IPv4 or IPv6 address, or
// a CIDR block of either ("10.0.0.0/8", "fd00::/8"). Immutable after parse, so any thread may
// match against it. Torch-free and ZeroMQ-free.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace safrl::serve {

class AddressRange {
 public:
  // Throws util::InputError naming the text and the forms accepted.
  static AddressRange parse(const std::string& text);

  // Whether `address`, as ZeroMQ and the kernel report a peer ("10.0.0.7", "::1", or an IPv4
  // peer of an IPv6 socket, "::ffff:10.0.0.7"), lies in this range. Text that is no address
  // lies in none.
  bool contains(const std::string& address) const;
  const std::string& text() const { return text_; }

 private:
  int family_ = 0;                   // AF_INET or AF_INET6
  std::array<uint8_t, 16> bytes_{};  // the network's address, host bits cleared
  int prefix_bits_ = 0;
  std::string text_;
};

// Whether any range of `ranges` contains `address`.
bool address_allowed(const std::vector<AddressRange>& ranges, const std::string& address);

}  // namespace safrl::serve
