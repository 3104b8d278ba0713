// Feeds arbitrary text to the config.json parser. Any input must either parse into a config the
// model layers can build from, or throw LoadError; a crash, sanitizer report or other exception is
// a bug (safrl's main would report it as an internal error instead of naming the bad key).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "io/model_config.h"
#include "util/error.h"

namespace {

void check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "model_config_fuzz: accepted a config where %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  safrl::io::ModelConfig config;
  try {
    config = safrl::io::parse_model_config(text, "fuzz-config.json");
  } catch (const safrl::util::LoadError&) {
    return 0;
  }
  // What the header promises about an accepted config.
  check(config.vocab_size > 0 && config.hidden_size > 0 && config.intermediate_size > 0 &&
            config.num_hidden_layers > 0 && config.max_position_embeddings > 0,
        "a size is not positive");
  check(config.num_attention_heads > 0 && config.num_key_value_heads > 0 &&
            config.num_attention_heads % config.num_key_value_heads == 0,
        "the attention heads are not a multiple of the key-value heads");
  check(config.head_dim > 0, "head_dim is not positive");
  check(std::isfinite(config.rope_theta) && config.rope_theta > 0, "rope_theta is not positive");
  check(std::isfinite(config.rms_norm_eps) && config.rms_norm_eps > 0,
        "rms_norm_eps is not positive");
  check(config.num_labels > 0, "num_labels is not positive");
  check(!config.pad_token_id || *config.pad_token_id >= 0, "pad_token_id is negative");
  check(!config.eos_token_id || *config.eos_token_id >= 0, "eos_token_id is negative");
  const bool qwen3 = safrl::io::architecture_name(config.architecture).rfind("Qwen3", 0) == 0;
  check(qwen3 == (config.family == safrl::io::Family::kQwen3),
        "family disagrees with the architecture");
  check(config.head != safrl::io::HeadKind::kRewardModel || config.num_labels == 1,
        "a reward-model head has more than one output");
  return 0;
}
