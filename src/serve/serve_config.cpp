#include "serve/serve_config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace safrl::serve {
namespace {

bool is_z85_key(const std::string& key) {
  constexpr std::string_view kZ85 =
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
  return key.size() == 40 && std::all_of(key.begin(), key.end(), [&](char c) {
           return kZ85.find(c) != std::string_view::npos;
         });
}

std::string z85_key(const io::YamlValue& value) {
  std::string key = value.string();
  if (!is_z85_key(key)) value.fail("expected a 40-character Z85 CURVE key (zmq_curve_keypair)");
  return key;
}

// A dotted-quad IPv4 address ("10.0.0.7"), as the HTTP socket binds and reports peers.
std::string ipv4_address(const io::YamlValue& value) {
  std::string text = value.string();
  in_addr parsed{};
  if (inet_pton(AF_INET, text.c_str(), &parsed) != 1) {
    value.fail(util::cat("expected an IPv4 address such as 127.0.0.1, got \"", text, "\""));
  }
  return text;
}

bool is_loopback(const std::string& address) {
  return address.rfind("127.", 0) == 0;
}

// tcp://HOST:PORT or ipc://PATH; ZeroMQ itself checks HOST and PATH when it binds.
bool is_bindable(std::string_view endpoint) {
  constexpr std::string_view kTcp = "tcp://", kIpc = "ipc://";
  if (endpoint.substr(0, kIpc.size()) == kIpc) return endpoint.size() > kIpc.size();
  if (endpoint.substr(0, kTcp.size()) != kTcp) return false;
  const std::string_view address = endpoint.substr(kTcp.size());
  const size_t colon = address.rfind(':');
  if (colon == 0 || colon == std::string_view::npos) return false;
  const std::string_view port = address.substr(colon + 1);
  if (port == "*") return true;
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string_view::npos) {
    return false;
  }
  return std::stoi(std::string(port)) <= 65535;  // 0, like *, lets the system pick a free port
}

ServerConfig parse_section(const io::YamlSection& s) {
  ServerConfig server;
  if (auto v = s.get("endpoint")) {
    server.endpoint = v->name([](const std::string& text) {
      check_bind_endpoint(text);
      return text;
    });
  }
  if (auto v = s.get("http_port")) {
    server.http_port = v->integer();
    if (server.http_port < 0 || server.http_port > 65535) v->fail("expected a port 0..65535");
  }
  if (auto v = s.get("http_address")) server.http_address = ipv4_address(*v);
  if (auto v = s.get("http_allowed_clients")) {
    for (const io::YamlValue& item : v->items("IPv4 addresses")) {
      server.http_allowed_clients.push_back(ipv4_address(item));
    }
    if (server.http_allowed_clients.empty()) v->fail("must list at least one address");
  }
  if (!is_loopback(server.http_address) && server.http_allowed_clients.empty()) {
    s.value()
        .child("http_address", YAML::Node())
        .fail(util::cat(server.http_address,
                        " is reachable from other hosts and HTTP has no authentication: list the "
                        "trainer nodes in server.http_allowed_clients (docs/security.md)"));
  }
  if (auto v = s.get("http_max_connections")) server.http_max_connections = v->positive_integer();
  if (auto v = s.get("http_read_timeout_seconds")) {
    server.http_read_timeout_seconds = v->positive_integer();
  }
  if (auto v = s.get("http_idle_timeout_seconds")) {
    server.http_idle_timeout_seconds = v->positive_integer();
  }
  if (auto v = s.get("max_message_bytes")) server.max_message_bytes = v->positive_integer();
  if (auto v = s.get("max_queued_samples")) server.max_queued_samples = v->positive_integer();
  if (auto v = s.get("max_queued_bytes")) server.max_queued_bytes = v->positive_integer();
  if (auto v = s.get("max_batch_samples")) server.max_batch_samples = v->positive_integer();
  if (auto v = s.get("reply_cache_seconds")) server.reply_cache_seconds = v->positive_integer();
  if (auto v = s.get("reply_cache_bytes")) server.reply_cache_bytes = v->positive_integer();
  if (auto v = s.get("max_unsent_bytes_per_client")) {
    server.max_unsent_bytes_per_client = v->positive_integer();
  }
  if (auto v = s.get("max_unsent_bytes")) server.max_unsent_bytes = v->positive_integer();
  if (auto v = s.get("steps_kept_open")) server.steps_kept_open = v->positive_integer();
  if (auto v = s.get("step_idle_seconds")) server.step_idle_seconds = v->positive_integer();
  if (auto c = s.section("curve", {"public_key", "secret_key", "allowed_client_keys"})) {
    CurveConfig curve;
    curve.public_key = z85_key(c->required("public_key", "the server's Z85 public key"));
    curve.secret_key = z85_key(c->required("secret_key", "the server's Z85 secret key"));
    for (const io::YamlValue& item :
         c->required("allowed_client_keys", "the public keys of the clients allowed in")
             .items("client keys")) {
      curve.allowed_client_keys.push_back(z85_key(item));
    }
    server.curve = std::move(curve);
  }
  if (auto v = s.get("allowed_clients")) {
    for (const io::YamlValue& item : v->items("client addresses or CIDR blocks")) {
      server.allowed_clients.push_back(item.name(AddressRange::parse));
    }
    if (server.allowed_clients.empty()) v->fail("must list at least one address or CIDR block");
  }
  if (auto v = s.get("insecure_bind")) server.insecure_bind = v->boolean();
  return server;
}

}  // namespace

void check_bind_endpoint(const std::string& endpoint) {
  if (is_bindable(endpoint)) return;
  // A bare HOST:PORT is the common slip: say what it should have been.
  const std::string with_scheme = "tcp://" + endpoint;
  const bool bare = endpoint.find("://") == std::string::npos && is_bindable(with_scheme);
  throw util::InputError(
      util::cat("\"", endpoint, "\" is not an endpoint the server can bind; give tcp://HOST:PORT (",
                bare ? "here " + with_scheme : std::string("e.g. tcp://127.0.0.1:5555"),
                ") or ipc://PATH (a Unix socket)"));
}

ServerConfig parse_server_config(const std::optional<io::YamlValue>& section) {
  if (!section || section->node().IsNull()) return {};
  return parse_section(io::YamlSection(*section, {"endpoint",
                                                  "http_port",
                                                  "http_address",
                                                  "http_allowed_clients",
                                                  "http_max_connections",
                                                  "http_read_timeout_seconds",
                                                  "http_idle_timeout_seconds",
                                                  "max_message_bytes",
                                                  "max_queued_samples",
                                                  "max_queued_bytes",
                                                  "max_batch_samples",
                                                  "reply_cache_seconds",
                                                  "reply_cache_bytes",
                                                  "max_unsent_bytes_per_client",
                                                  "max_unsent_bytes",
                                                  "steps_kept_open",
                                                  "step_idle_seconds",
                                                  "curve",
                                                  "allowed_clients",
                                                  "insecure_bind"}));
}

nlohmann::json server_config_to_json(const ServerConfig& config) {
  std::vector<std::string> allowed_clients;
  for (const AddressRange& range : config.allowed_clients) allowed_clients.push_back(range.text());
  return {
      {"endpoint", config.endpoint},
      {"http_port", config.http_port},
      {"http_address", config.http_address},
      {"http_allowed_clients", config.http_allowed_clients},
      {"http_max_connections", config.http_max_connections},
      {"http_read_timeout_seconds", config.http_read_timeout_seconds},
      {"http_idle_timeout_seconds", config.http_idle_timeout_seconds},
      {"max_message_bytes", config.max_message_bytes},
      {"max_queued_samples", config.max_queued_samples},
      {"max_queued_bytes", config.max_queued_bytes},
      {"max_batch_samples", config.max_batch_samples},
      {"reply_cache_seconds", config.reply_cache_seconds},
      {"reply_cache_bytes", config.reply_cache_bytes},
      {"max_unsent_bytes_per_client", config.max_unsent_bytes_per_client},
      {"max_unsent_bytes", config.max_unsent_bytes},
      {"steps_kept_open", config.steps_kept_open},
      {"step_idle_seconds", config.step_idle_seconds},
      {"curve", config.curve.has_value()},
      {"allowed_clients", allowed_clients},
      {"insecure_bind", config.insecure_bind},
  };
}

}  // namespace safrl::serve
