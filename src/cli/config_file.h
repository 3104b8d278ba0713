// A whole config file (docs/config.md), assembled from the sections each layer owns: the reward
// layer's (guard, helpfulness, reward, batching, runtime) and serve's (server). An unknown
// top-level section fails like an unknown key anywhere else. Every command that takes --config
// reads it here, so `safrl score` and `safrl bench` accept the same files as `safrl serve`.
#pragma once

#include <string>

#include "reward/config.h"
#include "serve/serve_config.h"

namespace safrl::cli {

struct ConfigFile {
  reward::Config reward;
  serve::ServerConfig server;
};

// Reads and parses the YAML file at `path`; relative model paths resolve against its directory
// (made absolute). Throws util::LoadError when the file cannot be read or is invalid.
ConfigFile load_config_file(const std::string& path);

// Parses `yaml_text`; relative model paths resolve against `base_dir` (left relative when it is
// empty); `source` names the text in messages.
ConfigFile parse_config_file(const std::string& yaml_text, const std::string& base_dir,
                             const std::string& source);

}  // namespace safrl::cli
