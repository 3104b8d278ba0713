#include "serve/http_listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/error.h"

namespace safrl::serve {

HttpListener listen_http(const std::string& address, int port, bool nonblocking) {
  HttpListener listener;
  auto fail = [&](const char* what) {
    const std::string message = util::cat(what, ": ", std::strerror(errno));
    if (listener.fd >= 0) ::close(listener.fd);
    throw util::LoadError(util::cat("cannot listen on ", address, ":", port, " for HTTP (", message,
                                    "); give another --http-port or 0 to turn it off"));
  };
  listener.fd =
      ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
  if (listener.fd < 0) fail("socket");
  const int on = 1;
  ::setsockopt(listener.fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  sockaddr_in bound{};
  bound.sin_family = AF_INET;
  bound.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, address.c_str(), &bound.sin_addr);
  if (::bind(listener.fd, reinterpret_cast<sockaddr*>(&bound), sizeof bound) != 0) fail("bind");
  if (::listen(listener.fd, 1024) != 0) fail("listen");
  socklen_t length = sizeof bound;
  ::getsockname(listener.fd, reinterpret_cast<sockaddr*>(&bound), &length);
  listener.port = ntohs(bound.sin_port);
  return listener;
}

}  // namespace safrl::serve
