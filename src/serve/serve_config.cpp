#include "serve/serve_config.h"

#include <algorithm>
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

ServerConfig parse_section(const io::YamlSection& s) {
  ServerConfig server;
  if (auto v = s.get("endpoint")) server.endpoint = v->string();
  if (auto v = s.get("http_port")) {
    server.http_port = v->integer();
    if (server.http_port < 0 || server.http_port > 65535) v->fail("expected a port 0..65535");
  }
  if (auto v = s.get("max_message_bytes")) server.max_message_bytes = v->positive_integer();
  if (auto v = s.get("max_queued_samples")) server.max_queued_samples = v->positive_integer();
  if (auto v = s.get("max_batch_samples")) server.max_batch_samples = v->positive_integer();
  if (auto v = s.get("reply_cache_seconds")) server.reply_cache_seconds = v->positive_integer();
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
  return server;
}

}  // namespace

ServerConfig parse_server_config(const std::optional<io::YamlValue>& section) {
  if (!section || section->node().IsNull()) return {};
  return parse_section(
      io::YamlSection(*section, {"endpoint", "http_port", "max_message_bytes", "max_queued_samples",
                                 "max_batch_samples", "reply_cache_seconds", "curve"}));
}

nlohmann::json server_config_to_json(const ServerConfig& config) {
  return {
      {"endpoint", config.endpoint},
      {"http_port", config.http_port},
      {"max_message_bytes", config.max_message_bytes},
      {"max_queued_samples", config.max_queued_samples},
      {"max_batch_samples", config.max_batch_samples},
      {"reply_cache_seconds", config.reply_cache_seconds},
      {"curve", config.curve.has_value()},
  };
}

}  // namespace safrl::serve
