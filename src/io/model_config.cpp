#include "io/model_config.h"

#include <array>
#include <cmath>
#include <filesystem>
#include <limits>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/json_reader.h"
#include "util/enum_names.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace safrl::io {
namespace {

using nlohmann::json;
using util::cat;
using util::LoadError;

struct ArchitectureInfo {
  Architecture architecture;
  std::string_view name;
  HeadKind head;
  Family family;
};

constexpr std::array<ArchitectureInfo, 6> kArchitectures = {{
    {Architecture::kQwen3ForCausalLM, "Qwen3ForCausalLM", HeadKind::kCausalLM, Family::kQwen3},
    {Architecture::kQwen3ForSequenceClassification, "Qwen3ForSequenceClassification",
     HeadKind::kSequenceClassification, Family::kQwen3},
    {Architecture::kQwen2ForCausalLM, "Qwen2ForCausalLM", HeadKind::kCausalLM, Family::kQwen2},
    {Architecture::kQwen2ForSequenceClassification, "Qwen2ForSequenceClassification",
     HeadKind::kSequenceClassification, Family::kQwen2},
    {Architecture::kQwen2ForRewardModel, "Qwen2ForRewardModel", HeadKind::kRewardModel,
     Family::kQwen2},
    {Architecture::kQwen3ForGuardModel, "Qwen3ForGuardModel", HeadKind::kStreamGuard,
     Family::kQwen3},
}};

// transformers' Qwen3Config default; Qwen2 derives it from the hidden size instead.
constexpr int64_t kQwen3DefaultHeadDim = 128;
// transformers' default when a config has neither num_labels nor id2label.
constexpr int64_t kDefaultNumLabels = 2;
constexpr std::string_view kSupportedRopeType = "default";
constexpr std::string_view kSupportedActivation = "silu";
constexpr std::string_view kSupportedLayerType = "full_attention";

// Sizes multiply into tensor shapes; bounded so no product can overflow or allocate absurdly.
constexpr int64_t kLargestSize = int64_t{1} << 24;

// Typed access to the keys of one config through JsonReader, every message prefixed with the
// source. null counts as absent for optional keys: Hugging Face writes null for unset fields.
class ConfigReader {
 public:
  ConfigReader(const json& root, const std::string& source)
      : fail_(
            [&source](const std::string& message) { throw LoadError(cat(source, ": ", message)); }),
        root_(root, fail_) {}
  ConfigReader(const ConfigReader&) = delete;  // root_ refers to fail_
  ConfigReader& operator=(const ConfigReader&) = delete;

  [[noreturn]] void fail(const std::string& message) const { root_.fail(message); }
  const JsonReader& root() const { return root_; }
  // nullopt when absent or null.
  std::optional<JsonReader> find(std::string_view key) const { return root_.optional(key); }

  int64_t required_positive_int(std::string_view key) const {
    const std::optional<JsonReader> value = find(key);
    if (!value) root_.child(key).fail("missing; give a positive integer");
    return positive_int(*value);
  }

  std::optional<int64_t> optional_positive_int(std::string_view key) const {
    const std::optional<JsonReader> value = find(key);
    if (!value) return std::nullopt;
    return positive_int(*value);
  }

  static int64_t positive_int(const JsonReader& value) { return value.as_int(1, kLargestSize); }
  static int64_t token_id(const JsonReader& value) { return value.as_int(0); }

  static std::optional<double> optional_positive_number(const std::optional<JsonReader>& value) {
    if (!value) return std::nullopt;
    const double number = value->as_double();
    if (!(number > 0)) value->fail(cat("must be a positive number, got ", value->describe()));
    return number;
  }

  std::optional<bool> optional_bool(std::string_view key) const {
    const std::optional<JsonReader> value = find(key);
    if (!value) return std::nullopt;
    return value->as_bool();
  }

  static std::optional<std::string> optional_string(const std::optional<JsonReader>& value) {
    if (!value) return std::nullopt;
    return value->as_string();
  }

  std::optional<std::string> optional_string(std::string_view key) const {
    return optional_string(find(key));
  }

 private:
  const JsonFail fail_;
  const JsonReader root_;
};

const ArchitectureInfo& read_architecture(const ConfigReader& reader) {
  const JsonReader list = reader.root().child("architectures");
  const json& names = list.value();
  if (!names.is_array() || names.size() != 1 || !names[0].is_string()) {
    list.fail(cat("must be a list of exactly one name, one of: ", util::valid_names(kArchitectures),
                  "; got ", reader.root().has("architectures") ? list.describe() : "nothing"));
  }
  const auto& name = names[0].get_ref<const std::string&>();
  const ArchitectureInfo* found = nullptr;
  for (const ArchitectureInfo& info : kArchitectures) {
    if (info.name == name) found = &info;
  }
  if (found == nullptr) {
    reader.fail(cat("architecture \"", name,
                    "\" is not supported (supported: ", util::valid_names(kArchitectures), ")"));
  }
  const std::string expected_type = found->family == Family::kQwen3 ? "qwen3" : "qwen2";
  std::optional<std::string> model_type = reader.optional_string("model_type");
  if (!model_type) {
    reader.fail(cat("missing \"model_type\"; expected \"", expected_type, "\" for ", name));
  }
  if (*model_type != expected_type) {
    reader.fail(cat("\"model_type\" is \"", *model_type, "\" but architecture ", name, " needs \"",
                    expected_type, "\" (supported model types: qwen3, qwen2)"));
  }
  return *found;
}

// Accepts a rope_scaling / rope_parameters object only when its type is plain RoPE: a scaled
// variant (yarn, linear, dynamic, ...) changes every position's angles, so ignoring it would give
// wrong outputs, not an error.
void check_rope_type(const ConfigReader& reader, const JsonReader& object, const char* key) {
  if (!object.value().is_object()) {
    object.fail(cat("must be an object or null, got ", object.describe()));
  }
  // transformers reads rope_type and falls back to the older spelling type.
  std::optional<JsonReader> type = object.optional("rope_type");
  const char* type_key = "rope_type";
  if (!type) {
    type = object.optional("type");
    type_key = "type";
  }
  if (!type) {
    reader.fail(cat("\"", key, "\" has no \"rope_type\"; supported: \"", kSupportedRopeType,
                    "\", or ", key, " absent"));
  }
  std::optional<std::string> name = ConfigReader::optional_string(type);
  if (*name != kSupportedRopeType) {
    reader.fail(cat("\"", key, "\" has ", type_key, " \"", *name,
                    "\", which is not supported (supported: \"", kSupportedRopeType, "\", or ", key,
                    " null/absent)"));
  }
}

double read_rope_theta(const ConfigReader& reader) {
  std::optional<double> top = ConfigReader::optional_positive_number(reader.find("rope_theta"));
  std::optional<double> nested;
  if (const std::optional<JsonReader> params = reader.find("rope_parameters")) {
    check_rope_type(reader, *params, "rope_parameters");
    nested = ConfigReader::optional_positive_number(params->optional("rope_theta"));
  }
  if (top && nested && *top != *nested) {
    reader.fail(cat("\"rope_theta\" is ", *top, " but \"rope_parameters.rope_theta\" is ", *nested,
                    "; they must agree"));
  }
  if (const std::optional<JsonReader> scaling = reader.find("rope_scaling")) {
    check_rope_type(reader, *scaling, "rope_scaling");
  }
  // transformers' default for both Qwen2 and Qwen3.
  return top.value_or(nested.value_or(10000.0));
}

void refuse_unsupported_variants(const ConfigReader& reader, int64_t num_hidden_layers) {
  if (reader.find("quantization_config")) {
    reader.fail(
        "has a \"quantization_config\"; quantized checkpoints are not supported (use the "
        "bfloat16, float16 or float32 weights)");
  }
  if (std::optional<std::string> act = reader.optional_string("hidden_act")) {
    if (*act != kSupportedActivation) {
      reader.fail(cat("\"hidden_act\" is \"", *act, "\", which is not supported (supported: \"",
                      kSupportedActivation, "\")"));
    }
  }
  // sliding_window itself is only a size; it is used only when use_sliding_window is true.
  if (reader.optional_bool("use_sliding_window").value_or(false)) {
    reader.fail(
        "\"use_sliding_window\" is true; sliding-window attention is not supported (supported: "
        "full attention on every layer, use_sliding_window false or absent)");
  }
  if (const std::optional<JsonReader> types = reader.find("layer_types")) {
    if (!types->value().is_array()) {
      types->fail(cat("must be a list of strings, got ", types->describe()));
    }
    if (static_cast<int64_t>(types->value().size()) != num_hidden_layers) {
      reader.fail(cat("\"layer_types\" has ", types->value().size(),
                      " entries but num_hidden_layers is ", num_hidden_layers));
    }
    for (const JsonReader& type : types->items()) {
      if (!type.value().is_string() || type.as_string() != kSupportedLayerType) {
        type.fail(
            cat(type.describe(), " is not supported (supported: \"", kSupportedLayerType, "\")"));
      }
    }
  }
}

int64_t read_num_labels(const ConfigReader& reader) {
  std::optional<int64_t> num_labels = reader.optional_positive_int("num_labels");
  std::optional<int64_t> from_id2label;
  if (const std::optional<JsonReader> id2label = reader.find("id2label")) {
    if (!id2label->value().is_object() || id2label->value().empty()) {
      id2label->fail(cat("must be a non-empty object mapping label indices to names, got ",
                         id2label->value().is_object() ? "an empty one" : id2label->describe()));
    }
    from_id2label = static_cast<int64_t>(id2label->value().size());
  }
  if (num_labels && from_id2label && *num_labels != *from_id2label) {
    reader.fail(cat("\"num_labels\" is ", *num_labels, " but \"id2label\" has ", *from_id2label,
                    " entries; they must agree"));
  }
  return num_labels.value_or(from_id2label.value_or(kDefaultNumLabels));
}

// The official label names of one head, for messages and label-map checks.
template <size_t N>
std::vector<std::string_view> names_of(const std::array<std::string_view, N>& names) {
  return {names.begin(), names.end()};
}

std::string joined(const std::vector<std::string_view>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) out += cat(i ? ", " : "", i, " ", names[i]);
  return out;
}

// A head's label count, which the Stream guard fixes: its labels' names and order are the
// official code's, so a checkpoint trained with other labels cannot be read with them.
int64_t read_label_count(const ConfigReader& reader, std::string_view key,
                         const std::vector<std::string_view>& labels, std::string_view head) {
  const int64_t count = reader.required_positive_int(key);
  if (count != static_cast<int64_t>(labels.size())) {
    reader.root().child(key).fail(
        cat("is ", count, ", but the Stream guard's ", head, " has exactly ", labels.size(),
            " labels in the official order (", joined(labels),
            "); a checkpoint with other labels is not Qwen3Guard-Stream and is not supported"));
  }
  return count;
}

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

bool is_placeholder_label(const std::string& name, size_t index) {
  return name == cat("LABEL_", index);  // transformers' default names: they name nothing
}

// A label map as index -> name. Accepted spellings: a list of names in index order, an object
// of index -> name (id2label), or an object of name -> index (label2id style).
std::vector<std::string> label_map_names(const JsonReader& map) {
  const json& value = map.value();
  if (value.is_array()) {
    std::vector<std::string> names;
    for (const JsonReader& item : map.items()) names.push_back(item.as_string());
    return names;
  }
  if (!value.is_object() || value.empty()) {
    map.fail(cat("must be a non-empty object or list of label names, got ", map.describe()));
  }
  std::vector<std::string> names(value.size());
  std::vector<bool> seen(value.size(), false);
  const auto place = [&](const JsonReader& where, int64_t index, const std::string& name) {
    const auto slot = static_cast<size_t>(index);
    if (seen[slot]) where.fail(cat("index ", index, " appears twice"));
    seen[slot] = true;
    names[slot] = name;
  };
  const auto last = static_cast<int64_t>(value.size()) - 1;
  for (const auto& [key, item] : value.items()) {
    const JsonReader entry = map.child(key);
    if (item.is_string()) {  // "index": "name"
      int64_t index = -1;
      try {
        size_t used = 0;
        index = std::stoll(key, &used);
        if (used != key.size()) index = -1;
      } catch (const std::exception&) {
        index = -1;
      }
      if (index < 0 || index > last) {
        entry.fail(
            cat("is a label name keyed by \"", key, "\", which is not an index in 0..", last));
      }
      place(entry, index, item.get_ref<const std::string&>());
    } else {  // "name": index
      place(entry, entry.as_int(0, last), key);
    }
  }
  return names;
}

// A label map in config.json must agree with the official order: reading the heads in another
// order would silently swap labels. transformers' placeholder id2label ("LABEL_0", ...) carries
// no names and passes.
void check_label_map(const JsonReader& map, const std::vector<std::string_view>& official,
                     std::string_view head) {
  const std::vector<std::string> names = label_map_names(map);
  if (names.size() != official.size()) {
    map.fail(cat("has ", names.size(), " labels, but the Stream guard's ", head, " has ",
                 official.size(), " (", joined(official), ")"));
  }
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] != official[i] && !is_placeholder_label(names[i], i)) {
      map.fail(cat("index ", i, " is \"", names[i], "\", but the official order has \"",
                   official[i], "\" there (", head, ": ", joined(official), ")"));
    }
  }
}

void check_label_maps(const ConfigReader& reader) {
  const std::vector<std::string_view> risk = names_of(kStreamRiskLevels);
  const std::vector<std::string_view> category = names_of(kStreamResponseCategories);
  const std::vector<std::string_view> query_category = names_of(kStreamQueryCategories);
  for (const auto& [key, value] : reader.root().value().items()) {
    if (value.is_null()) continue;
    const JsonReader map = reader.root().child(key);
    if (ends_with(key, "risk_level_map")) {
      check_label_map(map, risk, "risk level");
    } else if (ends_with(key, "category_map")) {
      const bool query = key.find("query") != std::string::npos;
      check_label_map(map, query ? query_category : category,
                      query ? "query category" : "response category");
    } else if (key == "id2label") {
      // The config does not say which head an id2label belongs to: its size does (3 risk levels,
      // 8 response or 9 query categories).
      const std::vector<std::string> names = label_map_names(map);
      bool placeholders = true;
      for (size_t i = 0; i < names.size(); ++i) placeholders &= is_placeholder_label(names[i], i);
      if (placeholders) continue;
      if (names.size() == risk.size()) {
        check_label_map(map, risk, "risk level");
      } else if (names.size() == category.size()) {
        check_label_map(map, category, "response category");
      } else if (names.size() == query_category.size()) {
        check_label_map(map, query_category, "query category");
      } else {
        map.fail(cat("has ", names.size(),
                     " labels; a Qwen3ForGuardModel label map has 3 risk levels, 8 response "
                     "categories or 9 query categories"));
      }
    }
  }
}

void read_stream_guard(const ConfigReader& reader, ModelConfig& config) {
  config.guard_inner_size = reader.required_positive_int("guard_inner_size");
  config.num_risk_level = read_label_count(reader, "num_risk_level", names_of(kStreamRiskLevels),
                                           "response risk-level head");
  config.num_category = read_label_count(
      reader, "num_category", names_of(kStreamResponseCategories), "response category head");
  config.num_query_risk_level = read_label_count(
      reader, "num_query_risk_level", names_of(kStreamRiskLevels), "query risk-level head");
  config.num_query_category = read_label_count(
      reader, "num_query_category", names_of(kStreamQueryCategories), "query category head");
  check_label_maps(reader);
}

std::optional<int64_t> read_eos_token_id(const ConfigReader& reader) {
  const std::optional<JsonReader> eos = reader.find("eos_token_id");
  if (!eos) return std::nullopt;
  if (!eos->value().is_array()) return ConfigReader::token_id(*eos);
  std::optional<int64_t> first;
  for (const JsonReader& item : eos->items()) {
    const int64_t id = ConfigReader::token_id(item);
    if (!first) first = id;
  }
  return first;
}

}  // namespace

std::string architecture_name(Architecture arch) {
  for (const ArchitectureInfo& info : kArchitectures) {
    if (info.architecture == arch) return std::string(info.name);
  }
  throw std::logic_error("unknown Architecture value");
}

ModelConfig parse_model_config(const std::string& json_text, const std::string& source) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {
    throw LoadError(cat(source, ": not valid JSON (", e.what(), ")"));
  }
  if (!root.is_object()) {
    throw LoadError(cat(source, ": is a JSON ", root.type_name(), ", expected an object"));
  }
  const ConfigReader reader(root, source);

  ModelConfig config;
  const ArchitectureInfo& arch = read_architecture(reader);
  config.architecture = arch.architecture;
  config.head = arch.head;
  config.family = arch.family;

  config.vocab_size = reader.required_positive_int("vocab_size");
  config.hidden_size = reader.required_positive_int("hidden_size");
  config.intermediate_size = reader.required_positive_int("intermediate_size");
  config.num_hidden_layers = reader.required_positive_int("num_hidden_layers");
  config.num_attention_heads = reader.required_positive_int("num_attention_heads");
  // transformers falls back to multi-head attention when the key is absent.
  config.num_key_value_heads =
      reader.optional_positive_int("num_key_value_heads").value_or(config.num_attention_heads);
  if (config.num_attention_heads % config.num_key_value_heads != 0) {
    reader.fail(cat("num_attention_heads (", config.num_attention_heads,
                    ") is not a multiple of num_key_value_heads (", config.num_key_value_heads,
                    ")"));
  }
  config.max_position_embeddings = reader.required_positive_int("max_position_embeddings");

  if (std::optional<int64_t> head_dim = reader.optional_positive_int("head_dim")) {
    config.head_dim = *head_dim;
  } else if (config.family == Family::kQwen3) {
    config.head_dim = kQwen3DefaultHeadDim;
  } else {
    if (config.hidden_size % config.num_attention_heads != 0) {
      reader.fail(cat("has no \"head_dim\" and hidden_size (", config.hidden_size,
                      ") is not a multiple of num_attention_heads (", config.num_attention_heads,
                      ")"));
    }
    config.head_dim = config.hidden_size / config.num_attention_heads;
  }

  refuse_unsupported_variants(reader, config.num_hidden_layers);
  config.rope_theta = read_rope_theta(reader);
  config.rms_norm_eps = ConfigReader::optional_positive_number(reader.find("rms_norm_eps"))
                            .value_or(config.rms_norm_eps);
  config.tie_word_embeddings = reader.optional_bool("tie_word_embeddings").value_or(false);

  if (config.family == Family::kQwen3) {
    config.qkv_bias = reader.optional_bool("attention_bias").value_or(false);
    config.o_bias = config.qkv_bias;
  } else {
    config.qkv_bias = true;
    config.o_bias = false;
  }

  switch (config.head) {
    case HeadKind::kRewardModel:
      config.num_labels = 1;
      break;
    case HeadKind::kStreamGuard:
      // Its heads' sizes are the five guard keys; num_labels / id2label do not size them.
      read_stream_guard(reader, config);
      break;
    case HeadKind::kCausalLM:
    case HeadKind::kSequenceClassification:
      config.num_labels = read_num_labels(reader);
      break;
  }
  if (const std::optional<JsonReader> pad = reader.find("pad_token_id")) {
    config.pad_token_id = ConfigReader::token_id(*pad);
  }
  config.eos_token_id = read_eos_token_id(reader);
  // Newer transformers write "dtype" where older ones wrote "torch_dtype".
  config.torch_dtype =
      reader.optional_string("torch_dtype").value_or(reader.optional_string("dtype").value_or(""));
  return config;
}

ModelConfig load_model_config(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "config.json").string();
  return parse_model_config(util::read_text_file(path), path);
}

}  // namespace safrl::io
