// The whole config file as every command reads it: the reward layer's sections and the server's,
// assembled by cli::parse_config_file.
#include "cli/config_file.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/test_support.h"
#include "util/error.h"

namespace safrl::reward {
namespace {

using safrl::testing::load_error;

const char* const kGuardOnly = R"(
guard:
  model: /m/guard
reward:
  type: guard_only
)";

// A valid config (hybrid, the default type) with `extra` as the reward section's body.
std::string hybrid(const std::string& extra = "") {
  return "guard:\n  model: /m/guard\nhelpfulness:\n  model: /m/rm\n  chat_format: qwen3\n"
         "reward:\n" +
         extra;
}

// The parsed file with the server section beside the reward layer's, as one value.
struct Parsed : Config {
  serve::ServerConfig server;
};

Parsed flatten(cli::ConfigFile file) {
  Parsed parsed;
  static_cast<Config&>(parsed) = std::move(file.reward);
  parsed.server = std::move(file.server);
  return parsed;
}

Parsed parse_config(const std::string& text, const std::string& base_dir,
                    const std::string& source) {
  return flatten(cli::parse_config_file(text, base_dir, source));
}

Parsed load_config(const std::string& path) {
  return flatten(cli::load_config_file(path));
}

Parsed parse(const std::string& text) {
  return parse_config(text, "/cfg", "x.yaml");
}

// What the server's info reply says of the config.
nlohmann::json to_json(const Parsed& config) {
  nlohmann::json json = config_to_json(config);
  json["server"] = serve::server_config_to_json(config.server);
  return json;
}

std::string error(const std::string& text) {
  return load_error([&] { parse(text); });
}

TEST(Config, DefaultsOfAMinimalGuardOnlyConfig) {
  Parsed c = parse(kGuardOnly);
  EXPECT_EQ(c.source, "x.yaml");
  EXPECT_EQ(c.guard.model, "/m/guard");
  EXPECT_EQ(c.guard.decoding, GuardDecoding::kConstrained);
  EXPECT_EQ(c.guard.max_new_tokens, 128);
  EXPECT_FALSE(c.helpfulness.has_value());
  EXPECT_EQ(c.reward.type, RewardType::kGuardOnly);
  EXPECT_EQ(c.reward.unsafe_cap, -10);
  EXPECT_EQ(c.reward.refusal_cap, -5);
  EXPECT_EQ(c.reward.controversial, ControversialPolicy::kStrict);
  EXPECT_TRUE(c.reward.controversial_unsafe_categories.empty());
  EXPECT_TRUE(c.reward.judge_thinking);
  EXPECT_EQ(c.reward.truncated_thinking, TruncatedThinkingPolicy::kPenalize);
  EXPECT_EQ(c.guard.tool_turns, chat::ToolTurns::kQwen3);
  EXPECT_EQ(c.guard.prompt_cache_entries, 65536);
  EXPECT_EQ(c.reward.refusal_penalty, RefusalPenalty::kAlways);
  EXPECT_FALSE(c.reward.justified_refusal_reward.has_value());
  EXPECT_EQ(c.reward.judge, JudgeTurns::kLast);
  EXPECT_FALSE(c.reward.judge_prompt);
  EXPECT_FALSE(c.reward.judge_tool_results);
  EXPECT_EQ(c.reward.safety_signal, SafetySignal::kVerdict);
  EXPECT_EQ(c.batching.max_batch_tokens, 8192);
  EXPECT_EQ(c.runtime.device, "cpu");
  EXPECT_EQ(c.runtime.dtype, "float32");
  EXPECT_EQ(c.runtime.storage_dtype, "float32");
  EXPECT_FALSE(c.runtime.threads.has_value());          // LibTorch's default
  EXPECT_FALSE(c.runtime.omp_wait_policy.has_value());  // the command's default
  // The server listens on loopback only unless told otherwise.
  EXPECT_EQ(c.server.endpoint, "tcp://127.0.0.1:5555");
  EXPECT_EQ(c.server.http_port, 0);
  EXPECT_EQ(c.server.max_queued_samples, 4096);
  EXPECT_FALSE(c.server.curve.has_value());
}

TEST(Config, EveryKeySet) {
  Parsed c = parse(R"(
guard:
  model: /m/guard
  decoding: free
  max_new_tokens: 64
  tool_turns: refuse
  prompt_cache_entries: 0
helpfulness:
  model: /m/worldpm
  chat_format: chatml
  score_token: im_end
reward:
  type: hybrid
  unsafe_cap: -12.5
  refusal_cap: -4
  controversial: per_category
  controversial_unsafe_categories: [PII, "Suicide & Self-Harm"]
  judge_thinking: false
  truncated_thinking: judge_as_is
  refusal_penalty: prompt_aware
  justified_refusal_reward: 0.5
  judge: all_turns
  judge_prompt: true
  judge_tool_results: true
  safety_signal: expected
batching:
  max_batch_tokens: 4096
  share_prefixes: false
runtime:
  device: cuda:1
  dtype: bfloat16
  storage_dtype: float32
  threads: 3
  omp_wait_policy: active
monitors:
  window: 3
  refusal_rise: 0.25
  refusal_rate_max: 0.8
  duplicate_rate: 0.4
  length_correlation: 0.6
  length_min_samples: 16
  verdict_text_rate: 0.02
  low_safety_mass: 0.4
  low_safety_mass_rate: 0.15
  fallback_rate: 0.2
  unparseable_rate: 0.1
  truncated_thinking_rate: 0.3
  unhelpful_quantile: 0.1
  safe_unhelpful_rate: 0.6
  helpfulness_history: 500
server:
  endpoint: tcp://0.0.0.0:6000
  http_port: 8080
  http_address: 10.0.0.7
  http_allowed_clients: [10.0.0.8, 10.0.0.9]
  http_max_connections: 32
  http_read_timeout_seconds: 3
  http_idle_timeout_seconds: 7
  max_message_bytes: 1000000
  max_queued_samples: 100
  max_queued_bytes: 5000000
  max_batch_samples: 50
  reply_cache_seconds: 30
  reply_cache_bytes: 2000000
  max_unsent_bytes_per_client: 3000000
  max_unsent_bytes: 4000000
  steps_kept_open: 3
  step_idle_seconds: 5
  curve:
    public_key: "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
    secret_key: "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
    allowed_client_keys: ["Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"]
  allowed_clients: [10.0.0.8, 10.0.1.0/24, "fd00::/8"]
  insecure_bind: true
)");
  EXPECT_EQ(c.server.endpoint, "tcp://0.0.0.0:6000");
  EXPECT_EQ(c.server.http_port, 8080);
  EXPECT_EQ(c.server.http_address, "10.0.0.7");
  EXPECT_EQ(c.server.http_allowed_clients, (std::vector<std::string>{"10.0.0.8", "10.0.0.9"}));
  EXPECT_EQ(c.server.http_max_connections, 32);
  EXPECT_EQ(c.server.http_read_timeout_seconds, 3);
  EXPECT_EQ(c.server.http_idle_timeout_seconds, 7);
  EXPECT_EQ(c.server.max_message_bytes, 1000000);
  EXPECT_EQ(c.server.max_queued_samples, 100);
  EXPECT_EQ(c.server.max_batch_samples, 50);
  EXPECT_EQ(c.server.reply_cache_seconds, 30);
  EXPECT_EQ(c.server.max_queued_bytes, 5000000);
  EXPECT_EQ(c.server.reply_cache_bytes, 2000000);
  EXPECT_EQ(c.server.max_unsent_bytes_per_client, 3000000);
  EXPECT_EQ(c.server.max_unsent_bytes, 4000000);
  EXPECT_EQ(c.server.steps_kept_open, 3);
  EXPECT_EQ(c.server.step_idle_seconds, 5);
  ASSERT_TRUE(c.server.curve.has_value());
  EXPECT_EQ(c.server.curve->public_key, "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7");
  EXPECT_EQ(c.server.curve->allowed_client_keys,
            (std::vector<std::string>{"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"}));
  ASSERT_EQ(c.server.allowed_clients.size(), 3u);
  EXPECT_TRUE(c.server.allowed_clients[1].contains("10.0.1.77"));
  EXPECT_FALSE(c.server.allowed_clients[1].contains("10.0.2.1"));
  EXPECT_TRUE(c.server.allowed_clients[2].contains("fd12::1"));
  EXPECT_TRUE(c.server.insecure_bind);
  EXPECT_EQ(c.guard.decoding, GuardDecoding::kFree);
  EXPECT_EQ(c.guard.max_new_tokens, 64);
  ASSERT_TRUE(c.helpfulness.has_value());
  EXPECT_EQ(c.helpfulness->model, "/m/worldpm");
  EXPECT_EQ(c.helpfulness->chat_format, chat::ChatFormat::kChatml);
  EXPECT_EQ(c.helpfulness->score_token, ScoreToken::kImEnd);
  EXPECT_EQ(c.reward.type, RewardType::kHybrid);
  EXPECT_EQ(c.reward.unsafe_cap, -12.5);
  EXPECT_EQ(c.reward.refusal_cap, -4);
  EXPECT_EQ(c.reward.controversial, ControversialPolicy::kPerCategory);
  EXPECT_EQ(c.reward.controversial_unsafe_categories,
            (std::vector<std::string>{"PII", "Suicide & Self-Harm"}));
  EXPECT_FALSE(c.reward.judge_thinking);
  EXPECT_EQ(c.reward.truncated_thinking, TruncatedThinkingPolicy::kJudgeAsIs);
  EXPECT_EQ(c.guard.tool_turns, chat::ToolTurns::kRefuse);
  EXPECT_EQ(c.guard.prompt_cache_entries, 0);
  EXPECT_EQ(c.reward.refusal_penalty, RefusalPenalty::kPromptAware);
  EXPECT_EQ(c.reward.justified_refusal_reward, 0.5);
  EXPECT_EQ(c.reward.judge, JudgeTurns::kAllTurns);
  EXPECT_TRUE(c.reward.judge_prompt);
  EXPECT_TRUE(c.reward.judge_tool_results);
  EXPECT_EQ(c.reward.safety_signal, SafetySignal::kExpected);
  EXPECT_EQ(c.batching.max_batch_tokens, 4096);
  EXPECT_FALSE(c.batching.share_prefixes);
  EXPECT_EQ(c.runtime.device, "cuda:1");
  EXPECT_EQ(c.runtime.dtype, "bfloat16");
  EXPECT_EQ(c.runtime.storage_dtype, "float32");
  EXPECT_EQ(c.runtime.threads, 3);
  EXPECT_EQ(c.runtime.omp_wait_policy, OmpWaitPolicy::kActive);

  EXPECT_EQ(to_json(c), nlohmann::json::parse(R"({
    "source": "x.yaml",
    "guard": {"model": "/m/guard", "kind": "gen", "refusal_source": "guard", "decoding": "free",
              "max_new_tokens": 64, "tool_turns": "refuse", "prompt_cache_entries": 0},
    "helpfulness": {"model": "/m/worldpm", "tokenizer": null, "vllm": null,
                    "chat_format": "chatml", "score_token": "im_end"},
    "reward": {"type": "hybrid", "unsafe_cap": -12.5, "refusal_cap": -4.0,
               "controversial": "per_category",
               "controversial_unsafe_categories": ["PII", "Suicide & Self-Harm"],
               "judge_thinking": false, "truncated_thinking": "judge_as_is",
               "refusal_penalty": "prompt_aware", "justified_refusal_reward": 0.5,
               "judge": "all_turns", "judge_prompt": true, "judge_tool_results": true,
               "safety_signal": "expected", "on_injection": "report"},
    "batching": {"max_batch_tokens": 4096, "share_prefixes": false,
                 "judgement_cache_bytes": 268435456},
    "runtime": {"device": "cuda:1", "dtype": "bfloat16", "storage_dtype": "float32",
                "threads": 3, "omp_wait_policy": "active"},
    "monitors": {"window": 3, "refusal_rise": 0.25, "refusal_rate_max": 0.8,
                 "duplicate_rate": 0.4, "length_correlation": 0.6, "length_min_samples": 16,
                 "verdict_text_rate": 0.02, "low_safety_mass": 0.4, "low_safety_mass_rate": 0.15,
                 "fallback_rate": 0.2, "unparseable_rate": 0.1, "truncated_thinking_rate": 0.3,
                 "unhelpful_quantile": 0.1, "safe_unhelpful_rate": 0.6,
                 "helpfulness_history": 500},
    "server": {"endpoint": "tcp://0.0.0.0:6000", "http_port": 8080, "http_address": "10.0.0.7",
               "http_allowed_clients": ["10.0.0.8", "10.0.0.9"], "http_max_connections": 32,
               "http_read_timeout_seconds": 3, "http_idle_timeout_seconds": 7,
               "max_message_bytes": 1000000,
               "max_queued_samples": 100, "max_queued_bytes": 5000000, "max_batch_samples": 50,
               "reply_cache_seconds": 30, "reply_cache_bytes": 2000000,
               "max_unsent_bytes_per_client": 3000000, "max_unsent_bytes": 4000000,
               "steps_kept_open": 3, "step_idle_seconds": 5,
               "curve": true, "allowed_clients": ["10.0.0.8", "10.0.1.0/24", "fd00::/8"],
               "insecure_bind": true}})"));
  EXPECT_TRUE(config_to_json(parse(kGuardOnly))["helpfulness"].is_null());
}

TEST(Config, StorageDtypeDefaultsToTheComputeDtype) {
  Parsed c = parse(std::string(kGuardOnly) + "runtime:\n  device: cuda\n  dtype: bfloat16\n");
  EXPECT_EQ(c.runtime.device, "cuda");
  EXPECT_EQ(c.runtime.storage_dtype, "bfloat16");
}

TEST(Config, RelativeModelPathsResolveAgainstTheConfigDirectory) {
  const std::string text = R"(
guard:
  model: ../models/guard
helpfulness:
  model: ./rm/
  chat_format: qwen3
)";
  Parsed c = parse_config(text, "/work/cfg", "x.yaml");
  EXPECT_EQ(c.guard.model, "/work/models/guard");
  EXPECT_EQ(c.helpfulness->model, "/work/cfg/rm/");
  // Without a base directory they stay relative (to the working directory).
  EXPECT_EQ(parse_config(text, "", "x.yaml").guard.model, "../models/guard");
  // Absolute paths are kept.
  EXPECT_EQ(parse_config(kGuardOnly, "/work/cfg", "x.yaml").guard.model, "/m/guard");
}

TEST(Config, LoadConfigReadsTheFileAndResolvesAgainstItsDirectory) {
  safrl::testing::TempDir dir;
  std::filesystem::create_directories(dir.file("configs"));
  const std::string path = dir.file("configs/run.yaml");
  std::ofstream(path) << "guard:\n  model: ../models/guard\nreward:\n  type: guard_only\n";
  Parsed c = load_config(path);
  EXPECT_EQ(c.source, path);
  EXPECT_EQ(c.guard.model,
            (std::filesystem::path(dir.path()) / "models" / "guard").lexically_normal().string());

  EXPECT_EQ(load_error([&] { load_config(dir.file("absent.yaml")); }),
            "cannot read config file " + dir.file("absent.yaml") + ": No such file or directory");
  std::ofstream(dir.file("bad.yaml")) << "guard:\n  model: /m\nreward:\n  unsafe_cap: abc\n";
  EXPECT_EQ(load_error([&] { load_config(dir.file("bad.yaml")); }),
            dir.file("bad.yaml") + ": reward.unsafe_cap: expected a number, got \"abc\"");
}

TEST(ConfigErrors, UnknownKeysNameTheirPath) {
  EXPECT_EQ(error("guard:\n  model: /m\nrewards:\n  type: guard_only\n"),
            "x.yaml: rewards: unknown key; valid keys here: guard, helpfulness, reward, batching, "
            "runtime, monitors, server");
  EXPECT_EQ(error("guard:\n  model: /m\nserver:\n  curve:\n    public_key: short\n"),
            "x.yaml: server.curve.public_key: expected a 40-character Z85 CURVE key "
            "(zmq_curve_keypair)");
  EXPECT_EQ(error("guard:\n  model: /m\nserver:\n  http_port: 70000\n"),
            "x.yaml: server.http_port: expected a port 0..65535");
  // HTTP has no authentication: a routable address needs the list of clients allowed in.
  EXPECT_EQ(error("guard:\n  model: /m\nserver:\n  http_address: 0.0.0.0\n"),
            "x.yaml: server.http_address: 0.0.0.0 is reachable from other hosts and HTTP has no "
            "authentication: list the trainer nodes in server.http_allowed_clients "
            "(docs/security.md)");
  EXPECT_EQ(error("guard:\n  model: /m\nserver:\n  http_address: reward-node\n"),
            "x.yaml: server.http_address: expected an IPv4 address such as 127.0.0.1, got "
            "\"reward-node\"");
  EXPECT_EQ(error("guard:\n  model: /m\nserver:\n  http_allowed_clients: []\n"),
            "x.yaml: server.http_allowed_clients: must list at least one address");
  EXPECT_EQ(error(hybrid("  unsafe_capp: -10\n")),
            "x.yaml: reward.unsafe_capp: unknown key; valid keys here: type, unsafe_cap, "
            "refusal_cap, controversial, controversial_unsafe_categories, judge_thinking, "
            "truncated_thinking, refusal_penalty, justified_refusal_reward, judge, judge_prompt, "
            "judge_tool_results, safety_signal, on_injection");
  EXPECT_EQ(error("guard:\n  model: /m\n  temperature: 0\n"),
            "x.yaml: guard.temperature: unknown key; valid keys here: model, kind, "
            "refusal_source, decoding, max_new_tokens, tool_turns, prompt_cache_entries");
  EXPECT_EQ(error("guard:\n  model: /m\n  model: /n\n"), "x.yaml: guard.model: duplicate key");
}

TEST(ConfigErrors, WrongTypes) {
  EXPECT_EQ(error(hybrid("  unsafe_cap: abc\n")),
            "x.yaml: reward.unsafe_cap: expected a number, got \"abc\"");
  EXPECT_EQ(error(hybrid("  unsafe_cap: \"-10\"\n")),
            "x.yaml: reward.unsafe_cap: expected a number, got \"-10\" (quoted)");
  EXPECT_EQ(error(hybrid("  refusal_cap: [1]\n")),
            "x.yaml: reward.refusal_cap: expected a number, got a list");
  EXPECT_EQ(error(hybrid("  refusal_cap:\n")),
            "x.yaml: reward.refusal_cap: expected a number, got null");
  EXPECT_EQ(error(hybrid("  unsafe_cap: .inf\n")),
            "x.yaml: reward.unsafe_cap: expected a finite number, got .inf");
  EXPECT_EQ(error(hybrid("  judge_thinking: maybe\n")),
            "x.yaml: reward.judge_thinking: expected true or false, got \"maybe\"");
  EXPECT_EQ(error(hybrid("  type: {a: 1}\n")),
            "x.yaml: reward.type: expected a string, got a mapping");
  EXPECT_EQ(error("guard:\n  model: /m\n  max_new_tokens: 12.5\nreward:\n  type: guard_only\n"),
            "x.yaml: guard.max_new_tokens: expected an integer, got \"12.5\"");
  EXPECT_EQ(error("guard:\n  model: /m\n  max_new_tokens: 0\nreward:\n  type: guard_only\n"),
            "x.yaml: guard.max_new_tokens: must be positive, got 0");
  EXPECT_EQ(error(std::string(kGuardOnly) + "batching:\n  max_batch_tokens: -8\n"),
            "x.yaml: batching.max_batch_tokens: must be positive, got -8");
  EXPECT_EQ(error(std::string(kGuardOnly) + "server:\n  http_read_timeout_seconds: 0\n"),
            "x.yaml: server.http_read_timeout_seconds: must be positive, got 0");
  EXPECT_EQ(error(std::string(kGuardOnly) + "server:\n  http_max_connections: many\n"),
            "x.yaml: server.http_max_connections: expected an integer, got \"many\"");
  EXPECT_EQ(error("guard:\n  model: \"\"\nreward:\n  type: guard_only\n"),
            "x.yaml: guard.model: must not be empty");
  EXPECT_EQ(error("guard: /m/guard\n"),
            "x.yaml: guard: expected a mapping with keys model, kind, refusal_source, decoding, "
            "max_new_tokens, tool_turns, prompt_cache_entries, got \"/m/guard\"");
}

TEST(ConfigErrors, UnknownNames) {
  EXPECT_EQ(error(hybrid("  type: hybird\n")),
            "x.yaml: reward.type: unknown reward type \"hybird\"; valid values: hybrid, "
            "guard_only, helpfulness_only");
  EXPECT_EQ(error(hybrid("  controversial: lenient\n")),
            "x.yaml: reward.controversial: unknown controversial policy \"lenient\"; valid values: "
            "strict, loose, per_category");
  EXPECT_EQ(error("guard:\n  model: /m\n  decoding: greedy\nreward:\n  type: guard_only\n"),
            "x.yaml: guard.decoding: unknown guard decoding \"greedy\"; valid values: "
            "constrained, free");
  EXPECT_EQ(error("guard:\n  model: /m\nhelpfulness:\n  model: /r\n  chat_format: guard\n"),
            "x.yaml: helpfulness.chat_format: unknown chat format \"guard\"; valid values: qwen3, "
            "chatml");
  EXPECT_EQ(error("guard:\n  model: /m\nhelpfulness:\n  model: /r\n  chat_format: qwen3\n"
                  "  score_token: eos\n"),
            "x.yaml: helpfulness.score_token: unknown score token \"eos\"; valid values: last, "
            "im_end");
  EXPECT_EQ(error(std::string(kGuardOnly) + "runtime:\n  device: gpu\n"),
            "x.yaml: runtime.device: unknown device \"gpu\"; valid values: cpu, cuda, cuda:N");
  for (const char* device : {"cuda:", "cuda:x", "cuda:-1", "CPU", "cuda0"}) {
    EXPECT_EQ(error(std::string(kGuardOnly) + "runtime:\n  device: \"" + device + "\"\n"),
              "x.yaml: runtime.device: unknown device \"" + std::string(device) +
                  "\"; valid values: cpu, cuda, cuda:N");
  }
  EXPECT_EQ(parse(std::string(kGuardOnly) + "runtime:\n  device: cuda:12\n").runtime.device,
            "cuda:12");
  EXPECT_EQ(error(std::string(kGuardOnly) + "runtime:\n  storage_dtype: bf16\n"),
            "x.yaml: runtime.storage_dtype: unknown dtype \"bf16\"; valid values: float32, "
            "bfloat16, float16");
}

TEST(ConfigErrors, MissingPieces) {
  EXPECT_EQ(error(""),
            "x.yaml: expected a mapping with keys guard, helpfulness, reward, batching, runtime, "
            "monitors, server, got null");
  EXPECT_EQ(error("reward:\n  type: guard_only\n"),
            "x.yaml: guard: missing; give at least guard.model");
  EXPECT_EQ(error("guard:\n  decoding: free\nreward:\n  type: guard_only\n"),
            "x.yaml: guard.model: missing; give the Qwen3Guard model directory");
  EXPECT_EQ(error("guard:\n  model: /m\nhelpfulness:\n  model: /r\n"),
            "x.yaml: helpfulness.chat_format: missing; give the format the model was trained on: "
            "qwen3 (Skywork-Reward-V2) or chatml (WorldPM)");
  EXPECT_EQ(load_error([] { parse_config("guard: [", "", "x.yaml"); }).rfind("x.yaml:", 0), 0u);
  EXPECT_NE(load_error([] { parse_config("guard: [", "", "x.yaml"); }).find("invalid YAML"),
            std::string::npos);
}

TEST(ConfigErrors, HybridAndHelpfulnessOnlyNeedAHelpfulnessModel) {
  // hybrid is the default type.
  EXPECT_EQ(error("guard:\n  model: /m\n"),
            "x.yaml: helpfulness: missing; reward.type hybrid needs a helpfulness model (or use "
            "reward.type: guard_only)");
  EXPECT_EQ(error("guard:\n  model: /m\nhelpfulness:\nreward:\n  type: helpfulness_only\n"),
            "x.yaml: helpfulness: missing; reward.type helpfulness_only needs a helpfulness model "
            "(or use reward.type: guard_only)");
  // guard_only may still name one (its scores then enter the step statistics).
  EXPECT_TRUE(parse("guard:\n  model: /m\nhelpfulness:\n  model: /r\n  chat_format: qwen3\n"
                    "reward:\n  type: guard_only\n")
                  .helpfulness.has_value());
}

TEST(ConfigErrors, ControversialCategoryList) {
  EXPECT_EQ(error(hybrid("  controversial: per_category\n")),
            "x.yaml: reward.controversial_unsafe_categories: must list at least one response "
            "category when reward.controversial is per_category");
  EXPECT_EQ(error(hybrid("  controversial_unsafe_categories: [PII]\n")),
            "x.yaml: reward.controversial_unsafe_categories: only used with reward.controversial: "
            "per_category, and it is strict");
  EXPECT_EQ(error(hybrid("  controversial: per_category\n"
                         "  controversial_unsafe_categories: [PII, Jailbreak]\n")),
            "x.yaml: reward.controversial_unsafe_categories[1]: unknown response category "
            "\"Jailbreak\"; valid values: Violent, Non-violent Illegal Acts, Sexual Content or "
            "Sexual Acts, PII, Suicide & Self-Harm, Unethical Acts, Politically Sensitive Topics, "
            "Copyright Violation");
  EXPECT_EQ(error(hybrid("  controversial: per_category\n"
                         "  controversial_unsafe_categories: [PII, Violent, PII]\n")),
            "x.yaml: reward.controversial_unsafe_categories[2]: \"PII\" is listed twice");
  EXPECT_EQ(error(hybrid("  controversial: per_category\n"
                         "  controversial_unsafe_categories: PII\n")),
            "x.yaml: reward.controversial_unsafe_categories: expected a list of categories, got "
            "\"PII\"");
}

TEST(ConfigErrors, ConversationKeys) {
  const std::string guard_only_reward = "reward:\n  type: guard_only\n";
  EXPECT_EQ(error("guard:\n  model: /m\n  tool_turns: openai\n" + guard_only_reward),
            "x.yaml: guard.tool_turns: unknown tool_turns value \"openai\"; valid values: qwen3, "
            "refuse");
  EXPECT_EQ(error("guard:\n  model: /m\n  prompt_cache_entries: -1\n" + guard_only_reward),
            "x.yaml: guard.prompt_cache_entries: must be 0 (no cache) or more");
  EXPECT_EQ(error("guard:\n  model: /m\n  prompt_cache_entries: 1.5\n" + guard_only_reward),
            "x.yaml: guard.prompt_cache_entries: expected an integer, got \"1.5\"");
  EXPECT_EQ(error("guard:\n  model: /m\n" + guard_only_reward +
                  "batching:\n  judgement_cache_bytes: -1\n"),
            "x.yaml: batching.judgement_cache_bytes: must be 0 (no cache) or more");
  EXPECT_EQ(error("guard:\n  model: /m\n" + guard_only_reward +
                  "batching:\n  judgement_cache_bytes: 64MiB\n"),
            "x.yaml: batching.judgement_cache_bytes: expected an integer, got \"64MiB\"");
  EXPECT_EQ(error(hybrid("  refusal_penalty: over_refusal\n")),
            "x.yaml: reward.refusal_penalty: unknown refusal penalty \"over_refusal\"; valid "
            "values: always, prompt_aware");
  EXPECT_EQ(error(hybrid("  judge: every_turn\n")),
            "x.yaml: reward.judge: unknown judge setting \"every_turn\"; valid values: last, "
            "all_turns");
  EXPECT_EQ(error(hybrid("  judge_prompt: yes please\n")),
            "x.yaml: reward.judge_prompt: expected true or false, got \"yes please\"");
  EXPECT_EQ(error(hybrid("  judge_tool_results: 1\n")),
            "x.yaml: reward.judge_tool_results: expected true or false, got \"1\"");
  EXPECT_EQ(error(hybrid("  safety_signal: probabilities\n")),
            "x.yaml: reward.safety_signal: unknown safety signal \"probabilities\"; valid values: "
            "verdict, expected");
  EXPECT_EQ(error(hybrid("  refusal_penalty: prompt_aware\n  justified_refusal_reward: high\n")),
            "x.yaml: reward.justified_refusal_reward: expected a number, got \"high\"");
  EXPECT_EQ(error(hybrid("  justified_refusal_reward: 0\n")),
            "x.yaml: reward.justified_refusal_reward: only used with reward.refusal_penalty: "
            "prompt_aware, and it is always");
  EXPECT_EQ(error(hybrid("  refusal_penalty: prompt_aware\n  justified_refusal_reward: -6\n")),
            "x.yaml: reward.justified_refusal_reward: -6 is below reward.refusal_cap -5; a "
            "refusal of a harmful prompt must never score less than an over-refusal");
  // null is H, the default; the cap itself is allowed.
  EXPECT_FALSE(parse(hybrid("  refusal_penalty: prompt_aware\n  justified_refusal_reward:\n"))
                   .reward.justified_refusal_reward.has_value());
  EXPECT_EQ(parse(hybrid("  refusal_penalty: prompt_aware\n  justified_refusal_reward: -5\n"))
                .reward.justified_refusal_reward,
            -5);
}

TEST(ConfigErrors, UnsafeMustNotOutscoreRefusal) {
  EXPECT_EQ(error(hybrid("  unsafe_cap: -3\n")),
            "x.yaml: reward.unsafe_cap: -3 is above reward.refusal_cap -5; an unsafe answer must "
            "never score more than a refusal");
  EXPECT_EQ(parse(hybrid("  unsafe_cap: -5\n")).reward.unsafe_cap, -5);
}

TEST(Config, HelpfulnessOnVllm) {
  const std::string head = "guard:\n  model: /m/guard\nhelpfulness:\n  chat_format: chatml\n";
  Parsed c = parse(head + R"(  tokenizer: tok/worldpm
  vllm:
    url: https://gpu-7:8443/v/
    model: worldpm-72b
    task: token_classify
    api_key_env: WORLDPM_KEY
    timeout_s: 30.5
    retries: 0
    max_batch_sequences: 64
    startup_timeout_s: 0
)");
  ASSERT_TRUE(c.helpfulness && c.helpfulness->vllm);
  const VllmConfig& v = *c.helpfulness->vllm;
  EXPECT_EQ(v.url, "https://gpu-7:8443/v");  // the trailing slash dropped: paths are appended
  EXPECT_EQ(v.model, "worldpm-72b");
  EXPECT_EQ(v.task, VllmTask::kTokenClassify);
  EXPECT_EQ(v.api_key_env, "WORLDPM_KEY");
  EXPECT_EQ(v.timeout_s, 30.5);
  EXPECT_EQ(v.retries, 0);
  EXPECT_EQ(v.max_batch_sequences, 64);
  EXPECT_EQ(v.startup_timeout_s, 0);
  EXPECT_EQ(c.helpfulness->tokenizer, "/cfg/tok/worldpm");  // relative to the config's directory
  EXPECT_EQ(c.helpfulness->model, "");
  EXPECT_EQ(to_json(c)["helpfulness"], nlohmann::json::parse(R"({
    "model": null, "tokenizer": "/cfg/tok/worldpm", "chat_format": "chatml", "score_token": "last",
    "vllm": {"url": "https://gpu-7:8443/v", "model": "worldpm-72b", "task": "token_classify",
             "api_key_env": "WORLDPM_KEY", "timeout_s": 30.5, "retries": 0, "max_batch_sequences": 64,
             "startup_timeout_s": 0.0}})"));

  const VllmConfig d = *parse(head +
                              "  tokenizer: /t\n  vllm:\n    url: http://h:8000\n"
                              "    model: m\n    task: classify\n")
                            .helpfulness->vllm;
  EXPECT_EQ(d.task, VllmTask::kClassify);
  EXPECT_EQ(d.api_key_env, "");
  EXPECT_EQ(d.timeout_s, 60);
  EXPECT_EQ(d.retries, 2);
  EXPECT_EQ(d.max_batch_sequences, 64);
  EXPECT_EQ(d.startup_timeout_s, 900);
}

TEST(ConfigErrors, HelpfulnessOnVllm) {
  const std::string head = "guard:\n  model: /m/guard\nhelpfulness:\n  chat_format: chatml\n";
  const std::string server = "  vllm:\n    url: http://h:8000\n    model: m\n    task: classify\n";
  EXPECT_EQ(error(head + server),
            "x.yaml: helpfulness.tokenizer: missing; with helpfulness.vllm, give the directory "
            "holding the served model's tokenizer.json; safrl tokenizes and sends token ids");
  EXPECT_EQ(
      error(head + "  model: /m/rm\n  tokenizer: /t\n" + server),
      "x.yaml: helpfulness.model: remove it: with helpfulness.vllm the model runs on the vLLM "
      "server (its tokenizer goes in helpfulness.tokenizer)");
  EXPECT_EQ(error(head + "  model: /m/rm\n  tokenizer: /t\n"),
            "x.yaml: helpfulness.tokenizer: only used with helpfulness.vllm; a local model's "
            "directory holds its tokenizer");
  EXPECT_EQ(error(head),
            "x.yaml: helpfulness.model: missing; give the reward model directory, or "
            "helpfulness.vllm for a model served by vLLM");
  const std::string tok = "  tokenizer: /t\n";
  EXPECT_EQ(error(head + tok + "  vllm:\n    url: h:8000\n    model: m\n    task: classify\n"),
            "x.yaml: helpfulness.vllm.url: \"h:8000\" is not an http:// or https:// URL");
  EXPECT_EQ(error(head + tok + "  vllm:\n    url: http://h\n    task: classify\n"),
            "x.yaml: helpfulness.vllm.model: missing; give the served model name, as the server's "
            "/v1/models lists it");
  EXPECT_EQ(error(head + tok + "  vllm:\n    url: http://h\n    model: m\n    task: reward\n"),
            "x.yaml: helpfulness.vllm.task: unknown vLLM task \"reward\"; valid values: classify, "
            "token_classify");
  EXPECT_EQ(error(head + tok + server + "    retries: -1\n"),
            "x.yaml: helpfulness.vllm.retries: must be 0 or more");
  EXPECT_EQ(error(head + tok + server + "    timeout_s: 0\n"),
            "x.yaml: helpfulness.vllm.timeout_s: must be a number of seconds in (0, 3600]");
  EXPECT_EQ(
      error(head + tok + server + "    startup_timeout_s: 1e9\n"),
      "x.yaml: helpfulness.vllm.startup_timeout_s: must be a number of seconds in [0, 86400]");
  EXPECT_EQ(error(head + tok + server + "    api_key_env: sk-abc123\n"),
            "x.yaml: helpfulness.vllm.api_key_env: \"sk-abc123\" is not an environment variable's "
            "name (give the variable's name, not the key)");
  EXPECT_EQ(error(head + tok + "  vllm:\n    url: http:///\n    model: m\n    task: classify\n"),
            "x.yaml: helpfulness.vllm.url: \"http:///\" has no host, or a query, fragment or "
            "space; give the server's base URL, e.g. http://host:8000");
  EXPECT_EQ(
      error(head + tok + server + "    port: 8000\n"),
      "x.yaml: helpfulness.vllm.port: unknown key; valid keys here: url, model, task, api_key_env, "
      "timeout_s, "
      "retries, max_batch_sequences, startup_timeout_s");
}

// What the server can bind is checked with the config, before any model loads: a bare HOST:PORT
// would otherwise fail at bind time as "Protocol not supported".
TEST(Config, ServerEndpoints) {
  for (const char* endpoint :
       {"tcp://127.0.0.1:5555", "tcp://*:5555", "tcp://127.0.0.1:*", "tcp://localhost:6000",
        "tcp://[::1]:5555", "tcp://eth0:5555", "ipc:///tmp/safrl.sock"}) {
    EXPECT_EQ(
        parse(std::string(kGuardOnly) + "server:\n  endpoint: " + endpoint + "\n").server.endpoint,
        endpoint);
  }
}

TEST(ConfigErrors, ServerEndpoints) {
  auto endpoint_error = [](const std::string& endpoint) {
    return error(std::string(kGuardOnly) + "server:\n  endpoint: \"" + endpoint + "\"\n");
  };
  EXPECT_EQ(endpoint_error("localhost:5555"),
            "x.yaml: server.endpoint: \"localhost:5555\" is not an endpoint the server can bind; "
            "give tcp://HOST:PORT (here tcp://localhost:5555) or ipc://PATH (a Unix socket)");
  EXPECT_EQ(endpoint_error("127.0.0.1:5555"),
            "x.yaml: server.endpoint: \"127.0.0.1:5555\" is not an endpoint the server can bind; "
            "give tcp://HOST:PORT (here tcp://127.0.0.1:5555) or ipc://PATH (a Unix socket)");
  for (const char* endpoint :
       {"5555", "tcp://127.0.0.1", "tcp://127.0.0.1:", "tcp://:5555", "tcp://127.0.0.1:65536",
        "tcp://h:55x", "inproc://safrl", "ipc://", "http://127.0.0.1:5555"}) {
    EXPECT_EQ(endpoint_error(endpoint),
              std::string("x.yaml: server.endpoint: \"") + endpoint +
                  "\" is not an endpoint the server can bind; give tcp://HOST:PORT (e.g. "
                  "tcp://127.0.0.1:5555) or ipc://PATH (a Unix socket)");
  }
}

// What `safrl score` records of a config: what decides the scores, not where or how fast the
// work runs.
TEST(Config, ScoringSettingsLeaveOutWhereAndHowFast) {
  const std::string head = "guard:\n  model: /m/guard\nhelpfulness:\n  chat_format: chatml\n";
  const std::string vllm = head + R"(  tokenizer: /t
  vllm:
    url: http://gpu-7:8000
    model: worldpm-72b
    task: token_classify
    api_key_env: KEY
    retries: 5
batching:
  max_batch_tokens: 1024
runtime:
  device: cuda:1
  dtype: bfloat16
)";
  EXPECT_EQ(scoring_settings_json(parse(vllm)), nlohmann::json::parse(R"({
    "guard": {"model": "/m/guard", "decoding": "constrained", "max_new_tokens": 128,
              "tool_turns": "qwen3"},
    "helpfulness": {"model": null, "tokenizer": "/t", "chat_format": "chatml",
                    "score_token": "last",
                    "vllm": {"model": "worldpm-72b", "task": "token_classify"}},
    "reward": {"type": "hybrid", "unsafe_cap": -10.0, "refusal_cap": -5.0,
               "controversial": "strict", "controversial_unsafe_categories": [],
               "judge_thinking": true, "truncated_thinking": "penalize",
               "refusal_penalty": "always", "justified_refusal_reward": null, "judge": "last",
               "judge_prompt": false, "judge_tool_results": false, "safety_signal": "verdict",
               "on_injection": "report"},
    "runtime": {"dtype": "bfloat16", "storage_dtype": "bfloat16"}})"));
  // Another file, device, batching or vLLM address: the same settings.
  std::string moved = vllm;
  for (auto [from, to] : {std::pair{"gpu-7", "gpu-9"},
                          {"cuda:1", "cpu"},
                          {"1024", "4096"},
                          {"retries: 5", "retries: 1"},
                          {"model: /m/guard", "model: /m/guard\n  prompt_cache_entries: 16"}}) {
    moved.replace(moved.find(from), std::string(from).size(), to);
  }
  EXPECT_EQ(scoring_settings_json(parse_config(moved, "/elsewhere", "y.yaml")),
            scoring_settings_json(parse(vllm)));
  EXPECT_TRUE(scoring_settings_json(parse(kGuardOnly))["helpfulness"].is_null());
}

// Every file in configs/ parses, and says what its name promises.
TEST(ShippedConfigs, AllParse) {
  const std::filesystem::path dir = std::filesystem::path(SAFRL_SOURCE_DIR) / "configs";
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml") continue;
    names.push_back(entry.path().filename().string());
    EXPECT_NO_THROW(load_config(entry.path().string())) << entry.path();
  }
  std::sort(names.begin(), names.end());
  // A new config must be added here with its checks.
  EXPECT_EQ(names, (std::vector<std::string>{"default.yaml", "guard-only.yaml", "one-gpu.yaml",
                                             "saferl-paper.yaml"}));
  const std::filesystem::path root = std::filesystem::path(SAFRL_SOURCE_DIR).lexically_normal();
  // The demo pair trained on a hand-labelled bank (safrl/testing/demo_models.py), not the
  // random-weight models the tests use.
  const std::string demo_guard = (root / "build/embedded/demo-guard").string();

  Parsed def = load_config((dir / "default.yaml").string());
  EXPECT_EQ(def.guard.model, demo_guard);
  ASSERT_TRUE(def.helpfulness.has_value());
  EXPECT_EQ(def.helpfulness->model, (root / "build/embedded/demo-reward").string());
  EXPECT_EQ(def.helpfulness->chat_format, chat::ChatFormat::kQwen3);
  EXPECT_EQ(def.reward.type, RewardType::kHybrid);
  EXPECT_EQ(def.reward.controversial, ControversialPolicy::kStrict);
  EXPECT_EQ(def.runtime.device, "cpu");
  EXPECT_EQ(def.runtime.storage_dtype, "float32");

  Parsed paper = load_config((dir / "saferl-paper.yaml").string());
  EXPECT_EQ(paper.guard.model, "/models/Qwen3Guard-Gen-4B");
  ASSERT_TRUE(paper.helpfulness.has_value());
  ASSERT_TRUE(paper.helpfulness->vllm.has_value());
  EXPECT_EQ(paper.helpfulness->vllm->url, "http://127.0.0.1:8000");
  EXPECT_EQ(paper.helpfulness->vllm->model, "worldpm-72b");
  EXPECT_EQ(paper.helpfulness->vllm->task, VllmTask::kTokenClassify);
  EXPECT_EQ(paper.helpfulness->tokenizer, "/models/WorldPM-72B-HelpSteer2");
  EXPECT_EQ(paper.helpfulness->chat_format, chat::ChatFormat::kChatml);
  EXPECT_EQ(paper.helpfulness->score_token, ScoreToken::kLast);
  EXPECT_EQ(paper.reward.type, RewardType::kHybrid);
  EXPECT_EQ(paper.reward.unsafe_cap, -10);
  EXPECT_EQ(paper.reward.refusal_cap, -5);
  EXPECT_EQ(paper.runtime.device, "cuda");
  EXPECT_EQ(paper.runtime.storage_dtype, "bfloat16");

  Parsed one_gpu = load_config((dir / "one-gpu.yaml").string());
  ASSERT_TRUE(one_gpu.helpfulness.has_value());
  EXPECT_EQ(one_gpu.helpfulness->model, "/models/Skywork-Reward-V2-Qwen3-4B");
  EXPECT_EQ(one_gpu.helpfulness->chat_format, chat::ChatFormat::kQwen3);
  EXPECT_EQ(one_gpu.runtime.dtype, "bfloat16");

  Parsed guard_only = load_config((dir / "guard-only.yaml").string());
  EXPECT_EQ(guard_only.guard.model, demo_guard);
  EXPECT_FALSE(guard_only.helpfulness.has_value());
  EXPECT_EQ(guard_only.reward.type, RewardType::kGuardOnly);
}

// The full example in docs/config.md is a valid config.
TEST(ShippedConfigs, DocumentedExampleParses) {
  std::ifstream in(std::string(SAFRL_SOURCE_DIR) + "/docs/config.md");
  std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string open = "```yaml\n";
  const size_t begin = doc.find(open);
  ASSERT_NE(begin, std::string::npos);
  const size_t end = doc.find("```", begin + open.size());
  ASSERT_NE(end, std::string::npos);
  Parsed c = parse_config(doc.substr(begin + open.size(), end - begin - open.size()), "", "doc");
  EXPECT_EQ(c.reward.controversial, ControversialPolicy::kPerCategory);
  EXPECT_EQ(c.reward.controversial_unsafe_categories,
            (std::vector<std::string>{"Violent", "Suicide & Self-Harm"}));
  EXPECT_EQ(c.runtime.device, "cuda:0");
}

}  // namespace
}  // namespace safrl::reward
