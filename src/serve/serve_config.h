// The serve layer's part of the YAML configuration: the "server" section (docs/config.md). The
// command line assembles the file (cli/config_file.h) and can override the endpoint and the
// HTTP port. Parsed once, validated, pure; torch-free and ZeroMQ-free.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "io/yaml_config.h"
#include "serve/address_range.h"

namespace safrl::serve {

// ZeroMQ CURVE security for a server reachable from other machines (keys in Z85 text, 40
// characters, as zmq_curve_keypair() makes them).
struct CurveConfig {
  std::string public_key;
  std::string secret_key;
  // Client public keys allowed to connect; every other client is refused during the handshake.
  std::vector<std::string> allowed_client_keys;
};

// The reward service (`safrl serve`).
struct ServerConfig {
  // ZeroMQ endpoint the ROUTER binds; loopback unless configured otherwise.
  std::string endpoint = "tcp://127.0.0.1:5555";
  // HTTP port for /metrics, /health and OpenRLHF's /get_reward; 0 turns it off.
  int64_t http_port = 0;
  // The IPv4 address HTTP binds: loopback unless configured otherwise. Any other address needs
  // http_allowed_clients, as HTTP has no authentication.
  std::string http_address = "127.0.0.1";
  // Client IPv4 addresses allowed on HTTP (others get 403); empty: anyone who can connect.
  std::vector<std::string> http_allowed_clients;
  // Open HTTP connections at most; one more is answered 503 and closed.
  int64_t http_max_connections = 256;
  // A request's line and headers must arrive within this many seconds of its first byte, and its
  // body must not pause longer (and must average 16 KiB/s after that grace); a reply the client
  // does not read for this long is dropped.
  int64_t http_read_timeout_seconds = 10;
  // A kept-alive connection with no request for this long is closed.
  int64_t http_idle_timeout_seconds = 60;
  // Largest request frame accepted; larger ones are answered too_large without decoding.
  int64_t max_message_bytes = 64 << 20;
  // Admission bound: samples queued or running; past it requests are answered busy.
  int64_t max_queued_samples = 4096;
  // ... and the bytes of the request frames that hold them (ZeroMQ; HTTP bounds its bodies).
  int64_t max_queued_bytes = 1LL << 30;
  // Samples the engine thread takes from the queue for one scoring pass (across requests).
  int64_t max_batch_samples = 512;
  // How long a completed reply is kept to answer a retried request id ...
  int64_t reply_cache_seconds = 600;
  // ... within this many bytes of kept replies in all; the oldest are forgotten to make room.
  int64_t reply_cache_bytes = 1LL << 30;
  // Reply bytes waiting for one ZeroMQ client to read them, and for all together; past them a
  // reply is answered busy (the result stays in the reply cache for the client's retry).
  int64_t max_unsent_bytes_per_client = 256LL << 20;
  int64_t max_unsent_bytes = 2LL << 30;
  // Step logs: a step is written once a sample of a step this many newer arrives (1: as soon as
  // the next step starts; 2 lets one step overlap the next, as asynchronous trainers do) ...
  int64_t steps_kept_open = 2;
  // ... or once no sample of it arrived for this long.
  int64_t step_idle_seconds = 30;
  std::optional<CurveConfig> curve;
  // Client addresses or CIDR blocks admitted on the ZeroMQ endpoint (ZAP, before any request is
  // read); empty: every client that can connect (and, with CURVE, holds an allowed key).
  std::vector<AddressRange> allowed_clients;
  // Binds an endpoint other machines can reach with neither CURVE nor allowed_clients, on
  // purpose (serve/bind_rules.h); the server says at start what it exposes.
  bool insecure_bind = false;
};

// The name of the section in the config file.
inline constexpr std::string_view kServerSection = "server";

// Throws util::InputError unless the server can bind `endpoint`: tcp://HOST:PORT (HOST an
// address or interface of this machine, * for all; PORT a number, or * or 0 for a free one) or
// ipc://PATH (a Unix socket). Checked up front because ZeroMQ refuses anything else only when
// binding, with "Protocol not supported".
void check_bind_endpoint(const std::string& endpoint);

// The server section, `section` being its value (absent: the defaults).
ServerConfig parse_server_config(const std::optional<io::YamlValue>& section);

// Every setting, for the server's `info` reply; CURVE keys are secrets, so only whether CURVE
// is on.
nlohmann::json server_config_to_json(const ServerConfig& config);

}  // namespace safrl::serve
