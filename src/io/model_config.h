// config.json of a Hugging Face Qwen2 / Qwen3 checkpoint, parsed into a typed, validated struct
// (no LibTorch).
//
// Only what the engine implements is accepted: an architecture, RoPE type, activation or
// attention variant that it does not implement is refused with a LoadError that lists what is
// supported, never silently ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace safrl::io {

enum class Architecture {
  kQwen3ForCausalLM,
  kQwen3ForSequenceClassification,
  kQwen2ForCausalLM,
  kQwen2ForSequenceClassification,
  kQwen2ForRewardModel,  // WorldPM: score = Linear(h,h) -> ReLU -> Linear(h,1), with biases
};

// "Qwen3ForCausalLM", ...
std::string architecture_name(Architecture arch);

enum class HeadKind { kCausalLM, kSequenceClassification, kRewardModel };

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
};

// `source` names the file in error messages.
ModelConfig parse_model_config(const std::string& json_text, const std::string& source);
// Reads DIR/config.json.
ModelConfig load_model_config(const std::string& dir);

}  // namespace safrl::io
