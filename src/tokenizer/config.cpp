#include "tokenizer/config.h"

#include <filesystem>
#include <optional>
#include <string_view>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "io/json_reader.h"
#include "tokenizer/pretokenizer.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace safrl::tokenizer {
namespace {

// Why a key can be unknown: tokenizer.json is Hugging Face's format, and a setting safrl does not
// implement is refused, never ignored (it would tokenize differently).
constexpr std::string_view kNotImplemented =
    "safrl implements only these settings of the tokenizers format, and refuses any other rather "
    "than ignore it";

using io::JsonReader;
using nlohmann::json;
using util::cat;

// A component for messages: its type when it names one (type "NFKC"), else what the value is.
std::string show(const JsonReader& value) {
  const json& v = value.value();
  if (v.is_object() && v.contains("type") && v["type"].is_string()) {
    return cat("type \"", v["type"].get_ref<const std::string&>(), "\"");
  }
  return value.describe();
}

bool is_type(const JsonReader& value, std::string_view type) {
  const json& v = value.value();
  return v.is_object() && v.contains("type") && v["type"] == type;
}

json parse_file(const std::string& path) {
  const std::string text = util::read_text_file(path);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw util::LoadError(cat(path, " is not valid JSON: ", e.what()));
  }
}

// A flag, `fallback` when absent or null.
bool get_bool(const JsonReader& object, std::string_view key, bool fallback) {
  const std::optional<JsonReader> value = object.optional(key);
  return value ? value->as_bool() : fallback;
}

// A setting that safrl supports with one value only.
void require_bool(const JsonReader& object, std::string_view key, bool supported) {
  if (get_bool(object, key, supported) != supported) {
    object.child(key).fail(cat(!supported ? "true" : "false", " is not supported (supported: ",
                               supported ? "true" : "false", ")"));
  }
}

constexpr std::string_view kTokenizerJson = "tokenizer.json";
constexpr std::string_view kConfigJson = "tokenizer_config.json";

bool read_normalizer(const JsonReader& normalizer) {
  if (normalizer.value().is_null()) return false;
  if (!is_type(normalizer, "NFC")) {
    normalizer.fail(cat(show(normalizer), " is not supported (supported: NFC or null)"));
  }
  normalizer.allow_keys({"type"}, kNotImplemented);
  return true;
}

void read_pre_tokenizer(const JsonReader& pre_tokenizer) {
  constexpr std::string_view kSupported =
      "supported: only Sequence[Split(Regex = the Qwen2 pattern, behavior Isolated, invert "
      "false), ByteLevel(add_prefix_space false, use_regex false)]";
  const auto refuse = [&](const JsonReader& at, const std::string& problem) {
    at.fail(cat(problem, "; ", kSupported));
  };
  if (!is_type(pre_tokenizer, "Sequence"))
    refuse(pre_tokenizer, cat(show(pre_tokenizer), " found"));
  pre_tokenizer.allow_keys({"type", "pretokenizers"}, kNotImplemented);
  const JsonReader steps = pre_tokenizer.child("pretokenizers");
  if (!steps.value().is_array() || steps.value().size() != 2) {
    refuse(steps, cat("a Sequence of other than two steps found (", steps.describe(), ")"));
  }

  const JsonReader split = steps.index(0);
  if (!is_type(split, "Split")) refuse(split, cat(show(split), " found"));
  split.allow_keys({"type", "pattern", "behavior", "invert"}, kNotImplemented);
  const JsonReader regex = split.at("pattern", kSupported).at("Regex", kSupported);
  if (regex.as_string() != kQwen2Pattern) {
    refuse(regex, cat("a Split regex other than Qwen2's found: ", regex.value().dump()));
  }
  const JsonReader behavior = split.child("behavior");
  if (behavior.value() != "Isolated") refuse(behavior, cat(behavior.describe(), " found"));
  require_bool(split, "invert", false);

  const JsonReader byte_level = steps.index(1);
  if (!is_type(byte_level, "ByteLevel")) refuse(byte_level, cat(show(byte_level), " found"));
  byte_level.allow_keys({"type", "add_prefix_space", "trim_offsets", "use_regex"}, kNotImplemented);
  require_bool(byte_level, "add_prefix_space", false);
  require_bool(byte_level, "use_regex", false);
}

// ByteLevel's options only move offsets (post-processor) or are unused (decoder).
void read_byte_level_step(const JsonReader& step, bool may_be_null) {
  if (step.value().is_null() && may_be_null) return;
  if (!is_type(step, "ByteLevel")) {
    step.fail(cat(show(step), " is not supported (supported: ByteLevel",
                  may_be_null ? " or null" : "", ")"));
  }
  step.allow_keys({"type", "add_prefix_space", "trim_offsets", "use_regex"}, kNotImplemented);
}

// Merge `i` of `merges`; the reader names it only in a refusal (Qwen3's file has 151,387).
std::pair<std::string, std::string> read_merge(const JsonReader& merges, size_t i) {
  const json& m = merges.value()[i];
  if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
    return {m[0].get<std::string>(), m[1].get<std::string>()};
  }
  if (m.is_string()) {
    // Hugging Face splits the legacy form at every space and wants exactly two parts.
    const std::string& text = m.get_ref<const std::string&>();
    const size_t space = text.find(' ');
    if (space != std::string::npos && text.find(' ', space + 1) == std::string::npos) {
      return {text.substr(0, space), text.substr(space + 1)};
    }
  }
  const JsonReader merge = merges.index(i);
  merge.fail(cat("must be \"left right\" or [\"left\", \"right\"], got ", merge.describe()));
}

void read_model(const JsonReader& model, TokenizerSpec& spec) {
  if (!is_type(model, "BPE")) {
    model.fail(cat(show(model), " is not supported (supported: BPE)"));
  }
  model.allow_keys(
      {"type", "dropout", "unk_token", "continuing_subword_prefix", "end_of_word_suffix",
       "fuse_unk", "byte_fallback", "ignore_merges", "vocab", "merges"},
      kNotImplemented);
  const JsonReader dropout = model.child("dropout");
  const json& p = dropout.value();
  if (!p.is_null() && !(p.is_number() && p.get<double>() == 0.0)) {
    dropout.fail(cat(dropout.describe(),
                     " is not supported (supported: null or 0; BPE dropout is random and only "
                     "meant for training)"));
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const JsonReader value = model.child(key);
    if (!value.value().is_null() && value.value() != "") {
      value.fail(cat(value.describe(), " is not supported (supported: null or \"\")"));
    }
  }
  require_bool(model, "byte_fallback", false);
  // The unknown token (and fuse_unk) never applies: BpeModel requires all 256 byte tokens, so
  // every byte of every text has a token. They are only type-checked.
  get_bool(model, "fuse_unk", false);
  spec.ignore_merges = get_bool(model, "ignore_merges", false);

  const JsonReader vocab = model.child("vocab");
  if (!vocab.value().is_object() || vocab.value().empty()) {
    vocab.fail(cat("must be a non-empty object of token -> id, got ", vocab.describe()));
  }
  std::unordered_map<int64_t, std::string> seen_ids;
  spec.vocab.reserve(vocab.value().size());
  for (const auto& item : vocab.value().items()) {
    // The parser reads a non-negative integer as unsigned; anything else goes to the reader,
    // which refuses it naming the token. Readers only there: Qwen3's vocab has 151,643 tokens.
    const json& value = item.value();
    const int64_t id = value.is_number_unsigned() && value.get<uint64_t>() <= INT32_MAX
                           ? value.get<int64_t>()
                           : vocab.child(item.key()).as_int(0, INT32_MAX);
    const auto [it, inserted] = seen_ids.emplace(id, item.key());
    if (!inserted) {
      vocab.fail(cat("gives id ", id, " to both \"", it->second, "\" and \"", item.key(), "\""));
    }
    spec.vocab.emplace(item.key(), static_cast<int32_t>(id));
  }

  const JsonReader unk = model.child("unk_token");
  if (!unk.value().is_null() &&
      !(unk.value().is_string() && spec.vocab.count(unk.value().get<std::string>()))) {
    unk.fail(cat("must be null or a token of model.vocab, got ", unk.describe()));
  }

  const JsonReader merges = model.child("merges");
  const size_t count = merges.as_array().size();
  spec.merges.reserve(count);
  for (size_t i = 0; i < count; ++i) spec.merges.push_back(read_merge(merges, i));
}

void read_added_tokens(const JsonReader& added, TokenizerSpec& spec) {
  if (added.value().is_null()) return;
  std::unordered_set<std::string> contents;
  std::unordered_set<int32_t> ids;
  std::unordered_map<int32_t, std::string> vocab_by_id;
  for (const auto& [token, id] : spec.vocab) vocab_by_id.emplace(id, token);
  for (const JsonReader& entry : added.items()) {
    entry.allow_keys({"id", "content", "single_word", "lstrip", "rstrip", "normalized", "special"},
                     kNotImplemented);
    AddedToken token;
    token.id = static_cast<int32_t>(entry.at("id").as_int(0, INT32_MAX));
    token.content = entry.at("content").as_nonempty_string();
    token.single_word = get_bool(entry, "single_word", false);
    token.lstrip = get_bool(entry, "lstrip", false);
    token.rstrip = get_bool(entry, "rstrip", false);
    // Hugging Face's default: special tokens are not normalized, others are.
    token.special = get_bool(entry, "special", false);
    token.normalized = get_bool(entry, "normalized", !token.special);
    if (!contents.insert(token.content).second || !ids.insert(token.id).second) {
      entry.fail(cat("(\"", token.content, "\", id ", token.id,
                     ") repeats the content or id of an earlier added token"));
    }
    const auto by_content = spec.vocab.find(token.content);
    if (by_content != spec.vocab.end() && by_content->second != token.id) {
      entry.fail(cat("gives \"", token.content, "\" id ", token.id, " but model.vocab gives it id ",
                     by_content->second));
    }
    const auto by_id = vocab_by_id.find(token.id);
    if (by_id != vocab_by_id.end() && by_id->second != token.content) {
      entry.fail(cat("gives id ", token.id, " to \"", token.content,
                     "\" but model.vocab gives it to \"", by_id->second, "\""));
    }
    spec.added_tokens.push_back(std::move(token));
  }
}

void read_tokenizer_json(const JsonReader& root, TokenizerSpec& spec) {
  root.allow_keys({"version", "truncation", "padding", "added_tokens", "normalizer",
                   "pre_tokenizer", "post_processor", "decoder", "model"},
                  kNotImplemented);
  const JsonReader version = root.child("version");
  if (version.value() != "1.0") {
    version.fail(cat(version.describe(), " is not supported (supported: \"1.0\")"));
  }
  for (const char* key : {"truncation", "padding"}) {
    const JsonReader value = root.child(key);
    if (!value.value().is_null()) {
      value.fail(cat(show(value),
                     " is not supported (supported: null); safrl never truncates or pads a text"));
    }
  }
  spec.nfc = read_normalizer(root.child("normalizer"));
  read_pre_tokenizer(root.child("pre_tokenizer"));
  read_byte_level_step(root.child("post_processor"), true);
  read_byte_level_step(root.child("decoder"), false);
  read_model(root.child("model"), spec);
  read_added_tokens(root.child("added_tokens"), spec);
}

const AddedToken* find_added(const TokenizerSpec& spec, std::string_view content) {
  for (const AddedToken& token : spec.added_tokens) {
    if (token.content == content) return &token;
  }
  return nullptr;
}

// A special-token name ("<|im_end|>" or {"content": "<|im_end|>", ...}); transformers adds one
// that is not an added token yet as a new special token, which tokenizer.json does not know.
void check_named_token(const JsonReader& value, bool must_be_special, const TokenizerSpec& spec) {
  if (value.value().is_null()) return;
  const json& content = value.value().is_object() ? value.child("content").value() : value.value();
  if (!content.is_string()) {
    value.fail(cat("must be a token string or null, got ", value.describe()));
  }
  const AddedToken* token = find_added(spec, content.get_ref<const std::string&>());
  if (token == nullptr || (must_be_special && !token->special)) {
    value.fail(cat("names \"", content.get_ref<const std::string&>(), "\", which is not ",
                   must_be_special ? "a special" : "an",
                   " added token of tokenizer.json; transformers would add it as a new special "
                   "token"));
  }
}

// Whether an added_tokens_decoder entry describes `token` as tokenizer.json does.
bool agrees(const JsonReader& entry, const AddedToken& token) {
  if (!entry.value().is_object() || entry.child("content").value() != token.content) return false;
  const auto flag = [&](const char* key, bool expected) {
    return get_bool(entry, key, expected) == expected;
  };
  return flag("single_word", token.single_word) && flag("lstrip", token.lstrip) &&
         flag("rstrip", token.rstrip) && flag("normalized", token.normalized) &&
         flag("special", token.special);
}

void read_tokenizer_config(const JsonReader& config, TokenizerSpec& spec) {
  config.allow_keys({"add_bos_token",
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
                     "model_input_names"},
                    kNotImplemented);
  for (const char* key :
       {"add_bos_token", "add_eos_token", "add_prefix_space", "clean_up_tokenization_spaces"}) {
    require_bool(config, key, false);
  }
  spec.split_special_tokens = get_bool(config, "split_special_tokens", false);
  const JsonReader errors = config.child("errors");
  if (!errors.value().is_null() && errors.value() != "replace") {
    errors.fail(cat(errors.describe(),
                    " is not supported (supported: \"replace\": invalid UTF-8 in decoded bytes "
                    "becomes U+FFFD)"));
  }
  const JsonReader tokenizer_class = config.child("tokenizer_class");
  const json& name = tokenizer_class.value();
  if (!name.is_null() && name != "Qwen2Tokenizer" && name != "Qwen2TokenizerFast" &&
      name != "PreTrainedTokenizerFast") {
    tokenizer_class.fail(cat(tokenizer_class.describe(),
                             " is not supported (supported: Qwen2Tokenizer, Qwen2TokenizerFast, "
                             "PreTrainedTokenizerFast)"));
  }
  for (const char* key : {"bos_token", "eos_token", "pad_token", "unk_token", "mask_token",
                          "sep_token", "cls_token"}) {
    check_named_token(config.child(key), false, spec);
  }
  for (const char* key : {"additional_special_tokens", "extra_special_tokens"}) {
    const JsonReader list = config.child(key);
    if (list.value().is_null()) continue;
    if (list.value().is_array()) {
      for (const JsonReader& item : list.items()) check_named_token(item, true, spec);
    } else if (list.value().is_object()) {
      for (const auto& item : list.value().items()) {
        check_named_token(list.child(item.key()), true, spec);
      }
    } else {
      list.fail(cat("must be a list of special tokens, got ", list.describe()));
    }
  }
  const std::optional<JsonReader> decoder = config.optional("added_tokens_decoder");
  if (!decoder) return;
  for (const auto& item : decoder->as_object().items()) {
    const JsonReader entry = decoder->child(item.key());
    const AddedToken* token = nullptr;
    for (const AddedToken& candidate : spec.added_tokens) {
      if (std::to_string(candidate.id) == item.key()) token = &candidate;
    }
    if (token == nullptr || !agrees(entry, *token)) {
      entry.fail(
          "disagrees with the added_tokens of tokenizer.json; the two files must describe the "
          "same added tokens");
    }
  }
}

}  // namespace

TokenizerSpec read_tokenizer_spec(const std::string& dir) {
  const std::filesystem::path root(dir);
  TokenizerSpec spec;
  const std::string tokenizer_path = (root / kTokenizerJson).string();
  const json tokenizer_json = parse_file(tokenizer_path);
  // Messages read "<file>: <key path>: <problem> (in <full path>)".
  const io::JsonFail tokenizer_fail = [&tokenizer_path](const std::string& message) {
    throw util::LoadError(cat(kTokenizerJson, ": ", message, " (in ", tokenizer_path, ")"));
  };
  read_tokenizer_json(JsonReader(tokenizer_json, tokenizer_fail), spec);
  const std::string config_path = (root / kConfigJson).string();
  if (std::filesystem::exists(config_path)) {
    const json config_json = parse_file(config_path);
    const io::JsonFail config_fail = [&config_path](const std::string& message) {
      throw util::LoadError(cat(kConfigJson, ": ", message, " (in ", config_path, ")"));
    };
    read_tokenizer_config(JsonReader(config_json, config_fail), spec);
  }
  return spec;
}

}  // namespace safrl::tokenizer
