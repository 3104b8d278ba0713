#include "serve/bind_rules.h"

#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <sys/socket.h>

#include <string_view>

#include "util/error.h"

namespace safrl::serve {
namespace {

// HOST of tcp://HOST:PORT, brackets of an IPv6 address removed; empty for other transports.
std::string tcp_host(const std::string& endpoint) {
  constexpr std::string_view kTcp = "tcp://";
  if (endpoint.rfind(kTcp, 0) != 0) return "";
  std::string host = endpoint.substr(kTcp.size(), endpoint.rfind(':') - kTcp.size());
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host;
}

// The addresses of this machine's interfaces other than loopback: what a wildcard bind opens.
std::string routable_addresses() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return "(the interfaces could not be listed)";
  std::string out;
  for (const ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || (a->ifa_flags & IFF_LOOPBACK) != 0) continue;
    const int family = a->ifa_addr->sa_family;
    if (family != AF_INET && family != AF_INET6) continue;
    char host[NI_MAXHOST] = {};
    const socklen_t size = family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    if (getnameinfo(a->ifa_addr, size, host, sizeof(host), nullptr, 0, NI_NUMERICHOST) != 0) {
      continue;
    }
    out += util::cat(out.empty() ? "" : ", ", host, " (", a->ifa_name, ")");
  }
  freeifaddrs(list);
  return out.empty() ? "none besides loopback now" : out;
}

}  // namespace

bool is_local_endpoint(const std::string& endpoint) {
  if (endpoint.rfind("ipc://", 0) == 0) return true;
  const std::string host = tcp_host(endpoint);
  return host.rfind("127.", 0) == 0 || host == "localhost" || host == "::1" || host == "lo";
}

std::string check_bind_rules(const ServerConfig& config) {
  const std::string& endpoint = config.endpoint;
  if (!config.allowed_clients.empty() && tcp_host(endpoint).empty()) {
    throw util::LoadError(util::cat(
        "server.allowed_clients lists client addresses, but ", endpoint,
        " is not a tcp:// endpoint, whose clients have addresses: remove allowed_clients, or "
        "bind tcp://HOST:PORT"));
  }
  if (is_local_endpoint(endpoint)) return "";
  if (config.curve) {
    return util::cat(endpoint,
                     " is reachable from other machines; CURVE admits "
                     "only the ",
                     config.curve->allowed_client_keys.size(),
                     " client key(s) of server.curve.allowed_client_keys");
  }
  std::string allowed;
  for (const AddressRange& range : config.allowed_clients) {
    allowed += util::cat(allowed.empty() ? "" : ", ", range.text());
  }
  if (!allowed.empty()) {
    return util::cat(endpoint,
                     " is reachable from other machines; only "
                     "clients from ",
                     allowed,
                     " (server.allowed_clients) are admitted, with no "
                     "authentication (a host that can use one of these addresses gets in)");
  }
  const std::string host = tcp_host(endpoint);
  if (!config.insecure_bind) {
    throw util::LoadError(util::cat(
        endpoint,
        " can be reached from other machines and nothing guards it: anyone who can "
        "connect could score, read info and stats, and write step statistics. Do one of: turn "
        "on CURVE (server.curve: only listed client keys get in), list the trainer nodes in "
        "server.allowed_clients (addresses or CIDR blocks), or accept the exposure with "
        "--insecure-bind (server.insecure_bind: true). To keep the server on this machine, "
        "bind tcp://127.0.0.1:PORT or ipc://PATH (docs/security.md)"));
  }
  const std::string exposed =
      host == "*" || host == "0.0.0.0" || host == "::" ? routable_addresses() : host;
  return util::cat("WARNING: --insecure-bind: ", endpoint,
                   " has no authentication and no address allow-list; every host that can "
                   "reach ",
                   exposed,
                   " can score, read info and stats, and write step "
                   "statistics");
}

}  // namespace safrl::serve
