// What the scorer says when a config names a model it cannot load: the config file, the key and
// the path as resolved, checked for every key before the first model loads. (No scratch files:
// libtorch.so exports its own std::filesystem::remove_all, which crashes in this binary.)
#include <string>

#include <gtest/gtest.h>

#include "reward/config.h"
#include "reward/scorer.h"
#include "support/test_support.h"
#include "util/error.h"

namespace safrl::reward {
namespace {

using safrl::testing::load_error;

const std::string kEmbedded = SAFRL_BINARY_DIR "/embedded";
// The config file the configs below are read as: relative paths resolve against its directory.
const std::string kConfig = kEmbedded + "/config.yaml";

std::string scorer_error(const std::string& yaml) {
  const Config config = parse_config(yaml, kEmbedded, kConfig);
  return load_error([&] { Scorer scorer(config); });
}

const char* const kRelative = " (a relative path resolves against the config file's directory)";

TEST(ScorerLoad, AMissingModelDirectoryNamesTheKeyTheFileAndTheResolvedPath) {
  EXPECT_EQ(scorer_error("guard: {model: models/guard}\nreward: {type: guard_only}\n"),
            kConfig + ": guard.model: " + kEmbedded + "/models/guard does not exist" + kRelative +
                "; give the Qwen3Guard-Gen checkpoint directory");
  // Checked before the guard loads: the mistake in the second key shows at once.
  EXPECT_EQ(
      scorer_error("guard: {model: guard}\nhelpfulness: {model: ../rm, chat_format: qwen3}\n"),
      kConfig + ": helpfulness.model: " SAFRL_BINARY_DIR "/rm does not exist" + kRelative +
          "; give the reward model checkpoint directory");
  EXPECT_EQ(scorer_error("guard: {model: guard}\nhelpfulness:\n  tokenizer: tok\n"
                         "  chat_format: chatml\n"
                         "  vllm: {url: 'http://127.0.0.1:9', model: m, task: classify}\n"),
            kConfig + ": helpfulness.tokenizer: " + kEmbedded + "/tok does not exist" + kRelative +
                "; give the served model's tokenizer directory");
  EXPECT_EQ(scorer_error("guard: {model: guard/config.json}\nreward: {type: guard_only}\n"),
            kConfig + ": guard.model: " + kEmbedded + "/guard/config.json is a file" + kRelative +
                "; give the Qwen3Guard-Gen checkpoint directory");
}

TEST(ScorerLoad, WhatTheLoaderRefusesIsToldWithTheKey) {
  // A directory, but not a checkpoint's.
  EXPECT_EQ(scorer_error("guard: {model: .}\nreward: {type: guard_only}\n"),
            kConfig + ": guard.model: cannot open " + kEmbedded +
                "/config.json: No such file or directory");
  // The reward model where the guard belongs.
  EXPECT_EQ(scorer_error("guard: {model: reward}\nreward: {type: guard_only}\n"),
            kConfig + ": guard.model: " + kEmbedded +
                "/reward is a Qwen3ForSequenceClassification; the guard must be a causal LM "
                "(Qwen3Guard-Gen is Qwen3ForCausalLM)");
}

}  // namespace
}  // namespace safrl::reward
