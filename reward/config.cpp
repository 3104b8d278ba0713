#include "reward/config.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "reward/names.h"
#include "util/error.h"

namespace safrl::reward {
namespace {

constexpr internal::EnumName<GuardDecoding> kDecodingNames[] = {
    {GuardDecoding::kConstrained, "constrained"},
    {GuardDecoding::kFree, "free"},
};
constexpr internal::EnumName<ScoreToken> kScoreTokenNames[] = {
    {ScoreToken::kLast, "last"},
    {ScoreToken::kImEnd, "im_end"},
};
// The chat formats a helpfulness model can use (the guard format is the guard's own).
constexpr chat::ChatFormat kHelpfulnessFormats[] = {chat::ChatFormat::kQwen3,
                                                    chat::ChatFormat::kChatml};
// The spellings engine::parse_dtype accepts.
constexpr std::string_view kDtypes[] = {"float32", "bfloat16", "float16"};

// Where the config text came from (for messages) and where its relative paths start.
struct Source {
  std::string name;
  std::string base_dir;
};

// "a, b, c", for messages.
template <typename Names>
std::string join(const Names& names) {
  std::string joined;
  for (std::string_view name : names) {
    joined += joined.empty() ? "" : ", ";
    joined += name;
  }
  return joined;
}

// One value of the config with its key path ("reward.unsafe_cap"), read as the type its key
// expects; every failure names the source and the path.
class Value {
 public:
  Value(const Source& source, YAML::Node node, std::string path)
      : source_(&source), node_(std::move(node)), path_(std::move(path)) {}

  [[noreturn]] void fail(const std::string& message) const {
    throw util::LoadError(path_.empty() ? util::cat(source_->name, ": ", message)
                                        : util::cat(source_->name, ": ", path_, ": ", message));
  }

  const YAML::Node& node() const { return node_; }

  // The value of `key` below this one.
  Value child(const std::string& key, YAML::Node node) const {
    return Value(*source_, std::move(node), path_.empty() ? key : util::cat(path_, ".", key));
  }

  double number() const {
    double value = 0;
    if (!is_plain_scalar() || !YAML::convert<double>::decode(node_, value)) {
      fail(util::cat("expected a number, got ", describe()));
    }
    if (!std::isfinite(value)) fail(util::cat("expected a finite number, got ", node_.Scalar()));
    return value;
  }

  int64_t integer() const {
    long long value = 0;
    if (!is_plain_scalar() || !YAML::convert<long long>::decode(node_, value)) {
      fail(util::cat("expected an integer, got ", describe()));
    }
    return static_cast<int64_t>(value);
  }

  int64_t positive_integer() const {
    const int64_t value = integer();
    if (value <= 0) fail(util::cat("must be positive, got ", value));
    return value;
  }

  bool boolean() const {
    bool value = false;
    if (!is_plain_scalar() || !YAML::convert<bool>::decode(node_, value)) {
      fail(util::cat("expected true or false, got ", describe()));
    }
    return value;
  }

  std::string string() const {
    if (!node_.IsScalar()) fail(util::cat("expected a string, got ", describe()));
    if (node_.Scalar().empty()) fail("must not be empty");
    return node_.Scalar();
  }

  // A model directory, resolved against the config file's directory when relative.
  std::string model_path() const {
    std::filesystem::path model = string();
    if (model.is_relative() && !source_->base_dir.empty()) {
      model = std::filesystem::path(source_->base_dir) / model;
    }
    return model.lexically_normal().string();
  }

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
  std::vector<Value> items(std::string_view what) const {
    if (!node_.IsSequence()) fail(util::cat("expected a list of ", what, ", got ", describe()));
    std::vector<Value> items;
    for (size_t i = 0; i < node_.size(); ++i) {
      items.emplace_back(*source_, node_[i], util::cat(path_, "[", i, "]"));
    }
    return items;
  }

  // How a wrong value is shown: its text quoted, or its kind.
  std::string describe() const {
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

 private:
  // YAML makes a quoted "5" a string, so only plain scalars are numbers or booleans.
  bool is_plain_scalar() const { return node_.IsScalar() && node_.Tag() != "!"; }

  const Source* source_;
  YAML::Node node_;
  std::string path_;
};

// A mapping of the config whose keys are distinct names from the ones it may have; anything
// else fails on construction.
class Section {
 public:
  Section(Value value, std::initializer_list<std::string_view> keys) : value_(std::move(value)) {
    const YAML::Node& node = value_.node();
    if (!node.IsMap()) {
      value_.fail(
          util::cat("expected a mapping with keys ", join(keys), ", got ", value_.describe()));
    }
    std::vector<std::string> seen;
    for (const auto& entry : node) {
      if (!entry.first.IsScalar()) value_.fail("keys must be plain names");
      const std::string key = entry.first.Scalar();
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
        value_.child(key, entry.second)
            .fail(util::cat("unknown key; valid keys here: ", join(keys)));
      }
      if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
        value_.child(key, entry.second).fail("duplicate key");
      }
      seen.push_back(key);
    }
  }

  // The value of `key`, or nullopt when the key is absent. An explicit null (`key:` and nothing
  // after it) is returned as a value, so it fails as the wrong type rather than meaning the
  // default: an emptied value is more likely a mistake.
  std::optional<Value> get(const std::string& key) const {
    for (const auto& entry : value_.node()) {
      if (entry.first.Scalar() == key) return value_.child(key, entry.second);
    }
    return std::nullopt;
  }

  // The value of `key`; fails with "missing; <hint>" when absent.
  Value required(const std::string& key, std::string_view hint) const {
    std::optional<Value> value = get(key);
    if (!value) value_.child(key, YAML::Node()).fail(util::cat("missing; ", hint));
    return *value;
  }

  // The section at `key`, or nullopt when absent or null: an empty section means its defaults.
  std::optional<Section> section(const std::string& key,
                                 std::initializer_list<std::string_view> keys) const {
    std::optional<Value> value = get(key);
    if (!value || value->node().IsNull()) return std::nullopt;
    return Section(*value, keys);
  }

 private:
  Value value_;
};

GuardConfig parse_guard(const Section& s) {
  GuardConfig guard;
  guard.model = s.required("model", "give the Qwen3Guard-Gen model directory").model_path();
  if (auto v = s.get("decoding")) {
    guard.decoding = v->name([](const std::string& text) {
      return internal::parse_name(kDecodingNames, text, "guard decoding");
    });
  }
  if (auto v = s.get("max_new_tokens")) guard.max_new_tokens = v->positive_integer();
  return guard;
}

chat::ChatFormat parse_helpfulness_format(const std::string& text) {
  std::string valid;
  for (chat::ChatFormat format : kHelpfulnessFormats) {
    if (chat::chat_format_name(format) == text) return format;
    valid += util::cat(valid.empty() ? "" : ", ", chat::chat_format_name(format));
  }
  throw util::InputError(util::cat("unknown chat format \"", text, "\"; valid values: ", valid));
}

HelpfulnessConfig parse_helpfulness(const Section& s) {
  HelpfulnessConfig helpfulness;
  helpfulness.model = s.required("model", "give the reward model directory").model_path();
  helpfulness.chat_format =
      s.required("chat_format",
                 "give the format the model was trained on: qwen3 (Skywork-Reward-V2) or chatml "
                 "(WorldPM)")
          .name(parse_helpfulness_format);
  if (auto v = s.get("score_token")) {
    helpfulness.score_token = v->name([](const std::string& text) {
      return internal::parse_name(kScoreTokenNames, text, "score token");
    });
  }
  return helpfulness;
}

std::vector<std::string> parse_categories(const Value& list) {
  std::vector<std::string> categories;
  for (const Value& item : list.items("categories")) {
    std::string category = item.string();
    if (!is_response_category(category)) {
      item.fail(util::cat("unknown response category \"", category,
                          "\"; valid values: ", join(kResponseCategories)));
    }
    if (std::find(categories.begin(), categories.end(), category) != categories.end()) {
      item.fail(util::cat("\"", category, "\" is listed twice"));
    }
    categories.push_back(std::move(category));
  }
  return categories;
}

RewardSettings parse_reward(const Section& s) {
  RewardSettings reward;
  if (auto v = s.get("type")) reward.type = v->name(parse_reward_type);
  if (auto v = s.get("unsafe_cap")) reward.unsafe_cap = v->number();
  if (auto v = s.get("refusal_cap")) reward.refusal_cap = v->number();
  if (auto v = s.get("controversial")) reward.controversial = v->name(parse_controversial_policy);
  if (auto v = s.get("controversial_unsafe_categories")) {
    reward.controversial_unsafe_categories = parse_categories(*v);
  }
  if (auto v = s.get("judge_thinking")) reward.judge_thinking = v->boolean();
  return reward;
}

BatchingConfig parse_batching(const Section& s) {
  BatchingConfig batching;
  if (auto v = s.get("max_batch_tokens")) batching.max_batch_tokens = v->positive_integer();
  if (auto v = s.get("share_prefixes")) batching.share_prefixes = v->boolean();
  return batching;
}

bool is_z85_key(const std::string& key) {
  constexpr std::string_view kZ85 =
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
  return key.size() == 40 && std::all_of(key.begin(), key.end(), [&](char c) {
           return kZ85.find(c) != std::string_view::npos;
         });
}

std::string z85_key(const Value& value) {
  std::string key = value.string();
  if (!is_z85_key(key)) value.fail("expected a 40-character Z85 CURVE key (zmq_curve_keypair)");
  return key;
}

ServerConfig parse_server(const Section& s) {
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
    for (const Value& item :
         c->required("allowed_client_keys", "the public keys of the clients allowed in")
             .items("client keys")) {
      curve.allowed_client_keys.push_back(z85_key(item));
    }
    server.curve = std::move(curve);
  }
  return server;
}

bool is_device(const std::string& device) {
  if (device == "cpu" || device == "cuda") return true;
  constexpr std::string_view kCudaPrefix = "cuda:";
  if (device.rfind(kCudaPrefix, 0) != 0 || device.size() == kCudaPrefix.size()) return false;
  return std::all_of(device.begin() + kCudaPrefix.size(), device.end(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

std::string parse_dtype(const Value& value) {
  std::string text = value.string();
  if (std::find(std::begin(kDtypes), std::end(kDtypes), text) == std::end(kDtypes)) {
    value.fail(util::cat("unknown dtype \"", text, "\"; valid values: ", join(kDtypes)));
  }
  return text;
}

RuntimeConfig parse_runtime(const Section& s) {
  RuntimeConfig runtime;
  if (auto v = s.get("device")) {
    runtime.device = v->string();
    if (!is_device(runtime.device)) {
      v->fail(
          util::cat("unknown device \"", runtime.device, "\"; valid values: cpu, cuda, cuda:N"));
    }
  }
  if (auto v = s.get("dtype")) runtime.dtype = parse_dtype(*v);
  // Weights default to the compute dtype: storing them wider than they are computed in only
  // costs memory.
  runtime.storage_dtype = runtime.dtype;
  if (auto v = s.get("storage_dtype")) runtime.storage_dtype = parse_dtype(*v);
  return runtime;
}

// Checks that need more than one key.
void check_consistency(const Source& where, const Config& config) {
  auto fail = [&](const char* path, const std::string& message) {
    Value(where, YAML::Node(), path).fail(message);
  };
  const RewardSettings& reward = config.reward;
  if (reward.type != RewardType::kGuardOnly && !config.helpfulness) {
    fail("helpfulness", util::cat("missing; reward.type ", reward_type_name(reward.type),
                                  " needs a helpfulness model (or use reward.type: guard_only)"));
  }
  const bool per_category = reward.controversial == ControversialPolicy::kPerCategory;
  if (per_category && reward.controversial_unsafe_categories.empty()) {
    fail("reward.controversial_unsafe_categories",
         "must list at least one response category when reward.controversial is per_category");
  }
  if (!per_category && !reward.controversial_unsafe_categories.empty()) {
    fail("reward.controversial_unsafe_categories",
         util::cat("only used with reward.controversial: per_category, and it is ",
                   controversial_policy_name(reward.controversial)));
  }
  if (reward.unsafe_cap > reward.refusal_cap) {
    fail("reward.unsafe_cap",
         util::cat(reward.unsafe_cap, " is above reward.refusal_cap ", reward.refusal_cap,
                   "; an unsafe answer must never score more than a refusal"));
  }
}

}  // namespace

std::string_view guard_decoding_name(GuardDecoding decoding) {
  return internal::name_of(kDecodingNames, decoding);
}

std::string_view score_token_name(ScoreToken token) {
  return internal::name_of(kScoreTokenNames, token);
}

Config parse_config(const std::string& yaml_text, const std::string& base_dir,
                    const std::string& source) {
  const Source where{source, base_dir};
  YAML::Node node;
  try {
    node = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) throw util::LoadError(util::cat(source, ": invalid YAML: ", e.msg));
    throw util::LoadError(
        util::cat(source, ":", e.mark.line + 1, ":", e.mark.column + 1, ": invalid YAML: ", e.msg));
  }
  const Section root(Value(where, node, ""),
                     {"guard", "helpfulness", "reward", "batching", "runtime", "server"});

  Config config;
  config.source = source;
  auto guard = root.section("guard", {"model", "decoding", "max_new_tokens"});
  if (!guard) Value(where, YAML::Node(), "guard").fail("missing; give at least guard.model");
  config.guard = parse_guard(*guard);
  if (auto s = root.section("helpfulness", {"model", "chat_format", "score_token"})) {
    config.helpfulness = parse_helpfulness(*s);
  }
  if (auto s = root.section("reward", {"type", "unsafe_cap", "refusal_cap", "controversial",
                                       "controversial_unsafe_categories", "judge_thinking"})) {
    config.reward = parse_reward(*s);
  }
  if (auto s = root.section("batching", {"max_batch_tokens", "share_prefixes"})) {
    config.batching = parse_batching(*s);
  }
  if (auto s = root.section("runtime", {"device", "dtype", "storage_dtype"})) {
    config.runtime = parse_runtime(*s);
  }
  if (auto s = root.section("server",
                            {"endpoint", "http_port", "max_message_bytes", "max_queued_samples",
                             "max_batch_samples", "reply_cache_seconds", "curve"})) {
    config.server = parse_server(*s);
  }
  check_consistency(where, config);
  return config;
}

Config load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw util::LoadError(util::cat("cannot read config file ", path, ": ", std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  const std::string base_dir = std::filesystem::absolute(path).parent_path().string();
  return parse_config(text.str(), base_dir, path);
}

nlohmann::json config_to_json(const Config& config) {
  nlohmann::json helpfulness;
  if (config.helpfulness) {
    helpfulness = {
        {"model", config.helpfulness->model},
        {"chat_format", chat::chat_format_name(config.helpfulness->chat_format)},
        {"score_token", score_token_name(config.helpfulness->score_token)},
    };
  }
  const RewardSettings& reward = config.reward;
  return {
      {"source", config.source},
      {"guard",
       {
           {"model", config.guard.model},
           {"decoding", guard_decoding_name(config.guard.decoding)},
           {"max_new_tokens", config.guard.max_new_tokens},
       }},
      {"helpfulness", std::move(helpfulness)},
      {"reward",
       {
           {"type", reward_type_name(reward.type)},
           {"unsafe_cap", reward.unsafe_cap},
           {"refusal_cap", reward.refusal_cap},
           {"controversial", controversial_policy_name(reward.controversial)},
           {"controversial_unsafe_categories", reward.controversial_unsafe_categories},
           {"judge_thinking", reward.judge_thinking},
       }},
      {"batching",
       {{"max_batch_tokens", config.batching.max_batch_tokens},
        {"share_prefixes", config.batching.share_prefixes}}},
      {"server",
       {
           {"endpoint", config.server.endpoint},
           {"http_port", config.server.http_port},
           {"max_message_bytes", config.server.max_message_bytes},
           {"max_queued_samples", config.server.max_queued_samples},
           {"max_batch_samples", config.server.max_batch_samples},
           {"reply_cache_seconds", config.server.reply_cache_seconds},
           // Keys are secrets: only say whether CURVE is on.
           {"curve", config.server.curve.has_value()},
       }},
      {"runtime",
       {
           {"device", config.runtime.device},
           {"dtype", config.runtime.dtype},
           {"storage_dtype", config.runtime.storage_dtype},
       }},
  };
}

}  // namespace safrl::reward
