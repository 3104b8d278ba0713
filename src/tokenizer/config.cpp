#include "tokenizer/config.h"

#include <filesystem>
#include <initializer_list>
#include <string_view>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "tokenizer/pretokenizer.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace safrl::tokenizer {
namespace {

using nlohmann::json;

[[noreturn]] void fail(std::string_view file, const std::string& what) {
  throw util::LoadError(util::cat(file, ": ", what));
}

// A short rendering of a JSON value for messages.
std::string show(const json& value) {
  if (value.is_object() && value.contains("type") && value["type"].is_string()) {
    return util::cat("type \"", value["type"].get<std::string>(), "\"");
  }
  std::string text = value.dump();
  if (text.size() > 120) text = text.substr(0, 117) + "...";
  return text;
}

// object[key] without a copy (json::value() returns one), or null when it is absent.
const json& field(const json& object, std::string_view key) {
  static const json kNull;
  if (!object.is_object()) return kNull;
  const auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

json parse_file(const std::string& path) {
  const std::string text = util::read_text_file(path);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw util::LoadError(util::cat(path, " is not valid JSON: ", e.what()));
  }
}

// Refuses keys outside `allowed`: an unknown key may be an option safrl does not implement.
void expect_keys(const json& object, std::string_view file, std::string_view where,
                 std::initializer_list<std::string_view> allowed) {
  if (!object.is_object())
    fail(file, util::cat(where, " must be a JSON object, got ", show(object)));
  for (const auto& item : object.items()) {
    bool known = false;
    for (const std::string_view key : allowed) known = known || item.key() == key;
    if (!known) {
      std::string list;
      for (const std::string_view key : allowed) list += util::cat(list.empty() ? "" : ", ", key);
      fail(file, util::cat(where, " has the setting \"", item.key(),
                           "\", which safrl does not implement (known settings: ", list, ")"));
    }
  }
}

bool get_bool(const json& object, const char* key, bool fallback, std::string_view file,
              std::string_view where) {
  if (!object.contains(key) || object[key].is_null()) return fallback;
  if (!object[key].is_boolean()) {
    fail(file, util::cat(where, ".", key, " must be true or false, got ", show(object[key])));
  }
  return object[key].get<bool>();
}

// A setting that safrl supports with one value only.
void require_bool(const json& object, const char* key, bool supported, std::string_view file,
                  std::string_view where) {
  if (get_bool(object, key, supported, file, where) != supported) {
    fail(file, util::cat(where, ".", key, " = ", !supported ? "true" : "false",
                         " is not supported (supported: ", supported ? "true" : "false", ")"));
  }
}

bool is_type(const json& value, std::string_view type) {
  return value.is_object() && value.contains("type") && value["type"] == type;
}

constexpr std::string_view kTokenizerJson = "tokenizer.json";
constexpr std::string_view kConfigJson = "tokenizer_config.json";

bool read_normalizer(const json& normalizer) {
  if (normalizer.is_null()) return false;
  if (!is_type(normalizer, "NFC")) {
    fail(kTokenizerJson,
         util::cat("normalizer ", show(normalizer), " is not supported (supported: NFC or null)"));
  }
  expect_keys(normalizer, kTokenizerJson, "normalizer", {"type"});
  return true;
}

void read_pre_tokenizer(const json& pre_tokenizer) {
  const auto refuse = [&](const std::string& problem) {
    fail(kTokenizerJson,
         util::cat("pre_tokenizer: ", problem,
                   "; supported: only Sequence[Split(Regex = the Qwen2 pattern, behavior "
                   "Isolated, invert false), ByteLevel(add_prefix_space false, use_regex false)]"));
  };
  if (!is_type(pre_tokenizer, "Sequence")) refuse(util::cat(show(pre_tokenizer), " found"));
  expect_keys(pre_tokenizer, kTokenizerJson, "pre_tokenizer", {"type", "pretokenizers"});
  const json& steps = field(pre_tokenizer, "pretokenizers");
  if (!steps.is_array() || steps.size() != 2) refuse("a Sequence of other than two steps found");

  const json& split = steps[0];
  if (!is_type(split, "Split")) refuse(util::cat("first step ", show(split), " found"));
  expect_keys(split, kTokenizerJson, "pre_tokenizer Split",
              {"type", "pattern", "behavior", "invert"});
  const json& pattern = field(split, "pattern");
  if (!pattern.is_object() || !pattern.contains("Regex") || !pattern["Regex"].is_string()) {
    refuse(util::cat("Split pattern ", show(pattern), " found"));
  }
  if (pattern["Regex"].get<std::string>() != kQwen2Pattern) {
    refuse(util::cat("a Split regex other than Qwen2's found: ", pattern["Regex"].dump()));
  }
  if (field(split, "behavior") != "Isolated") {
    refuse(util::cat("Split behavior ", show(field(split, "behavior")), " found"));
  }
  require_bool(split, "invert", false, kTokenizerJson, "pre_tokenizer Split");

  const json& byte_level = steps[1];
  if (!is_type(byte_level, "ByteLevel"))
    refuse(util::cat("second step ", show(byte_level), " found"));
  expect_keys(byte_level, kTokenizerJson, "pre_tokenizer ByteLevel",
              {"type", "add_prefix_space", "trim_offsets", "use_regex"});
  require_bool(byte_level, "add_prefix_space", false, kTokenizerJson, "pre_tokenizer ByteLevel");
  require_bool(byte_level, "use_regex", false, kTokenizerJson, "pre_tokenizer ByteLevel");
}

// ByteLevel's options only move offsets (post-processor) or are unused (decoder).
void read_byte_level_step(const json& step, std::string_view where, bool may_be_null) {
  if (step.is_null() && may_be_null) return;
  if (!is_type(step, "ByteLevel")) {
    fail(kTokenizerJson,
         util::cat(where, " ", show(step), " is not supported (supported: ByteLevel",
                   may_be_null ? " or null" : "", ")"));
  }
  expect_keys(step, kTokenizerJson, where,
              {"type", "add_prefix_space", "trim_offsets", "use_regex"});
}

std::pair<std::string, std::string> read_merge(const json& merge, size_t index) {
  if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
    return {merge[0].get<std::string>(), merge[1].get<std::string>()};
  }
  if (merge.is_string()) {
    // Hugging Face splits the legacy form at every space and wants exactly two parts.
    const std::string text = merge.get<std::string>();
    const size_t space = text.find(' ');
    if (space != std::string::npos && text.find(' ', space + 1) == std::string::npos) {
      return {text.substr(0, space), text.substr(space + 1)};
    }
  }
  fail(kTokenizerJson, util::cat("model.merges[", index, "] = ", merge.dump(),
                                 " is neither \"left right\" nor [\"left\", \"right\"]"));
}

void read_model(const json& model, TokenizerSpec& spec) {
  if (!is_type(model, "BPE")) {
    fail(kTokenizerJson, util::cat("model ", show(model), " is not supported (supported: BPE)"));
  }
  expect_keys(model, kTokenizerJson, "model",
              {"type", "dropout", "unk_token", "continuing_subword_prefix", "end_of_word_suffix",
               "fuse_unk", "byte_fallback", "ignore_merges", "vocab", "merges"});
  const json& dropout = field(model, "dropout");
  if (!dropout.is_null() && !(dropout.is_number() && dropout.get<double>() == 0.0)) {
    fail(kTokenizerJson, util::cat("model.dropout = ", dropout.dump(),
                                   " is not supported (supported: null or 0; BPE dropout is "
                                   "random and only meant for training)"));
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const json& value = field(model, key);
    if (!value.is_null() && value != "") {
      fail(kTokenizerJson, util::cat("model.", key, " = ", value.dump(),
                                     " is not supported (supported: null or \"\")"));
    }
  }
  require_bool(model, "byte_fallback", false, kTokenizerJson, "model");
  // The unknown token (and fuse_unk) never applies: BpeModel requires all 256 byte tokens, so
  // every byte of every text has a token. They are only type-checked.
  get_bool(model, "fuse_unk", false, kTokenizerJson, "model");
  spec.ignore_merges = get_bool(model, "ignore_merges", false, kTokenizerJson, "model");

  const json& vocab = field(model, "vocab");
  if (!vocab.is_object() || vocab.empty()) {
    fail(kTokenizerJson, "model.vocab must be a non-empty object of token -> id");
  }
  std::unordered_map<int64_t, std::string> seen_ids;
  spec.vocab.reserve(vocab.size());
  for (const auto& item : vocab.items()) {
    const json& id = item.value();
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX) {
      fail(kTokenizerJson, util::cat("model.vocab[\"", item.key(), "\"] = ", id.dump(),
                                     " is not an id between 0 and 2^31 - 1"));
    }
    const auto [it, inserted] = seen_ids.emplace(id.get<int64_t>(), item.key());
    if (!inserted) {
      fail(kTokenizerJson, util::cat("model.vocab gives id ", id.get<int64_t>(), " to both \"",
                                     it->second, "\" and \"", item.key(), "\""));
    }
    spec.vocab.emplace(item.key(), static_cast<int32_t>(id.get<int64_t>()));
  }

  const json& unk = field(model, "unk_token");
  if (!unk.is_null() && !(unk.is_string() && spec.vocab.count(unk.get<std::string>()))) {
    fail(kTokenizerJson,
         util::cat("model.unk_token = ", unk.dump(), " must be null or a token of model.vocab"));
  }

  const json& merges = field(model, "merges");
  if (!merges.is_array()) fail(kTokenizerJson, "model.merges must be an array");
  spec.merges.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) spec.merges.push_back(read_merge(merges[i], i));
}

void read_added_tokens(const json& added, TokenizerSpec& spec) {
  if (added.is_null()) return;
  if (!added.is_array()) fail(kTokenizerJson, "added_tokens must be an array");
  std::unordered_set<std::string> contents;
  std::unordered_set<int32_t> ids;
  std::unordered_map<int32_t, std::string> vocab_by_id;
  for (const auto& [token, id] : spec.vocab) vocab_by_id.emplace(id, token);
  for (size_t i = 0; i < added.size(); ++i) {
    const json& entry = added[i];
    const std::string where = util::cat("added_tokens[", i, "]");
    expect_keys(entry, kTokenizerJson, where,
                {"id", "content", "single_word", "lstrip", "rstrip", "normalized", "special"});
    AddedToken token;
    if (!entry.contains("id") || !entry["id"].is_number_integer() ||
        entry["id"].get<int64_t>() < 0 || entry["id"].get<int64_t>() > INT32_MAX) {
      fail(kTokenizerJson, util::cat(where, ".id must be an id between 0 and 2^31 - 1"));
    }
    if (!entry.contains("content") || !entry["content"].is_string() ||
        entry["content"].get<std::string>().empty()) {
      fail(kTokenizerJson, util::cat(where, ".content must be a non-empty string"));
    }
    token.id = static_cast<int32_t>(entry["id"].get<int64_t>());
    token.content = entry["content"].get<std::string>();
    token.single_word = get_bool(entry, "single_word", false, kTokenizerJson, where);
    token.lstrip = get_bool(entry, "lstrip", false, kTokenizerJson, where);
    token.rstrip = get_bool(entry, "rstrip", false, kTokenizerJson, where);
    // Hugging Face's default: special tokens are not normalized, others are.
    token.special = get_bool(entry, "special", false, kTokenizerJson, where);
    token.normalized = get_bool(entry, "normalized", !token.special, kTokenizerJson, where);
    if (!contents.insert(token.content).second || !ids.insert(token.id).second) {
      fail(kTokenizerJson, util::cat(where, " (\"", token.content, "\", id ", token.id,
                                     ") repeats the content or id of an earlier added token"));
    }
    const auto by_content = spec.vocab.find(token.content);
    if (by_content != spec.vocab.end() && by_content->second != token.id) {
      fail(kTokenizerJson, util::cat(where, " gives \"", token.content, "\" id ", token.id,
                                     " but model.vocab gives it id ", by_content->second));
    }
    const auto by_id = vocab_by_id.find(token.id);
    if (by_id != vocab_by_id.end() && by_id->second != token.content) {
      fail(kTokenizerJson, util::cat(where, " gives id ", token.id, " to \"", token.content,
                                     "\" but model.vocab gives it to \"", by_id->second, "\""));
    }
    spec.added_tokens.push_back(std::move(token));
  }
}

void read_tokenizer_json(const json& root, TokenizerSpec& spec) {
  expect_keys(root, kTokenizerJson, "the top level",
              {"version", "truncation", "padding", "added_tokens", "normalizer", "pre_tokenizer",
               "post_processor", "decoder", "model"});
  if (field(root, "version") != "1.0") {
    fail(kTokenizerJson, util::cat("version ", field(root, "version").dump(),
                                   " is not supported (supported: \"1.0\")"));
  }
  for (const char* key : {"truncation", "padding"}) {
    if (!field(root, key).is_null()) {
      fail(kTokenizerJson, util::cat(key, " = ", show(field(root, key)),
                                     " is not supported (supported: null); safrl never truncates "
                                     "or pads a text"));
    }
  }
  spec.nfc = read_normalizer(field(root, "normalizer"));
  read_pre_tokenizer(field(root, "pre_tokenizer"));
  read_byte_level_step(field(root, "post_processor"), "post_processor", true);
  read_byte_level_step(field(root, "decoder"), "decoder", false);
  read_model(field(root, "model"), spec);
  read_added_tokens(field(root, "added_tokens"), spec);
}

const AddedToken* find_added(const TokenizerSpec& spec, std::string_view content) {
  for (const AddedToken& token : spec.added_tokens) {
    if (token.content == content) return &token;
  }
  return nullptr;
}

// A special-token name ("<|im_end|>" or {"content": "<|im_end|>", ...}); transformers adds one
// that is not an added token yet as a new special token, which tokenizer.json does not know.
void check_named_token(const json& value, std::string_view where, bool must_be_special,
                       const TokenizerSpec& spec) {
  if (value.is_null()) return;
  const json& content = value.is_object() ? field(value, "content") : value;
  if (!content.is_string()) {
    fail(kConfigJson, util::cat(where, " must be a token string or null, got ", show(value)));
  }
  const AddedToken* token = find_added(spec, content.get<std::string>());
  if (token == nullptr || (must_be_special && !token->special)) {
    fail(kConfigJson, util::cat(where, " names \"", content.get<std::string>(), "\", which is not ",
                                must_be_special ? "a special" : "an",
                                " added token of tokenizer.json; transformers would add it as a "
                                "new special token"));
  }
}

void read_tokenizer_config(const json& config, TokenizerSpec& spec) {
  expect_keys(config, kConfigJson, "the top level",
              {"add_bos_token",
               "add_eos_token",
               "add_prefix_space",
               "added_tokens_decoder",
               "additional_special_tokens",
               "extra_special_tokens",
               "bos_token",
               "eos_token",
               "pad_token",
               "unk_token",
               "mask_token",
               "sep_token",
               "cls_token",
               "chat_template",
               "clean_up_tokenization_spaces",
               "errors",
               "model_max_length",
               "split_special_tokens",
               "tokenizer_class",
               "padding_side",
               "truncation_side",
               "model_input_names"});
  require_bool(config, "add_bos_token", false, kConfigJson, "tokenizer_config");
  require_bool(config, "add_eos_token", false, kConfigJson, "tokenizer_config");
  require_bool(config, "add_prefix_space", false, kConfigJson, "tokenizer_config");
  require_bool(config, "clean_up_tokenization_spaces", false, kConfigJson, "tokenizer_config");
  spec.split_special_tokens =
      get_bool(config, "split_special_tokens", false, kConfigJson, "tokenizer_config");
  const json& errors = field(config, "errors");
  if (!errors.is_null() && errors != "replace") {
    fail(kConfigJson, util::cat("errors = ", errors.dump(),
                                " is not supported (supported: \"replace\": invalid UTF-8 in "
                                "decoded bytes becomes U+FFFD)"));
  }
  const json& tokenizer_class = field(config, "tokenizer_class");
  if (!tokenizer_class.is_null() && tokenizer_class != "Qwen2Tokenizer" &&
      tokenizer_class != "Qwen2TokenizerFast" && tokenizer_class != "PreTrainedTokenizerFast") {
    fail(kConfigJson, util::cat("tokenizer_class ", tokenizer_class.dump(),
                                " is not supported (supported: Qwen2Tokenizer, Qwen2TokenizerFast, "
                                "PreTrainedTokenizerFast)"));
  }
  for (const char* key : {"bos_token", "eos_token", "pad_token", "unk_token", "mask_token",
                          "sep_token", "cls_token"}) {
    check_named_token(field(config, key), key, false, spec);
  }
  for (const char* key : {"additional_special_tokens", "extra_special_tokens"}) {
    const json& list = field(config, key);
    if (list.is_null()) continue;
    if (!list.is_array() && !list.is_object()) {
      fail(kConfigJson, util::cat(key, " must be a list of special tokens"));
    }
    for (const auto& item : list.items()) {
      check_named_token(item.value(), util::cat(key, "[", item.key(), "]"), true, spec);
    }
  }
  const json& decoder = field(config, "added_tokens_decoder");
  if (decoder.is_null()) return;
  if (!decoder.is_object()) fail(kConfigJson, "added_tokens_decoder must be an object");
  for (const auto& item : decoder.items()) {
    const std::string where = util::cat("added_tokens_decoder[\"", item.key(), "\"]");
    const json& entry = item.value();
    const AddedToken* token = nullptr;
    for (const AddedToken& candidate : spec.added_tokens) {
      if (std::to_string(candidate.id) == item.key()) token = &candidate;
    }
    const auto flag = [&](const char* key, bool expected) {
      return get_bool(entry, key, expected, kConfigJson, where) == expected;
    };
    if (token == nullptr || !entry.is_object() || field(entry, "content") != token->content ||
        !flag("single_word", token->single_word) || !flag("lstrip", token->lstrip) ||
        !flag("rstrip", token->rstrip) || !flag("normalized", token->normalized) ||
        !flag("special", token->special)) {
      fail(kConfigJson, util::cat(where, " = ", entry.dump(),
                                  " disagrees with the added_tokens of tokenizer.json; the two "
                                  "files must describe the same added tokens"));
    }
  }
}

}  // namespace

TokenizerSpec read_tokenizer_spec(const std::string& dir) {
  const std::filesystem::path root(dir);
  TokenizerSpec spec;
  const std::string tokenizer_path = (root / kTokenizerJson).string();
  const json tokenizer_json = parse_file(tokenizer_path);
  try {
    read_tokenizer_json(tokenizer_json, spec);
  } catch (const util::LoadError& e) {
    throw util::LoadError(util::cat(e.what(), " (in ", tokenizer_path, ")"));
  }
  const std::filesystem::path config_path = root / kConfigJson;
  if (std::filesystem::exists(config_path)) {
    const json config_json = parse_file(config_path.string());
    try {
      read_tokenizer_config(config_json, spec);
    } catch (const util::LoadError& e) {
      throw util::LoadError(util::cat(e.what(), " (in ", config_path.string(), ")"));
    }
  }
  return spec;
}

}  // namespace safrl::tokenizer
