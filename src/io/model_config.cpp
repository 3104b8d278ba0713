#include "io/model_config.h"

#include <array>
#include <cmath>
#include <filesystem>
#include <limits>
#include <string_view>

#include <nlohmann/json.hpp>

#include "io/json_kind.h"
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

constexpr std::array<ArchitectureInfo, 5> kArchitectures = {{
    {Architecture::kQwen3ForCausalLM, "Qwen3ForCausalLM", HeadKind::kCausalLM, Family::kQwen3},
    {Architecture::kQwen3ForSequenceClassification, "Qwen3ForSequenceClassification",
     HeadKind::kSequenceClassification, Family::kQwen3},
    {Architecture::kQwen2ForCausalLM, "Qwen2ForCausalLM", HeadKind::kCausalLM, Family::kQwen2},
    {Architecture::kQwen2ForSequenceClassification, "Qwen2ForSequenceClassification",
     HeadKind::kSequenceClassification, Family::kQwen2},
    {Architecture::kQwen2ForRewardModel, "Qwen2ForRewardModel", HeadKind::kRewardModel,
     Family::kQwen2},
}};

// transformers' Qwen3Config default; Qwen2 derives it from the hidden size instead.
constexpr int64_t kQwen3DefaultHeadDim = 128;
// transformers' default when a config has neither num_labels nor id2label.
constexpr int64_t kDefaultNumLabels = 2;
constexpr std::string_view kSupportedRopeType = "default";
constexpr std::string_view kSupportedActivation = "silu";
constexpr std::string_view kSupportedLayerType = "full_attention";

// Typed access to the top-level keys of one config, with messages that name the source and key.
// null counts as absent for optional keys: Hugging Face writes null for unset fields.
class ConfigReader {
 public:
  ConfigReader(const json& root, const std::string& source) : root_(root), source_(source) {}

  [[noreturn]] void fail(const std::string& message) const {
    throw LoadError(cat(source_, ": ", message));
  }

  // nullptr when absent or null.
  const json* find(std::string_view key) const { return find_in(root_, key); }

  static const json* find_in(const json& object, std::string_view key) {
    auto it = object.find(key);
    return it == object.end() || it->is_null() ? nullptr : &*it;
  }

  int64_t required_positive_int(const char* key) const {
    const json* value = find(key);
    if (value == nullptr) fail(cat("missing required key \"", key, "\" (a positive integer)"));
    return positive_int(*value, key);
  }

  std::optional<int64_t> optional_positive_int(const char* key) const {
    const json* value = find(key);
    if (value == nullptr) return std::nullopt;
    return positive_int(*value, key);
  }

  int64_t positive_int(const json& value, const std::string& what) const {
    int64_t v = integer(value, what, "a positive integer");
    if (v <= 0) fail(cat("\"", what, "\" is ", v, ", expected a positive integer"));
    // Sizes multiply into tensor shapes; bound them so no product can overflow or allocate
    // absurdly.
    constexpr int64_t kLargest = int64_t{1} << 24;
    if (v > kLargest) {
      fail(cat("\"", what, "\" is ", v, ", larger than any model has (at most ", kLargest, ")"));
    }
    return v;
  }

  int64_t token_id(const json& value, const std::string& what) const {
    int64_t v = integer(value, what, "a non-negative token id");
    if (v < 0) fail(cat("\"", what, "\" is ", v, ", expected a non-negative token id"));
    return v;
  }

  std::optional<double> optional_positive_number(const json* value, const std::string& what) const {
    if (value == nullptr) return std::nullopt;
    if (!value->is_number()) {
      fail(cat("\"", what, "\" is ", json_described(*value), ", expected a number"));
    }
    double v = value->get<double>();
    if (!(v > 0) || !std::isfinite(v)) {
      fail(cat("\"", what, "\" is ", v, ", expected a positive finite number"));
    }
    return v;
  }

  std::optional<bool> optional_bool(const char* key) const {
    const json* value = find(key);
    if (value == nullptr) return std::nullopt;
    if (!value->is_boolean()) {
      fail(cat("\"", key, "\" is ", json_described(*value), ", expected true or false"));
    }
    return value->get<bool>();
  }

  std::optional<std::string> optional_string(const json* value, const std::string& what) const {
    if (value == nullptr) return std::nullopt;
    if (!value->is_string()) {
      fail(cat("\"", what, "\" is ", json_described(*value), ", expected a string"));
    }
    return value->get<std::string>();
  }

  std::optional<std::string> optional_string(const char* key) const {
    return optional_string(find(key), key);
  }

 private:
  int64_t integer(const json& value, const std::string& what, const char* expected) const {
    if (!value.is_number_integer()) {
      fail(cat("\"", what, "\" is ", json_described(value), ", expected ", expected));
    }
    if (value.is_number_unsigned() &&
        value.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      fail(cat("\"", what, "\" is ", value.dump(), ", larger than the int64 maximum"));
    }
    return value.get<int64_t>();
  }

  const json& root_;
  const std::string& source_;
};

const ArchitectureInfo& read_architecture(const ConfigReader& reader) {
  const json* list = reader.find("architectures");
  if (list == nullptr || !list->is_array() || list->size() != 1 || !(*list)[0].is_string()) {
    reader.fail(
        cat("\"architectures\" is ", list == nullptr ? "missing" : json_described(*list),
            "; expected a list of exactly one name, one of: ", util::valid_names(kArchitectures)));
  }
  const auto& name = (*list)[0].get_ref<const std::string&>();
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
void check_rope_type(const ConfigReader& reader, const json& object, const char* key) {
  if (!object.is_object()) {
    reader.fail(cat("\"", key, "\" is ", json_described(object), ", expected an object or null"));
  }
  // transformers reads rope_type and falls back to the older spelling type.
  const json* type = ConfigReader::find_in(object, "rope_type");
  const char* type_key = "rope_type";
  if (type == nullptr) {
    type = ConfigReader::find_in(object, "type");
    type_key = "type";
  }
  if (type == nullptr) {
    reader.fail(cat("\"", key, "\" has no \"rope_type\"; supported: \"", kSupportedRopeType,
                    "\", or ", key, " absent"));
  }
  std::optional<std::string> name = reader.optional_string(type, cat(key, ".", type_key));
  if (*name != kSupportedRopeType) {
    reader.fail(cat("\"", key, "\" has ", type_key, " \"", *name,
                    "\", which is not supported (supported: \"", kSupportedRopeType, "\", or ", key,
                    " null/absent)"));
  }
}

double read_rope_theta(const ConfigReader& reader) {
  std::optional<double> top =
      reader.optional_positive_number(reader.find("rope_theta"), "rope_theta");
  std::optional<double> nested;
  if (const json* params = reader.find("rope_parameters")) {
    check_rope_type(reader, *params, "rope_parameters");
    nested = reader.optional_positive_number(ConfigReader::find_in(*params, "rope_theta"),
                                             "rope_parameters.rope_theta");
  }
  if (top && nested && *top != *nested) {
    reader.fail(cat("\"rope_theta\" is ", *top, " but \"rope_parameters.rope_theta\" is ", *nested,
                    "; they must agree"));
  }
  if (const json* scaling = reader.find("rope_scaling")) {
    check_rope_type(reader, *scaling, "rope_scaling");
  }
  // transformers' default for both Qwen2 and Qwen3.
  return top.value_or(nested.value_or(10000.0));
}

void refuse_unsupported_variants(const ConfigReader& reader, int64_t num_hidden_layers) {
  if (reader.find("quantization_config") != nullptr) {
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
  if (const json* types = reader.find("layer_types")) {
    if (!types->is_array()) {
      reader.fail(
          cat("\"layer_types\" is ", json_described(*types), ", expected a list of strings"));
    }
    if (static_cast<int64_t>(types->size()) != num_hidden_layers) {
      reader.fail(cat("\"layer_types\" has ", types->size(), " entries but num_hidden_layers is ",
                      num_hidden_layers));
    }
    for (size_t i = 0; i < types->size(); ++i) {
      const json& type = (*types)[i];
      if (!type.is_string() || type.get_ref<const std::string&>() != kSupportedLayerType) {
        reader.fail(cat("\"layer_types\"[", i, "] is ", json_described(type),
                        ", which is not supported (supported: \"", kSupportedLayerType, "\")"));
      }
    }
  }
}

int64_t read_num_labels(const ConfigReader& reader) {
  std::optional<int64_t> num_labels = reader.optional_positive_int("num_labels");
  std::optional<int64_t> from_id2label;
  if (const json* id2label = reader.find("id2label")) {
    if (!id2label->is_object() || id2label->empty()) {
      reader.fail(cat("\"id2label\" is ", json_described(*id2label),
                      ", expected a non-empty object mapping label indices to names"));
    }
    from_id2label = static_cast<int64_t>(id2label->size());
  }
  if (num_labels && from_id2label && *num_labels != *from_id2label) {
    reader.fail(cat("\"num_labels\" is ", *num_labels, " but \"id2label\" has ", *from_id2label,
                    " entries; they must agree"));
  }
  return num_labels.value_or(from_id2label.value_or(kDefaultNumLabels));
}

std::optional<int64_t> read_eos_token_id(const ConfigReader& reader) {
  const json* eos = reader.find("eos_token_id");
  if (eos == nullptr) return std::nullopt;
  if (!eos->is_array()) return reader.token_id(*eos, "eos_token_id");
  std::optional<int64_t> first;
  for (size_t i = 0; i < eos->size(); ++i) {
    int64_t id = reader.token_id((*eos)[i], cat("eos_token_id[", i, "]"));
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
  config.rms_norm_eps = reader.optional_positive_number(reader.find("rms_norm_eps"), "rms_norm_eps")
                            .value_or(config.rms_norm_eps);
  config.tie_word_embeddings = reader.optional_bool("tie_word_embeddings").value_or(false);

  if (config.family == Family::kQwen3) {
    config.qkv_bias = reader.optional_bool("attention_bias").value_or(false);
    config.o_bias = config.qkv_bias;
  } else {
    config.qkv_bias = true;
    config.o_bias = false;
  }

  config.num_labels = config.head == HeadKind::kRewardModel ? 1 : read_num_labels(reader);
  if (const json* pad = reader.find("pad_token_id")) {
    config.pad_token_id = reader.token_id(*pad, "pad_token_id");
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
