// The listening TCP socket of an HTTP side (the gateway's and the front's): one place that binds
// an IPv4 address and says what to fix when it cannot.
#pragma once

#include <cstdint>
#include <string>

namespace safrl::serve {

struct HttpListener {
  int fd = -1;
  uint16_t port = 0;  // the port bound (port 0 asked: the free one picked)
};

// Binds and listens on `address`:`port` (close-on-exec; non-blocking when asked); throws
// util::LoadError naming the address, the failed call and the fix.
HttpListener listen_http(const std::string& address, int port, bool nonblocking);

}  // namespace safrl::serve
