// config.json of a Hugging Face Qwen2 / Qwen3 checkpoint, parsed into a typed, validated struct
// (no LibTorch).
//
// Only what the engine implements is accepted: an architecture, RoPE type, activation or
// attention variant that it does not implement is refused with a LoadError that lists what is
// supported, never silently ignored.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace safrl::io {

enum class Architecture {
  kQwen3ForCausalLM,
  kQwen3ForSequenceClassification,
  kQwen2ForCausalLM,
  kQwen2ForSequenceClassification,
  kQwen2ForRewardModel,  // WorldPM: score = Linear(h,h) -> ReLU -> Linear(h,1), with biases
  // Qwen3Guard-Stream: two branches on every token's final hidden state, each
  // Linear(h, guard_inner_size) -> RMSNorm -> a risk-level head and a category head.
  kQwen3ForGuardModel,
};

// "Qwen3ForCausalLM", ...
std::string architecture_name(Architecture arch);

enum class HeadKind { kCausalLM, kSequenceClassification, kRewardModel, kStreamGuard };

// Qwen3ForGuardModel's labels, in head index order as the official Qwen3Guard code defines them
// (eval/eval_stream.py). The order is fixed, so a checkpoint whose config declares other counts
// or another order in a label map is refused. The response categories are the Gen template's
// names in another order.
inline constexpr std::array<std::string_view, 3> kStreamRiskLevels = {"Safe", "Unsafe",
                                                                      "Controversial"};
// The query category head; the response head has the first 8 (all but "Jailbreak").
inline constexpr std::array<std::string_view, 9> kStreamQueryCategories = {
    "Violent",
    "Sexual Content or Sexual Acts",
    "Suicide & Self-Harm",
    "Politically Sensitive Topics",
    "PII",
    "Copyright Violation",
    "Non-violent Illegal Acts",
    "Unethical Acts",
    "Jailbreak"};
inline constexpr std::array<std::string_view, 8> kStreamResponseCategories = [] {
  std::array<std::string_view, 8> names{};
  for (size_t i = 0; i < names.size(); ++i) names[i] = kStreamQueryCategories[i];
  return names;
}();

// The decoder family: Qwen3 has per-head q/k RMSNorm; Qwen2 has q/k/v biases and no q/k norm.
enum class Family { kQwen2, kQwen3 };

struct ModelConfig {
  Architecture architecture = Architecture::kQwen3ForCausalLM;
  HeadKind head = HeadKind::kCausalLM;
  Family family = Family::kQwen3;

  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  // Read from config; when absent, Qwen3 defaults to 128 (as transformers' Qwen3Config does) and
  // Qwen2 to hidden_size / num_attention_heads. Never derived when present.
  int64_t head_dim = 0;
  int64_t max_position_embeddings = 0;
  double rope_theta = 10000.0;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  // Bias on q/k/v projections (Qwen2 always; Qwen3 when attention_bias is true, then o_proj too).
  bool qkv_bias = false;
  bool o_bias = false;
  // Outputs of the sequence-classification head: num_labels, else len(id2label), else 2 (as
  // transformers). 1 for the reward-model head.
  int64_t num_labels = 1;
  std::optional<int64_t> pad_token_id;
  std::optional<int64_t> eos_token_id;  // the first one when config lists several
  std::string torch_dtype;              // as written ("bfloat16", "float32", ...), may be empty
  // Qwen3ForGuardModel only (0 otherwise; the label heads are sized by these, not num_labels):
  // the width of both branches' pre-projection and the outputs of its four heads. Each is
  // required for that architecture; the label counts must be 3, 8, 3, 9, the sizes of
  // kStreamRiskLevels, kStreamResponseCategories, kStreamRiskLevels, kStreamQueryCategories.
  int64_t guard_inner_size = 0;
  int64_t num_risk_level = 0;
  int64_t num_category = 0;
  int64_t num_query_risk_level = 0;
  int64_t num_query_category = 0;
};

// `source` names the file in error messages.
ModelConfig parse_model_config(const std::string& json_text, const std::string& source);
// Reads DIR/config.json.
ModelConfig load_model_config(const std::string& dir);

}  // namespace safrl::io
