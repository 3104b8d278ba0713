#include "io/yaml_config.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "util/enum_names.h"

namespace safrl::io {

YamlValue::YamlValue(const YamlSource& source, YAML::Node node, std::string path)
    : source_(&source), node_(std::move(node)), path_(std::move(path)) {}

void YamlValue::fail(const std::string& message) const {
  throw util::LoadError(path_.empty() ? util::cat(source_->name, ": ", message)
                                      : util::cat(source_->name, ": ", path_, ": ", message));
}

YamlValue YamlValue::child(const std::string& key, YAML::Node node) const {
  return YamlValue(*source_, std::move(node), path_.empty() ? key : util::cat(path_, ".", key));
}

double YamlValue::number() const {
  double value = 0;
  if (!is_plain_scalar() || !YAML::convert<double>::decode(node_, value)) {
    fail(util::cat("expected a number, got ", describe()));
  }
  if (!std::isfinite(value)) fail(util::cat("expected a finite number, got ", node_.Scalar()));
  return value;
}

int64_t YamlValue::integer() const {
  long long value = 0;
  if (!is_plain_scalar() || !YAML::convert<long long>::decode(node_, value)) {
    fail(util::cat("expected an integer, got ", describe()));
  }
  return static_cast<int64_t>(value);
}

int64_t YamlValue::positive_integer() const {
  const int64_t value = integer();
  if (value <= 0) fail(util::cat("must be positive, got ", value));
  return value;
}

bool YamlValue::boolean() const {
  bool value = false;
  if (!is_plain_scalar() || !YAML::convert<bool>::decode(node_, value)) {
    fail(util::cat("expected true or false, got ", describe()));
  }
  return value;
}

std::string YamlValue::string() const {
  if (!node_.IsScalar()) fail(util::cat("expected a string, got ", describe()));
  if (node_.Scalar().empty()) fail("must not be empty");
  return node_.Scalar();
}

std::string YamlValue::model_path() const {
  std::filesystem::path model = string();
  if (model.is_relative() && !source_->base_dir.empty()) {
    model = std::filesystem::path(source_->base_dir) / model;
  }
  return model.lexically_normal().string();
}

std::vector<YamlValue> YamlValue::items(std::string_view what) const {
  if (!node_.IsSequence()) fail(util::cat("expected a list of ", what, ", got ", describe()));
  std::vector<YamlValue> items;
  for (size_t i = 0; i < node_.size(); ++i) {
    items.emplace_back(*source_, node_[i], util::cat(path_, "[", i, "]"));
  }
  return items;
}

std::string YamlValue::describe() const {
  switch (node_.Type()) {
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Scalar:
      // A quoted "5" looks like a number in the message, so say why it is not one.
      return nlohmann::json(node_.Scalar())
                 .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
             (is_plain_scalar() ? "" : " (quoted)");
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

// YAML makes a quoted "5" a string, so only plain scalars are numbers or booleans.
bool YamlValue::is_plain_scalar() const {
  return node_.IsScalar() && node_.Tag() != "!";
}

YamlSection::YamlSection(YamlValue value, std::vector<std::string_view> keys)
    : value_(std::move(value)) {
  const YAML::Node& node = value_.node();
  if (!node.IsMap()) {
    value_.fail(util::cat("expected a mapping with keys ", util::join_names(keys), ", got ",
                          value_.describe()));
  }
  std::vector<std::string> seen;
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) value_.fail("keys must be plain names");
    const std::string key = entry.first.Scalar();
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
      value_.child(key, entry.second)
          .fail(util::cat("unknown key; valid keys here: ", util::join_names(keys)));
    }
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
      value_.child(key, entry.second).fail("duplicate key");
    }
    seen.push_back(key);
  }
}

std::optional<YamlValue> YamlSection::get(const std::string& key) const {
  for (const auto& entry : value_.node()) {
    if (entry.first.Scalar() == key) return value_.child(key, entry.second);
  }
  return std::nullopt;
}

YamlValue YamlSection::required(const std::string& key, std::string_view hint) const {
  std::optional<YamlValue> value = get(key);
  if (!value) value_.child(key, YAML::Node()).fail(util::cat("missing; ", hint));
  return *value;
}

std::optional<YamlSection> YamlSection::section(const std::string& key,
                                                std::vector<std::string_view> keys) const {
  std::optional<YamlValue> value = get(key);
  if (!value || value->node().IsNull()) return std::nullopt;
  return YamlSection(*value, std::move(keys));
}

YAML::Node parse_yaml(const std::string& text, const std::string& source) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) throw util::LoadError(util::cat(source, ": invalid YAML: ", e.msg));
    throw util::LoadError(
        util::cat(source, ":", e.mark.line + 1, ":", e.mark.column + 1, ": invalid YAML: ", e.msg));
  }
}

std::string read_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw util::LoadError(util::cat("cannot read config file ", path, ": ", std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace safrl::io
