// Reading a YAML config file into typed values, strictly: each layer parses its own sections of
// the file (reward: guard, helpfulness, reward, batching, runtime; serve: server) with these
// readers, and the command line assembles the file from them.
//
// Every failure throws util::LoadError naming the source and the key path, e.g.
//   configs/x.yaml: reward.unsafe_cap: expected a number, got "abc"
// A mapping accepts only the keys it is given (unknown and duplicate keys fail); numbers and
// booleans must be plain scalars (a quoted "5" is a string); an explicit null fails as the wrong
// type rather than meaning the default. Values are cheap handles into the parsed document.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "util/error.h"

namespace safrl::io {

// Where the config text came from (for messages) and where its relative paths start.
struct YamlSource {
  std::string name;
  std::string base_dir;  // empty: relative paths stay relative
};

// One value of the config with its key path ("reward.unsafe_cap").
class YamlValue {
 public:
  YamlValue(const YamlSource& source, YAML::Node node, std::string path);

  [[noreturn]] void fail(const std::string& message) const;
  const YAML::Node& node() const { return node_; }
  const std::string& path() const { return path_; }
  // The value of `key` below this one.
  YamlValue child(const std::string& key, YAML::Node node) const;

  double number() const;  // finite
  int64_t integer() const;
  int64_t positive_integer() const;
  bool boolean() const;
  std::string string() const;  // non-empty
  // A model directory, resolved against the config file's directory when relative.
  std::string model_path() const;
  // A name read by `parse`, which throws util::InputError listing the valid names.
  template <typename Parse>
  auto name(Parse parse) const {
    const std::string text = string();
    try {
      return parse(text);
    } catch (const util::InputError& e) {
      fail(e.what());
    }
  }
  // The items of a list, each with its index in the path ("x[2]").
  std::vector<YamlValue> items(std::string_view what) const;
  // How a wrong value is shown: its text quoted, or its kind.
  std::string describe() const;

 private:
  bool is_plain_scalar() const;

  const YamlSource* source_;
  YAML::Node node_;
  std::string path_;
};

// A mapping whose keys are distinct names from `keys`; anything else fails on construction.
class YamlSection {
 public:
  YamlSection(YamlValue value, std::vector<std::string_view> keys);

  // The value of `key`, or nullopt when the key is absent (an explicit null is a value).
  std::optional<YamlValue> get(const std::string& key) const;
  // The value of `key`; fails with "missing; <hint>" when absent.
  YamlValue required(const std::string& key, std::string_view hint) const;
  // The section at `key`, or nullopt when absent or null: an empty section means its defaults.
  std::optional<YamlSection> section(const std::string& key,
                                     std::vector<std::string_view> keys) const;
  const YamlValue& value() const { return value_; }

 private:
  YamlValue value_;
};

// Parses `text`; invalid YAML fails as "<source>:<line>:<column>: invalid YAML: ...".
YAML::Node parse_yaml(const std::string& text, const std::string& source);
// The text of the file at `path`; fails as "cannot read config file <path>: <reason>".
std::string read_config_file(const std::string& path);

}  // namespace safrl::io
