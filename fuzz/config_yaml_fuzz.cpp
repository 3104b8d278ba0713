// Feeds arbitrary text to the config file parser (cli::parse_config_file, which reads the
// reward and serve layers' sections). Any input must either
// parse into a config that passes the header's whole-config checks, or throw LoadError; a crash,
// sanitizer report or other exception is a bug (the CLI would report it as an internal error
// instead of naming the key path).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/config_file.h"
#include "util/error.h"

namespace {

void check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "config_yaml_fuzz: accepted a config where %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  safrl::cli::ConfigFile file;
  try {
    file = safrl::cli::parse_config_file(text, "/configs", "fuzz.yaml");
  } catch (const safrl::util::LoadError&) {
    return 0;
  }
  const safrl::reward::Config& config = file.reward;
  check(!config.guard.model.empty() && config.guard.model[0] == '/',
        "the guard model path is empty or not resolved against the base directory");
  check(config.guard.max_new_tokens > 0, "guard.max_new_tokens is not positive");
  check(config.helpfulness || config.reward.type == safrl::reward::RewardType::kGuardOnly,
        "a reward type that needs a helpfulness model has none");
  check(std::isfinite(config.reward.unsafe_cap) && std::isfinite(config.reward.refusal_cap) &&
            config.reward.unsafe_cap <= config.reward.refusal_cap,
        "the reward caps are not finite or unsafe_cap > refusal_cap");
  check((config.reward.controversial == safrl::reward::ControversialPolicy::kPerCategory) ==
            !config.reward.controversial_unsafe_categories.empty(),
        "controversial_unsafe_categories disagrees with the controversial policy");
  check(config.batching.max_batch_tokens > 0, "batching.max_batch_tokens is not positive");
  const safrl::serve::ServerConfig& server = file.server;
  check(server.http_port >= 0 && server.http_port <= 65535, "http_port is outside 0..65535");
  check(server.max_message_bytes > 0 && server.max_queued_samples > 0 &&
            server.max_batch_samples > 0 && server.reply_cache_seconds > 0,
        "a server bound is not positive");
  check(!server.curve ||
            (server.curve->public_key.size() == 40 && server.curve->secret_key.size() == 40),
        "a CURVE key is not 40 characters");
  // The server's info reply carries this; building it must not throw.
  nlohmann::json::to_msgpack(safrl::reward::config_to_json(config));
  nlohmann::json::to_msgpack(safrl::serve::server_config_to_json(server));
  return 0;
}
