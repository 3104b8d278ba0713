// Who may reach the ZeroMQ endpoint: the rule HTTP already follows (docs/security.md). An
// endpoint other machines can reach (a wildcard, a routable address or an interface other than
// loopback) must be guarded by CURVE (server.curve), by a client address allow-list
// (server.allowed_clients), or opened on purpose (--insecure-bind, server.insecure_bind).
// Checked before any model loads. Pure; ZeroMQ-free.
#pragma once

#include <string>

#include "serve/serve_config.h"

namespace safrl::serve {

// Whether only this machine can connect to `endpoint`: ipc://, or tcp:// on 127.x.x.x,
// localhost, [::1] or the loopback interface lo.
bool is_local_endpoint(const std::string& endpoint);

// Throws util::LoadError, naming the three ways out, when `config` binds an endpoint other
// machines can reach with none of them. Otherwise returns what the server should say at start
// about who can reach it (empty for a local endpoint): for --insecure-bind, the endpoint and
// the addresses it exposes.
std::string check_bind_rules(const ServerConfig& config);

}  // namespace safrl::serve
