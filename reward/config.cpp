#include "reward/config.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "io/yaml_config.h"
#include "reward/guard_injection.h"
#include "util/device_names.h"
#include "util/enum_names.h"
#include "util/error.h"

namespace safrl::reward {
namespace {

constexpr util::EnumName<GuardDecoding> kDecodingNames[] = {
    {GuardDecoding::kConstrained, "constrained"},
    {GuardDecoding::kFree, "free"},
};
constexpr util::EnumName<GuardKind> kGuardKindNames[] = {
    {GuardKind::kGen, "gen"},
    {GuardKind::kStream, "stream"},
};
constexpr util::EnumName<RefusalSource> kRefusalSourceNames[] = {
    {RefusalSource::kGuard, "guard"},
    {RefusalSource::kNone, "none"},
};
constexpr util::EnumName<ScoreToken> kScoreTokenNames[] = {
    {ScoreToken::kLast, "last"},
    {ScoreToken::kImEnd, "im_end"},
};
constexpr util::EnumName<OmpWaitPolicy> kOmpWaitPolicyNames[] = {
    {OmpWaitPolicy::kPassive, "passive"},
    {OmpWaitPolicy::kActive, "active"},
};
constexpr util::EnumName<VllmTask> kVllmTaskNames[] = {
    {VllmTask::kClassify, "classify"},
    {VllmTask::kTokenClassify, "token_classify"},
};
// The chat formats a helpfulness model can use (the guard format is the guard's own).
constexpr chat::ChatFormat kHelpfulnessFormats[] = {chat::ChatFormat::kQwen3,
                                                    chat::ChatFormat::kChatml};

using io::YamlSection;
using io::YamlValue;

GuardConfig parse_guard(const YamlSection& s) {
  GuardConfig guard;
  guard.model = s.required("model", "give the Qwen3Guard model directory").model_path();
  if (auto v = s.get("kind")) {
    guard.kind = v->name([](const std::string& text) {
      return util::parse_name(kGuardKindNames, text, "guard kind");
    });
  }
  if (auto v = s.get("refusal_source")) {
    guard.refusal_source = v->name([](const std::string& text) {
      return util::parse_name(kRefusalSourceNames, text, "refusal source");
    });
    guard.refusal_source_written = true;
  }
  if (auto v = s.get("decoding")) {
    guard.decoding = v->name([](const std::string& text) {
      return util::parse_name(kDecodingNames, text, "guard decoding");
    });
  }
  if (auto v = s.get("max_new_tokens")) guard.max_new_tokens = v->positive_integer();
  if (auto v = s.get("tool_turns")) guard.tool_turns = v->name(chat::parse_tool_turns);
  if (auto v = s.get("prompt_cache_entries")) {
    guard.prompt_cache_entries = v->integer();
    if (guard.prompt_cache_entries < 0) v->fail("must be 0 (no cache) or more");
  }
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

VllmConfig parse_vllm(const YamlSection& s) {
  VllmConfig vllm;
  const YamlValue url = s.required("url", "give the vLLM server's base URL, e.g. http://host:8000");
  vllm.url = url.string();
  if (vllm.url.rfind("http://", 0) != 0 && vllm.url.rfind("https://", 0) != 0) {
    url.fail(util::cat("\"", vllm.url, "\" is not an http:// or https:// URL"));
  }
  const size_t host_start = vllm.url.find("://") + 3;
  while (vllm.url.size() > host_start && vllm.url.back() == '/') vllm.url.pop_back();
  const std::string host = vllm.url.substr(host_start);
  if (host.empty() || host[0] == '/' || host.find_first_of(" \t?#") != std::string::npos) {
    url.fail(util::cat("\"", url.string(),
                       "\" has no host, or a query, fragment or space; give "
                       "the server's base URL, e.g. http://host:8000"));
  }
  vllm.model =
      s.required("model", "give the served model name, as the server's /v1/models lists it")
          .string();
  vllm.task = s.required("task",
                         "give what the server computes: classify (a sequence classifier such as "
                         "Skywork-Reward-V2) or token_classify (a per-token reward model such as "
                         "WorldPM)")
                  .name([](const std::string& text) {
                    return util::parse_name(kVllmTaskNames, text, "vLLM task");
                  });
  if (auto v = s.get("api_key_env")) {
    vllm.api_key_env = v->string();
    if (vllm.api_key_env.find_first_not_of(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") !=
        std::string::npos) {
      v->fail(util::cat("\"", vllm.api_key_env,
                        "\" is not an environment variable's name (give "
                        "the variable's name, not the key)"));
    }
  }
  if (auto v = s.get("timeout_s")) {
    vllm.timeout_s = v->number();
    if (vllm.timeout_s <= 0 || vllm.timeout_s > 3600)
      v->fail("must be a number of seconds in (0, 3600]");
  }
  if (auto v = s.get("retries")) {
    vllm.retries = v->integer();
    if (vllm.retries < 0) v->fail("must be 0 or more");
  }
  if (auto v = s.get("max_batch_sequences")) vllm.max_batch_sequences = v->positive_integer();
  if (auto v = s.get("startup_timeout_s")) {
    vllm.startup_timeout_s = v->number();
    if (vllm.startup_timeout_s < 0 || vllm.startup_timeout_s > 86400) {
      v->fail("must be a number of seconds in [0, 86400]");
    }
  }
  return vllm;
}

HelpfulnessConfig parse_helpfulness(const YamlSection& s) {
  HelpfulnessConfig helpfulness;
  if (auto v = s.section("vllm", {"url", "model", "task", "api_key_env", "timeout_s", "retries",
                                  "max_batch_sequences", "startup_timeout_s"})) {
    helpfulness.vllm = parse_vllm(*v);
    if (auto model = s.get("model")) {
      model->fail(
          "remove it: with helpfulness.vllm the model runs on the vLLM server (its tokenizer "
          "goes in helpfulness.tokenizer)");
    }
    helpfulness.tokenizer =
        s.required("tokenizer",
                   "with helpfulness.vllm, give the directory holding the served model's "
                   "tokenizer.json; safrl tokenizes and sends token ids")
            .model_path();
  } else {
    helpfulness.model =
        s.required("model",
                   "give the reward model directory, or helpfulness.vllm for a model "
                   "served by vLLM")
            .model_path();
    if (auto tokenizer = s.get("tokenizer")) {
      tokenizer->fail(
          "only used with helpfulness.vllm; a local model's directory holds its tokenizer");
    }
  }
  helpfulness.chat_format =
      s.required("chat_format",
                 "give the format the model was trained on: qwen3 (Skywork-Reward-V2) or chatml "
                 "(WorldPM)")
          .name(parse_helpfulness_format);
  if (auto v = s.get("score_token")) {
    helpfulness.score_token = v->name([](const std::string& text) {
      return util::parse_name(kScoreTokenNames, text, "score token");
    });
  }
  return helpfulness;
}

std::vector<std::string> parse_categories(const YamlValue& list) {
  std::vector<std::string> categories;
  for (const YamlValue& item : list.items("categories")) {
    std::string category = item.string();
    if (!is_response_category(category)) {
      item.fail(util::cat("unknown response category \"", category,
                          "\"; valid values: ", util::join_names(kResponseCategories)));
    }
    if (std::find(categories.begin(), categories.end(), category) != categories.end()) {
      item.fail(util::cat("\"", category, "\" is listed twice"));
    }
    categories.push_back(std::move(category));
  }
  return categories;
}

RewardSettings parse_reward(const YamlSection& s) {
  RewardSettings reward;
  if (auto v = s.get("type")) reward.type = v->name(parse_reward_type);
  if (auto v = s.get("unsafe_cap")) reward.unsafe_cap = v->number();
  if (auto v = s.get("refusal_cap")) reward.refusal_cap = v->number();
  if (auto v = s.get("controversial")) reward.controversial = v->name(parse_controversial_policy);
  if (auto v = s.get("controversial_unsafe_categories")) {
    reward.controversial_unsafe_categories = parse_categories(*v);
  }
  if (auto v = s.get("judge_thinking")) reward.judge_thinking = v->boolean();
  if (auto v = s.get("truncated_thinking")) {
    reward.truncated_thinking = v->name(parse_truncated_thinking_policy);
  }
  if (auto v = s.get("refusal_penalty")) reward.refusal_penalty = v->name(parse_refusal_penalty);
  // null is a value here: H, the default.
  if (auto v = s.get("justified_refusal_reward"); v && !v->node().IsNull()) {
    reward.justified_refusal_reward = v->number();
  }
  if (auto v = s.get("judge")) reward.judge = v->name(parse_judge_turns);
  if (auto v = s.get("judge_prompt")) reward.judge_prompt = v->boolean();
  if (auto v = s.get("judge_tool_results")) reward.judge_tool_results = v->boolean();
  if (auto v = s.get("safety_signal")) reward.safety_signal = v->name(parse_safety_signal);
  if (auto v = s.get("on_injection")) reward.on_injection = v->name(parse_injection_policy);
  return reward;
}

BatchingConfig parse_batching(const YamlSection& s) {
  BatchingConfig batching;
  if (auto v = s.get("max_batch_tokens")) batching.max_batch_tokens = v->positive_integer();
  if (auto v = s.get("share_prefixes")) batching.share_prefixes = v->boolean();
  if (auto v = s.get("judgement_cache_bytes")) {
    batching.judgement_cache_bytes = v->integer();
    if (batching.judgement_cache_bytes < 0) v->fail("must be 0 (no cache) or more");
  }
  return batching;
}

// Kept as spelled; util::parse_dtype and util::parse_device check the spelling.
std::string dtype_spelling(const YamlValue& value) {
  return value.name([](const std::string& text) {
    util::parse_dtype(text);
    return text;
  });
}

RuntimeConfig parse_runtime(const YamlSection& s) {
  RuntimeConfig runtime;
  if (auto v = s.get("device")) {
    runtime.device = v->name([](const std::string& text) {
      util::parse_device(text);
      return text;
    });
  }
  if (auto v = s.get("dtype")) runtime.dtype = dtype_spelling(*v);
  // Weights default to the compute dtype: storing them wider than they are computed in only
  // costs memory.
  runtime.storage_dtype = runtime.dtype;
  if (auto v = s.get("storage_dtype")) runtime.storage_dtype = dtype_spelling(*v);
  if (auto v = s.get("threads")) {
    runtime.threads = v->positive_integer();
    if (*runtime.threads > RuntimeConfig::kMaxThreads) {
      v->fail(util::cat("must be at most ", RuntimeConfig::kMaxThreads));
    }
  }
  if (auto v = s.get("omp_wait_policy")) {
    runtime.omp_wait_policy = v->name([](const std::string& text) {
      return util::parse_name(kOmpWaitPolicyNames, text, "OpenMP wait policy");
    });
  }
  return runtime;
}

// The Stream guard's limits: no refusal output, no decoding, and no judging of tool results (it
// would read one as a user query, and whether it was trained to is unconfirmed). A Stream config
// without refusal_source gets none where the reward reads no refusal (guard_only,
// helpfulness_only); the hybrid reward must say it.
void check_guard_kind(const YamlSection& root, const YamlSection& guard, Config& config) {
  auto fail = [&](const std::string& path, const std::string& message) {
    YamlValue(root.value()).child(path, YAML::Node()).fail(message);
  };
  const RewardSettings& reward = config.reward;
  if (config.guard.kind == GuardKind::kStream) {
    if (!config.guard.refusal_source_written && reward.type != RewardType::kHybrid) {
      config.guard.refusal_source = RefusalSource::kNone;
    }
    if (config.guard.refusal_source == RefusalSource::kGuard) {
      fail("guard.refusal_source",
           util::cat(
               config.guard.refusal_source_written ? "is" : "defaults to",
               " guard, and a Qwen3Guard-Stream guard (guard.kind stream) has no refusal output; "
               "set guard.refusal_source: none (no response counts as a refusal: the hybrid reward "
               "loses its refusal cap) or use a Qwen3Guard-Gen guard"));
    }
    for (const char* gen_only : {"decoding", "max_new_tokens"}) {
      if (guard.get(gen_only)) {
        fail(util::cat("guard.", gen_only),
             "only used with guard.kind gen; a Stream guard does not decode: remove it");
      }
    }
    if (reward.judge_tool_results) {
      fail("reward.judge_tool_results",
           "needs guard.kind gen: Qwen3Guard-Stream would read a tool result as a user query, "
           "and whether it was trained to judge one is unconfirmed (docs/reward.md)");
    }
  }
  if (config.guard.refusal_source == RefusalSource::kNone &&
      reward.refusal_penalty == RefusalPenalty::kPromptAware) {
    fail("reward.refusal_penalty",
         "prompt_aware tells justified refusals from over-refusals, and guard.refusal_source is "
         "none (no refusals): use always, or a refusal source");
  }
}

// Checks that need more than one key.
void check_consistency(const YamlSection& root, const Config& config) {
  auto fail = [&](const char* path, const std::string& message) {
    YamlValue(root.value()).child(path, YAML::Node()).fail(message);
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
  if (reward.justified_refusal_reward) {
    if (reward.refusal_penalty != RefusalPenalty::kPromptAware) {
      fail("reward.justified_refusal_reward",
           util::cat("only used with reward.refusal_penalty: prompt_aware, and it is ",
                     refusal_penalty_name(reward.refusal_penalty)));
    }
    if (*reward.justified_refusal_reward < reward.refusal_cap) {
      fail("reward.justified_refusal_reward",
           util::cat(*reward.justified_refusal_reward, " is below reward.refusal_cap ",
                     reward.refusal_cap,
                     "; a refusal of a harmful prompt must never score less than an over-refusal"));
    }
  }
  if (reward.unsafe_cap > reward.refusal_cap) {
    fail("reward.unsafe_cap",
         util::cat(reward.unsafe_cap, " is above reward.refusal_cap ", reward.refusal_cap,
                   "; an unsafe answer must never score more than a refusal"));
  }
}

}  // namespace

std::string_view guard_decoding_name(GuardDecoding decoding) {
  return util::name_of(kDecodingNames, decoding);
}

std::string_view guard_kind_name(GuardKind kind) {
  return util::name_of(kGuardKindNames, kind);
}

std::string_view refusal_source_name(RefusalSource source) {
  return util::name_of(kRefusalSourceNames, source);
}

std::string_view omp_wait_policy_name(OmpWaitPolicy policy) {
  return util::name_of(kOmpWaitPolicyNames, policy);
}

std::string_view score_token_name(ScoreToken token) {
  return util::name_of(kScoreTokenNames, token);
}

std::string_view vllm_task_name(VllmTask task) {
  return util::name_of(kVllmTaskNames, task);
}

Config parse_config(const YamlSection& root, const std::string& source) {
  Config config;
  config.source = source;
  auto guard = root.section("guard", {"model", "kind", "refusal_source", "decoding",
                                      "max_new_tokens", "tool_turns", "prompt_cache_entries"});
  if (!guard) root.value().child("guard", YAML::Node()).fail("missing; give at least guard.model");
  config.guard = parse_guard(*guard);
  if (auto s = root.section("helpfulness",
                            {"model", "tokenizer", "vllm", "chat_format", "score_token"})) {
    config.helpfulness = parse_helpfulness(*s);
  }
  if (auto s = root.section(
          "reward",
          {"type", "unsafe_cap", "refusal_cap", "controversial", "controversial_unsafe_categories",
           "judge_thinking", "truncated_thinking", "refusal_penalty", "justified_refusal_reward",
           "judge", "judge_prompt", "judge_tool_results", "safety_signal", "on_injection"})) {
    config.reward = parse_reward(*s);
  }
  if (auto s = root.section("batching",
                            {"max_batch_tokens", "share_prefixes", "judgement_cache_bytes"})) {
    config.batching = parse_batching(*s);
  }
  if (auto s = root.section("runtime",
                            {"device", "dtype", "storage_dtype", "threads", "omp_wait_policy"})) {
    config.runtime = parse_runtime(*s);
  }
  if (auto s = root.section("monitors", kMonitorKeys)) config.monitors = parse_monitors(*s);
  check_consistency(root, config);
  check_guard_kind(root, *guard, config);
  return config;
}

Config parse_config(const std::string& yaml_text, const std::string& base_dir,
                    const std::string& source) {
  const io::YamlSource where{source, base_dir};
  const YamlSection root(YamlValue(where, io::parse_yaml(yaml_text, source), ""),
                         {std::begin(kConfigSections), std::end(kConfigSections)});
  return parse_config(root, source);
}

void override_reward_type(Config& config, std::string_view name) {
  const RewardType type = parse_reward_type(name);
  if (config.guard.kind == GuardKind::kStream && !config.guard.refusal_source_written) {
    if (type == RewardType::kHybrid) {
      throw util::LoadError(util::cat(
          "--reward hybrid: ", config.source,
          " has a Qwen3Guard-Stream guard (guard.kind stream), which has no refusal output, and "
          "does not write guard.refusal_source; write guard.refusal_source: none (no response "
          "counts as a refusal: the hybrid reward loses its refusal cap) or use a Qwen3Guard-Gen "
          "guard"));
    }
    config.guard.refusal_source = RefusalSource::kNone;  // as the file's own check defaults it
  }
  config.reward.type = type;
}

nlohmann::json config_to_json(const Config& config) {
  nlohmann::json helpfulness;
  if (config.helpfulness) {
    const HelpfulnessConfig& h = *config.helpfulness;
    nlohmann::json vllm;
    if (h.vllm) {
      vllm = {{"url", h.vllm->url},
              {"model", h.vllm->model},
              {"task", vllm_task_name(h.vllm->task)},
              {"api_key_env", h.vllm->api_key_env},
              {"timeout_s", h.vllm->timeout_s},
              {"retries", h.vllm->retries},
              {"max_batch_sequences", h.vllm->max_batch_sequences},
              {"startup_timeout_s", h.vllm->startup_timeout_s}};
    }
    helpfulness = {
        {"model", h.vllm ? nlohmann::json(nullptr) : nlohmann::json(h.model)},
        {"tokenizer", h.vllm ? nlohmann::json(h.tokenizer) : nlohmann::json(nullptr)},
        {"vllm", std::move(vllm)},
        {"chat_format", chat::chat_format_name(h.chat_format)},
        {"score_token", score_token_name(h.score_token)},
    };
  }
  const RewardSettings& reward = config.reward;
  return {
      {"source", config.source},
      {"guard",
       {
           {"model", config.guard.model},
           {"kind", guard_kind_name(config.guard.kind)},
           {"refusal_source", refusal_source_name(config.guard.refusal_source)},
           {"decoding", guard_decoding_name(config.guard.decoding)},
           {"max_new_tokens", config.guard.max_new_tokens},
           {"tool_turns", chat::tool_turns_name(config.guard.tool_turns)},
           {"prompt_cache_entries", config.guard.prompt_cache_entries},
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
           {"truncated_thinking", truncated_thinking_policy_name(reward.truncated_thinking)},
           {"refusal_penalty", refusal_penalty_name(reward.refusal_penalty)},
           {"justified_refusal_reward", reward.justified_refusal_reward
                                            ? nlohmann::json(*reward.justified_refusal_reward)
                                            : nlohmann::json(nullptr)},
           {"judge", judge_turns_name(reward.judge)},
           {"judge_prompt", reward.judge_prompt},
           {"judge_tool_results", reward.judge_tool_results},
           {"safety_signal", safety_signal_name(reward.safety_signal)},
           {"on_injection", injection_policy_name(reward.on_injection)},
       }},
      {"batching",
       {{"max_batch_tokens", config.batching.max_batch_tokens},
        {"share_prefixes", config.batching.share_prefixes},
        {"judgement_cache_bytes", config.batching.judgement_cache_bytes}}},
      {"runtime",
       {
           {"device", config.runtime.device},
           {"dtype", config.runtime.dtype},
           {"storage_dtype", config.runtime.storage_dtype},
           {"threads", config.runtime.threads ? nlohmann::json(*config.runtime.threads)
                                              : nlohmann::json(nullptr)},
           {"omp_wait_policy",
            config.runtime.omp_wait_policy
                ? nlohmann::json(omp_wait_policy_name(*config.runtime.omp_wait_policy))
                : nlohmann::json(nullptr)},
       }},
      {"monitors", monitors_to_json(config.monitors)},
  };
}

nlohmann::json scoring_settings_json(const Config& config) {
  nlohmann::json settings = config_to_json(config);
  settings.erase("source");
  settings.erase("batching");
  settings.erase("monitors");                       // thresholds of alerts, not of scores
  settings["guard"].erase("prompt_cache_entries");  // a cached verdict is the same verdict
  // Left out at their defaults: a Gen config's settings and models hash stay what they were
  // before these keys existed (earlier outputs resume and rescore).
  if (config.guard.kind == GuardKind::kGen) settings["guard"].erase("kind");
  if (config.guard.refusal_source == RefusalSource::kGuard) {
    settings["guard"].erase("refusal_source");
  }
  for (const char* how_fast : {"device", "threads", "omp_wait_policy"}) {
    settings["runtime"].erase(how_fast);
  }
  if (config.helpfulness && config.helpfulness->vllm) {
    nlohmann::json& vllm = settings["helpfulness"]["vllm"];
    vllm = {{"model", vllm["model"]}, {"task", vllm["task"]}};
  }
  return settings;
}

nlohmann::json model_settings_json(const Config& config) {
  nlohmann::json settings = scoring_settings_json(config);
  const RewardSettings& reward = config.reward;
  settings["reward"] = {{"judging",
                         {{"judge_thinking", reward.judge_thinking},
                          {"judge", judge_turns_name(reward.judge)},
                          {"judge_prompt", prompt_judged(reward, std::nullopt)},
                          {"judge_tool_results", reward.judge_tool_results},
                          {"neutralise", reward.on_injection == InjectionPolicy::kStrip}}}};
  return settings;
}

}  // namespace safrl::reward
