// The judgement cache: keys that tell every input and models hash apart, the byte and entry
// bounds with least-recently-used eviction, and the scorer judging identical inputs once, within
// a call and across calls, with the results of an uncached scorer.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "reward/judgement_cache.h"
#include "reward/rescore.h"
#include "reward/scorer.h"

namespace safrl::reward {
namespace {

const std::string kEmbedded = SAFRL_BINARY_DIR "/embedded";
const std::string kFormatGuard = SAFRL_BINARY_DIR "/testdata/format-guards/format-guard";

Config config_with(const std::string& reward_yaml, const std::string& batching_yaml = "") {
  return parse_config("guard: {model: " + kFormatGuard + "}\nhelpfulness: {model: " + kEmbedded +
                          "/reward, chat_format: qwen3}\nreward: {" + reward_yaml +
                          "}\nbatching: {" + batching_yaml + "}\n",
                      "", "test");
}

GuardOutput output_with(const std::string& text, size_t ids) {
  GuardOutput output;
  output.text = text;
  output.output_ids.assign(ids, 7);
  return output;
}

TEST(JudgementKey, TellsApartEveryFieldTheModelsHashAndTheJudge) {
  const std::vector<chat::Message> a = {{"user", "ab"}, {"assistant", ""}};
  const std::vector<chat::Message> b = {{"user", "a"}, {"assistant", "b"}};  // same bytes joined
  EXPECT_NE(judgement_key("m", Judge::kGuard, a), judgement_key("m", Judge::kGuard, b));
  EXPECT_EQ(judgement_key("m", Judge::kGuard, a), judgement_key("m", Judge::kGuard, a));
  EXPECT_NE(judgement_key("m", Judge::kGuard, a), judgement_key("m", Judge::kHelpfulness, a));
  EXPECT_NE(judgement_key("m", Judge::kGuard, a), judgement_key("n", Judge::kGuard, a));
  std::vector<chat::Message> called = a;
  called[1].tool_calls = {{"search", "{}"}};
  EXPECT_NE(judgement_key("m", Judge::kGuard, a), judgement_key("m", Judge::kGuard, called));
  // models "m" (8 + 1) + judge (1) + per message role, content, tool-call count (8 + size each):
  // user: 12 + 10 + 9 = 31; assistant: 17 + 8 + 9 = 34; 9 + 1 + 31 + 34 = 75.
  EXPECT_EQ(judgement_key("m", Judge::kGuard, a).size(), 75u);
}

// A config with other model settings has another models hash: an entry kept under one is never
// found under the other's key.
TEST(JudgementKey, ChangesWithTheModelsHash) {
  const std::string constrained = models_hash(config_with("type: hybrid"));
  Config free = config_with("type: hybrid");
  free.guard.decoding = GuardDecoding::kFree;
  const std::string other = models_hash(free);
  ASSERT_NE(constrained, other);
  const std::vector<chat::Message> conversation = {{"user", "hi"}, {"assistant", "No."}};
  JudgementCache cache(1 << 20, 10);
  cache.insert(judgement_key(constrained, Judge::kGuard, conversation), Judge::kGuard,
               output_with("Safety: Safe", 3));
  EXPECT_NE(cache.find(judgement_key(constrained, Judge::kGuard, conversation)), nullptr);
  EXPECT_EQ(cache.find(judgement_key(other, Judge::kGuard, conversation)), nullptr);
}

TEST(JudgementCache, AStreamJudgementsTokenLabelsAreCountedAndKept) {
  // Three response positions: each a label (4 bytes), three probabilities (24), a category view
  // (16) and an offset pair (16) = 60 bytes; 290 + 3 * 60 = 470.
  GuardOutput output = output_with("Safety: Safe", 5);
  TokenSafety tokens;
  tokens.labels = {Safety::kSafe, Safety::kUnsafe, Safety::kUnsafe};
  tokens.probs = {{0.9, 0.05, 0.05}, {0.1, 0.8, 0.1}, {0.2, 0.7, 0.1}};
  tokens.categories = {"PII", "PII", "PII"};
  tokens.offsets = {{0, 2}, {2, 5}, {5, 5}};
  tokens.debounced = {Safety::kUnsafe, 2};
  output.token_safety = tokens;
  ASSERT_EQ(sizeof(Safety), 4u);
  EXPECT_EQ(approximate_bytes("k1", output), 470u);
  JudgementCache cache(1000, 10);
  cache.insert("k1", Judge::kGuard, output);
  const GuardOutput& kept = std::get<GuardOutput>(*cache.find("k1"));
  ASSERT_TRUE(kept.token_safety.has_value());
  EXPECT_EQ(token_safety_json(*kept.token_safety), token_safety_json(tokens));
}

TEST(JudgementCache, CountsEachEntrysBytesAndEvictsTheLeastRecentlyUsedPastTheBound) {
  // A score under a 2-byte key: 256 + 2 = 258 bytes. A verdict of 12 text bytes and 5 ids:
  // 256 + 2 + 12 + 5 * 4 = 290.
  EXPECT_EQ(approximate_bytes("k1", 1.5), 258u);
  EXPECT_EQ(approximate_bytes("k1", output_with("Safety: Safe", 5)), 290u);
  // 600 bytes hold two scores (516), not three (774).
  JudgementCache cache(600, 10);
  cache.insert("k1", Judge::kHelpfulness, 1.0);
  cache.insert("k2", Judge::kHelpfulness, 2.0);
  EXPECT_EQ(cache.bytes(), 516u);
  ASSERT_NE(cache.find("k1"), nullptr);          // k1 is now the most recently used
  cache.insert("k3", Judge::kHelpfulness, 3.0);  // evicts k2
  EXPECT_EQ(cache.entries(), 2u);
  EXPECT_EQ(cache.bytes(), 516u);
  EXPECT_EQ(cache.find("k2"), nullptr);
  EXPECT_EQ(std::get<double>(*cache.find("k1")), 1.0);
  EXPECT_EQ(std::get<double>(*cache.find("k3")), 3.0);
  // Across judges: the verdict (290) pushes 258 + 258 + 290 = 806 past 600; k1, the least
  // recently used of all, goes, leaving 258 + 290 = 548.
  cache.insert("k4", Judge::kGuard, output_with("Safety: Safe", 5));
  EXPECT_EQ(cache.find("k1"), nullptr);
  EXPECT_EQ(cache.bytes(), 548u);
  // Replacing an entry recounts its bytes: 258 + 256 + 2 + 3 + 4 = 523.
  cache.insert("k4", Judge::kGuard, output_with("Bad", 1));
  EXPECT_EQ(cache.bytes(), 523u);
  EXPECT_EQ(std::get<GuardOutput>(*cache.find("k4")).text, "Bad");
  // A value over the bound on its own is not kept, and does not evict.
  cache.insert("k5", Judge::kGuard, output_with(std::string(400, 'x'), 0));
  EXPECT_EQ(cache.find("k5"), nullptr);
  EXPECT_EQ(cache.entries(), 2u);
  JudgementCache none(0, 10);
  none.insert("k1", Judge::kHelpfulness, 1.0);
  EXPECT_EQ(none.entries(), 0u);
}

TEST(JudgementCache, KeepsAtMostTheConfiguredPromptVerdicts) {
  JudgementCache cache(1 << 20, 1);
  cache.insert("p1", Judge::kPrompt, output_with("Safety: Safe", 2));
  cache.insert("g1", Judge::kGuard, output_with("Safety: Safe", 2));
  cache.insert("p2", Judge::kPrompt, output_with("Safety: Unsafe", 2));  // evicts p1 only
  EXPECT_EQ(cache.find("p1"), nullptr);
  EXPECT_NE(cache.find("p2"), nullptr);
  EXPECT_NE(cache.find("g1"), nullptr);
  JudgementCache no_prompts(1 << 20, 0);
  no_prompts.insert("p1", Judge::kPrompt, output_with("Safety: Safe", 2));
  EXPECT_EQ(no_prompts.entries(), 0u);
}

// A GRPO group of 8 under refusal collapse: 6 identical refusals and 2 other answers.
std::vector<Sample> collapsed_group() {
  std::vector<Sample> group;
  const char* answers[] = {"I can't help with that.",
                           "Mix them.",
                           "I can't help with that.",
                           "I can't help with that.",
                           "Here is how.",
                           "I can't help with that.",
                           "I can't help with that.",
                           "I can't help with that."};
  for (size_t i = 0; i < 8; ++i) {
    group.push_back(sample_from_json(
        {{"id", i}, {"prompt", "How do I make a bomb?"}, {"answer", answers[i]}, {"step", 1}}));
  }
  return group;
}

TEST(ScorerCache, IdenticalRolloutsInOneCallAreJudgedOnceAndCopied) {
  const std::vector<Sample> group = collapsed_group();
  Scorer cached(config_with("type: hybrid"));
  Scorer uncached(config_with("type: hybrid", "judgement_cache_bytes: 0"));
  const auto with = cached.score(group);
  const auto without = uncached.score(group);
  // 3 distinct answers: the guard and the reward model each compute 3 and copy 5.
  const JudgementCounters counters = cached.cache_counters();
  EXPECT_EQ(counters.misses.guard, 3);
  EXPECT_EQ(counters.hits.guard, 5);
  EXPECT_EQ(counters.misses.helpfulness, 3);
  EXPECT_EQ(counters.hits.helpfulness, 5);
  EXPECT_EQ(counters.entries, 6);  // 3 verdicts and 3 scores kept for later calls
  EXPECT_EQ(uncached.cache_counters().misses.guard, 8);
  EXPECT_EQ(uncached.cache_counters().hits.guard, 0);
  EXPECT_EQ(uncached.cache_counters().entries, 0);
  // The guard computed 3 conversations' tokens instead of 8: the 5 copies' tokens (the rendered
  // conversation after the shared prompt, and the verdict) are not computed.
  EXPECT_LT(cached.timing().guard.prefill_tokens, uncached.timing().guard.prefill_tokens);
  size_t copies = 0;
  for (size_t i = 0; i < group.size(); ++i) {
    // The first refusal (sample 0) is computed; 2, 3, 5, 6 and 7 are its copies: exactly its
    // values.
    if (i > 0 && group[i].answer == group[0].answer) {
      ++copies;
      EXPECT_EQ(with[i].answer_report.text, with[0].answer_report.text);
      EXPECT_EQ(with[i].answer->safety_probs, with[0].answer->safety_probs);
      EXPECT_EQ(with[i].answer->refusal_prob, with[0].answer->refusal_prob);
      EXPECT_EQ(*with[i].helpfulness, *with[0].helpfulness);
      EXPECT_EQ(with[i].result.reward, with[0].result.reward);
      EXPECT_EQ(with[i].tokens, 0);
      EXPECT_EQ(with[i].cache_hits.guard, 1);
      EXPECT_EQ(with[i].cache_hits.helpfulness, 1);
    } else {
      EXPECT_EQ(with[i].tokens, without[i].tokens);
      EXPECT_EQ(with[i].cache_hits.guard, 0);
    }
    // Against the uncached scorer: the same verdict texts, the probabilities and scores within
    // the 1e-5 that batches of other shapes give (docs/engine.md).
    EXPECT_EQ(with[i].answer_report.text, without[i].answer_report.text);
    for (size_t k = 0; k < 3; ++k) {
      EXPECT_NEAR(with[i].answer->safety_probs[k], without[i].answer->safety_probs[k], 1e-5);
    }
    EXPECT_NEAR(*with[i].helpfulness, *without[i].helpfulness, 1e-5);
    EXPECT_NEAR(with[i].result.reward, without[i].result.reward, 1e-4);
  }
  EXPECT_EQ(copies, 5u);
}

TEST(ScorerCache, ALaterCallIsAnsweredFromTheCacheWithoutRunningTheModels) {
  const std::vector<Sample> group = collapsed_group();
  Scorer scorer(config_with("type: hybrid, judge_prompt: true"));
  const auto first = scorer.score(group);
  // The prompt: judged once, the other 7 samples copy it.
  EXPECT_EQ(scorer.cache_counters().misses.prompt, 1);
  EXPECT_EQ(scorer.cache_counters().hits.prompt, 7);
  const ScorerTiming before = scorer.timing();
  const auto second = scorer.score(group);
  const ScorerTiming spent = scorer.timing() - before;
  EXPECT_EQ(spent.guard.prefill_tokens, 0);
  EXPECT_EQ(spent.guard.decode_steps, 0);
  EXPECT_EQ(spent.helpfulness_tokens, 0);
  const JudgementCounters counters = scorer.cache_counters();
  EXPECT_EQ(counters.hits.guard, 5 + 8);
  EXPECT_EQ(counters.hits.helpfulness, 5 + 8);
  EXPECT_EQ(counters.hits.prompt, 7 + 8);
  EXPECT_EQ(counters.misses.guard, 3);
  EXPECT_EQ(counters.entries, 3 + 3 + 1);
  for (size_t i = 0; i < group.size(); ++i) {
    EXPECT_EQ(second[i].answer_report.text, first[i].answer_report.text);
    EXPECT_EQ(second[i].answer->safety_probs, first[i].answer->safety_probs);
    EXPECT_EQ(*second[i].helpfulness, *first[i].helpfulness);
    EXPECT_EQ(second[i].result.reward, first[i].result.reward);
    EXPECT_TRUE(second[i].prompt->cached);
    EXPECT_EQ(second[i].tokens, 0);
    EXPECT_EQ(second[i].cache_hits.guard, 1);
    EXPECT_EQ(second[i].cache_hits.helpfulness, 1);
    EXPECT_EQ(second[i].cache_hits.prompt, 1);
  }
}

}  // namespace
}  // namespace safrl::reward
