#include "cli/config_file.h"

#include <filesystem>
#include <string_view>
#include <vector>

#include "io/yaml_config.h"

namespace safrl::cli {

ConfigFile parse_config_file(const std::string& yaml_text, const std::string& base_dir,
                             const std::string& source) {
  const io::YamlSource where{source, base_dir};
  std::vector<std::string_view> sections(std::begin(reward::kConfigSections),
                                         std::end(reward::kConfigSections));
  sections.push_back(serve::kServerSection);
  const io::YamlSection root(io::YamlValue(where, io::parse_yaml(yaml_text, source), ""), sections);
  ConfigFile config;
  // The server section first: the reward layer ends with its checks across keys, which should
  // come after every single value has been checked.
  config.server = serve::parse_server_config(root.get(std::string(serve::kServerSection)));
  config.reward = reward::parse_config(root, source);
  return config;
}

ConfigFile load_config_file(const std::string& path) {
  const std::string base_dir = std::filesystem::absolute(path).parent_path().string();
  return parse_config_file(io::read_config_file(path), base_dir, path);
}

}  // namespace safrl::cli
