// server.allowed_clients entries and the bind rules (serve/address_range.h, serve/bind_rules.h):
// which peers a range admits, as ZeroMQ reports them, and which endpoints need a guard.
#include "serve/address_range.h"

#include <gtest/gtest.h>

#include "serve/bind_rules.h"
#include "util/error.h"

namespace safrl::serve {
namespace {

TEST(AddressRange, AdmitsExactlyItsBlock) {
  const AddressRange host = AddressRange::parse("10.0.0.7");
  EXPECT_TRUE(host.contains("10.0.0.7"));
  EXPECT_FALSE(host.contains("10.0.0.8"));
  const AddressRange block = AddressRange::parse("10.0.1.77/24");  // host bits ignored
  EXPECT_TRUE(block.contains("10.0.1.0"));
  EXPECT_TRUE(block.contains("10.0.1.255"));
  EXPECT_FALSE(block.contains("10.0.2.0"));
  // An IPv4 peer of an IPv6 socket is the IPv4 address it stands for.
  EXPECT_TRUE(block.contains("::ffff:10.0.1.9"));
  const AddressRange v6 = AddressRange::parse("fd00::/8");
  EXPECT_TRUE(v6.contains("fd12:3456::1"));
  EXPECT_FALSE(v6.contains("fe80::1"));
  EXPECT_FALSE(v6.contains("10.0.1.9"));  // another family
  EXPECT_TRUE(AddressRange::parse("0.0.0.0/0").contains("203.0.113.5"));
  EXPECT_FALSE(AddressRange::parse("0.0.0.0/0").contains("not an address"));
  EXPECT_TRUE(address_allowed({host, v6}, "fd00::2"));
  EXPECT_FALSE(address_allowed({host, v6}, "127.0.0.1"));
}

TEST(AddressRange, RefusesWhatIsNoRange) {
  auto error = [](const std::string& text) {
    try {
      AddressRange::parse(text);
    } catch (const util::InputError& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  EXPECT_EQ(error("trainer-node"),
            "\"trainer-node\" is not an address or CIDR block; give an IPv4 or IPv6 address of a "
            "client (10.0.0.7, fd00::7) or a block of them (10.0.0.0/24, fd00::/64)");
  EXPECT_EQ(error("10.0.0.0/33"), "\"10.0.0.0/33\": the prefix length after / must be 0 to 32");
  EXPECT_EQ(error("fd00::/129"), "\"fd00::/129\": the prefix length after / must be 0 to 128");
  EXPECT_EQ(error("10.0.0.0/"), "\"10.0.0.0/\": the prefix length after / must be 0 to 32");
}

TEST(BindRules, OnlyThisMachinesEndpointsNeedNoGuard) {
  for (const char* local : {"ipc:///tmp/s.sock", "tcp://127.0.0.1:5555", "tcp://127.3.4.5:1",
                            "tcp://localhost:5555", "tcp://[::1]:5555", "tcp://lo:5555"}) {
    EXPECT_TRUE(is_local_endpoint(local)) << local;
  }
  for (const char* exposed : {"tcp://*:5555", "tcp://0.0.0.0:5555", "tcp://10.0.0.7:5555",
                              "tcp://[::]:5555", "tcp://eth0:5555", "tcp://gpu-node:5555"}) {
    EXPECT_FALSE(is_local_endpoint(exposed)) << exposed;
    ServerConfig config;
    config.endpoint = exposed;
    EXPECT_THROW(check_bind_rules(config), util::LoadError) << exposed;
    config.insecure_bind = true;
    EXPECT_NE(check_bind_rules(config).find("WARNING: --insecure-bind"), std::string::npos);
  }
}

}  // namespace
}  // namespace safrl::serve
