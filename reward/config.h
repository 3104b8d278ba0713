// The reward layer's part of the YAML configuration (docs/config.md lists every key): the guard,
// the helpfulness model, the reward, batching and the runtime. The server's section belongs to
// serve (serve/serve_config.h); the command line assembles the file (cli/config_file.h).
//
// The sections are parsed once into the plain structs below and validated as a whole: an unknown
// key, a duplicate key, a value of the wrong type or outside its allowed spellings, and an
// inconsistent combination (hybrid without a helpfulness model, per_category without a category
// list) throw util::LoadError with the source and the key path, e.g.
//   configs/x.yaml: reward.unsafe_cap: expected a number, got "abc"
// Nothing is silently ignored or guessed. Relative model paths resolve against the directory of
// the config file, so a config works from any working directory. The model directories are not
// opened here; the layers that load them check them.
// Device and dtype stay strings (the torch layer turns them into torch types) but only the
// spellings of util/device_names.h get through. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "chat/render.h"
#include "io/yaml_config.h"
#include "reward/monitors.h"
#include "reward/reward.h"

namespace safrl::reward {

// How the guard's verdict is decoded.
enum class GuardDecoding {
  kConstrained,  // the same tokens as free, with fewer forwards; falls back to free decoding
                 // where the model leaves the verdict format (reward/guard_decoders.h)
  kFree,         // greedy generation as the official code, parsed afterwards
};

// Where a Qwen2ForRewardModel (WorldPM) head is read. UNCONFIRMED in the report.
enum class ScoreToken {
  kLast,   // the last token of the rendered conversation (default)
  kImEnd,  // the final <|im_end|>
};

// Which Qwen3Guard the guard is (docs/reward.md, "The Stream guard").
enum class GuardKind {
  kGen,     // Qwen3Guard-Gen (Qwen3ForCausalLM): writes its verdict (reward/guard.h)
  kStream,  // Qwen3Guard-Stream (Qwen3ForGuardModel): labels every token in one prefill
            // (reward/stream_guard.h); has no refusal output
};

// Where the hybrid reward's refusal signal comes from.
enum class RefusalSource {
  kGuard,  // the Gen guard's "Refusal: Yes|No" line (default for guard.kind gen)
  kNone,   // nothing: no response counts as a refusal, so the hybrid reward has no refusal cap
};

std::string_view guard_decoding_name(GuardDecoding decoding);  // "constrained" | "free"
std::string_view guard_kind_name(GuardKind kind);              // "gen" | "stream"
std::string_view refusal_source_name(RefusalSource source);    // "guard" | "none"
std::string_view score_token_name(ScoreToken token);           // "last" | "im_end"

struct GuardConfig {
  // Hugging Face directory of the guard's checkpoint (tokenizer.json beside it): Qwen3ForCausalLM
  // for kind gen, Qwen3ForGuardModel for kind stream.
  std::string model;
  GuardKind kind = GuardKind::kGen;
  // guard with kind gen; kind stream has no refusal output, so it needs none (a config error
  // otherwise, for the hybrid reward; the other types read no refusal and default to none).
  RefusalSource refusal_source = RefusalSource::kGuard;
  // Whether the file wrote refusal_source: a Stream guard's hybrid reward needs it said (its
  // default then depends on the reward type, which the command line may change).
  bool refusal_source_written = false;
  // kind gen only, like max_new_tokens (a Stream guard does not decode).
  GuardDecoding decoding = GuardDecoding::kConstrained;
  // Cap on generated tokens per verdict; the official decoding uses 128.
  int64_t max_new_tokens = 128;
  // Tool calls and tool results in the guard's body: rendered as Qwen3's chat template writes
  // them (an extension; the guard's own template says nothing of tools) or refused.
  chat::ToolTurns tool_turns = chat::ToolTurns::kQwen3;
  // Prompt verdicts kept by the prompt's token ids for the life of the server (datasets repeat
  // their prompts every epoch); 0 turns the cache off.
  int64_t prompt_cache_entries = 65536;
};

// What a vLLM server computes for the helpfulness model (vLLM's pooling task names): kClassify
// is a sequence classifier (Qwen3ForSequenceClassification) answered on /classify; kTokenClassify
// is a per-token reward model (Qwen2ForRewardModel, WorldPM) answered on /pooling, whose score is
// the value at the last token sent.
enum class VllmTask { kClassify, kTokenClassify };

std::string_view vllm_task_name(VllmTask task);  // "classify" | "token_classify"

// A helpfulness model served by vLLM (reward/vllm_helpfulness.h). safrl renders and tokenizes
// each (prompt, answer) itself and sends token ids, so the server scores exactly the tokens the
// local engine would.
struct VllmConfig {
  // The server's base URL, http:// or https://, without a trailing slash
  // (e.g. http://gpu-node:8000); the endpoints are appended to it.
  std::string url;
  // The served model name, as `vllm serve` lists it in /v1/models (--served-model-name, or the
  // model path it was started with).
  std::string model;
  VllmTask task = VllmTask::kClassify;
  // The name of an environment variable holding the key of a server started with --api-key
  // (sent as "Authorization: Bearer <key>"); empty: none. The key itself never sits in the
  // config, nor in `info`.
  std::string api_key_env;
  // One HTTP request's time limit (at most 3600).
  double timeout_s = 60;
  // Attempts after the first when the server does not answer or answers 5xx or 429; then the
  // requests in the pass get the `unavailable` error, which clients retry (a 500 that persists
  // is an error of the request instead: vLLM failed on it).
  int64_t retries = 2;
  // Sequences per HTTP request (vLLM batches them itself).
  int64_t max_batch_sequences = 64;
  // How long the server start waits for vLLM to answer /v1/models (a 72B model loads for
  // minutes); 0 checks once. At most 86400.
  double startup_timeout_s = 900;
};

struct HelpfulnessConfig {
  // Hugging Face directory of a Qwen3ForSequenceClassification (Skywork-Reward-V2) or
  // Qwen2ForRewardModel (WorldPM) checkpoint, computed here. Empty when `vllm` is set.
  std::string model;
  // With `vllm`: the directory holding the served model's tokenizer.json (the model's own
  // directory, or a copy of its tokenizer files).
  std::string tokenizer;
  // The model served by vLLM instead of computed here.
  std::optional<VllmConfig> vllm;
  // The chat format the model was trained on: kQwen3 (Skywork-Reward-V2) or kChatml (WorldPM).
  // Required, because a wrong format still yields scores, just meaningless ones.
  chat::ChatFormat chat_format = chat::ChatFormat::kQwen3;
  ScoreToken score_token = ScoreToken::kLast;
};

struct BatchingConfig {
  // Token budget of one packed forward pass.
  int64_t max_batch_tokens = 8192;
  // Compute the common token prefix of samples with the same prompt once (a GRPO group's), and
  // the guard template's fixed head once per task; off (every token of every sample computed)
  // only to measure what reuse saves.
  bool share_prefixes = true;
  // Bytes of guard verdicts and helpfulness scores kept across passes, by the conversation
  // judged (reward/judgement_cache.h), the prompt verdicts included; within a pass identical
  // inputs are judged once. 0 turns both off (a prompt repeated within a pass is still judged
  // once). Where the work runs, not what it gives: a cached result is the one the model gave.
  int64_t judgement_cache_bytes = int64_t{256} << 20;
};

// How OpenMP's idle threads wait for the next parallel region: spinning on a core (active) or
// asleep in the kernel (passive). Spinning answers a few microseconds sooner, and steals the
// cores of whatever else runs on the machine (a trainer beside the server).
enum class OmpWaitPolicy { kPassive, kActive };
std::string_view omp_wait_policy_name(OmpWaitPolicy policy);  // "passive" | "active"

struct RuntimeConfig {
  std::string device = "cpu";             // "cpu" | "cuda" | "cuda:N"
  std::string dtype = "float32";          // compute dtype: "float32" | "bfloat16" | "float16"
  std::string storage_dtype = "float32";  // dtype of the weights in memory; defaults to dtype
  // Threads of LibTorch's CPU operators (at::set_num_threads), 1 to kMaxThreads; unset:
  // LibTorch's own default, one per core.
  static constexpr int64_t kMaxThreads = 4096;
  std::optional<int64_t> threads;
  // Unset: the command's default (passive for every command that runs models). The command line
  // applies it (src/cli/omp_policy.h); OMP_WAIT_POLICY in the environment wins.
  std::optional<OmpWaitPolicy> omp_wait_policy;
};

struct Config {
  GuardConfig guard;
  // Absent when the config has no helpfulness section (allowed only for guard_only).
  std::optional<HelpfulnessConfig> helpfulness;
  RewardSettings reward;
  BatchingConfig batching;
  RuntimeConfig runtime;
  // The step rows' alert thresholds (reward/monitors.h); they change no score.
  MonitorSettings monitors;
  // Where the config came from (the file path as given), for messages and `info`.
  std::string source;
};

// The top-level sections of a config file that the reward layer owns; the file's other sections
// belong to other layers (serve: "server"), and the command line assembles the whole file.
inline constexpr std::string_view kConfigSections[] = {"guard",    "helpfulness", "reward",
                                                       "batching", "runtime",     "monitors"};

// Reads the reward layer's sections of a config file whose root mapping is `root` (the caller
// has checked the root's keys). `source` names the file and becomes Config::source.
Config parse_config(const io::YamlSection& root, const std::string& source);

// Parses a YAML document with only the reward layer's sections. Relative model paths resolve
// against `base_dir` (left relative when it is empty); `source` names the text in messages.
Config parse_config(const std::string& yaml_text, const std::string& base_dir,
                    const std::string& source);

// Every setting with enums as their config spellings and resolved paths, for the server's
// `info` reply; "helpfulness" is null when absent.
nlohmann::json config_to_json(const Config& config);

// The command line's reward type (`--reward`) in place of the file's, with the checks the file's
// type passed: a Stream guard's hybrid reward needs guard.refusal_source: none written in the
// file. Throws util::LoadError naming the flag and the file.
void override_reward_type(Config& config, std::string_view name);

// The settings that decide the scores: config_to_json without what only says where and how fast
// the work runs (the source file, batching, runtime.device, the vLLM server's address, key and
// retries). Two runs with equal settings compute the same rewards, up to floating-point rounding;
// `safrl score` records them to tell a resume from other work. guard.kind and
// guard.refusal_source appear only when not gen and guard, so a Gen config's settings (and its
// models hash) are what they were before those keys existed.
nlohmann::json scoring_settings_json(const Config& config);

// The settings that decide which model outputs a scored line holds and what they say: the
// guard's (model, kind, refusal_source, decoding, max_new_tokens, tool_turns), the helpfulness
// model's (model or the served model and task, tokenizer, chat_format, score_token), runtime.dtype
// and storage_dtype, and the judging switches under "judging" (judge_thinking, judge, whether the
// prompt is judged by default (judge_prompt, or refusal_penalty prompt_aware), judge_tool_results,
// and whether judged texts are neutralised (on_injection strip)). Not the reward's arithmetic
// (caps, Controversial policy, refusal penalty, safety signal, ...): `safrl score --rescore`
// recomputes that from the outputs (reward/rescore.h), and refuses a line whose settings here
// differ.
nlohmann::json model_settings_json(const Config& config);

}  // namespace safrl::reward
