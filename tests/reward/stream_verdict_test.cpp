// The Stream guard's labels read as verdicts (reward/stream_verdict.h) and the config keys that
// choose it (guard.kind, guard.refusal_source).
#include "reward/stream_verdict.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "reward/config.h"
#include "reward/rescore.h"
#include "support/test_support.h"
#include "util/error.h"

namespace safrl::reward {
namespace {

using safrl::testing::contains_all;
using safrl::testing::load_error;

// A response of `probs` (one row per position); labels, categories and offsets follow from them
// (position i covers bytes [2i, 2i + 2), category index i % 8), debounced as the guard does.
TokenSafety response(const std::vector<std::array<double, 3>>& probs) {
  TokenSafety tokens;
  for (size_t i = 0; i < probs.size(); ++i) {
    tokens.probs.push_back(probs[i]);
    tokens.labels.push_back(most_likely(probs[i]));
    tokens.categories.push_back(kStreamResponseCategories[i % 8]);
    tokens.offsets.emplace_back(2 * i, 2 * i + 2);
  }
  tokens.debounced = debounce(tokens.labels);
  return tokens;
}

constexpr std::array<double, 3> kSafe = {0.9, 0.05, 0.05};
constexpr std::array<double, 3> kRiskySafe = {0.5, 0.3, 0.2};
constexpr std::array<double, 3> kUnsafe = {0.1, 0.8, 0.1};
constexpr std::array<double, 3> kUnsafeToo = {0.2, 0.7, 0.1};
constexpr std::array<double, 3> kControversial = {0.2, 0.1, 0.7};

TEST(StreamVerdict, UnsafePairFlagsTheSecondPositionWithItsCategoryAndProbs) {
  // Labels S S U U S: the pair (2, 3) decides, index 3; category index 3 % 8 = 3.
  const TokenSafety tokens = response({kSafe, kSafe, kUnsafe, kUnsafeToo, kSafe});
  const Verdict verdict = stream_response_verdict(tokens);
  EXPECT_EQ(verdict.safety, Safety::kUnsafe);
  EXPECT_EQ(verdict.categories, std::vector<std::string>{"Politically Sensitive Topics"});
  EXPECT_EQ(verdict.safety_probs, kUnsafeToo);
  EXPECT_FALSE(verdict.refusal.has_value());
}

TEST(StreamVerdict, SingleUnsafeTokenIsNoiseAndSafeReadsTheRiskiestPosition) {
  // Labels S U S S: no pair; P(Safe) is lowest at position 1 (0.1), whose probs are kept.
  const Verdict verdict = stream_response_verdict(response({kSafe, kUnsafe, kRiskySafe, kSafe}));
  EXPECT_EQ(verdict.safety, Safety::kSafe);
  EXPECT_TRUE(verdict.categories.empty());
  EXPECT_EQ(verdict.safety_probs, kUnsafe);
}

TEST(StreamVerdict, ControversialPairCountsOnlyWithoutAnUnsafePair) {
  // C C S U U: the Unsafe pair wins though later, index 4 (category 4 = PII).
  const Verdict unsafe =
      stream_response_verdict(response({kControversial, kControversial, kSafe, kUnsafe, kUnsafe}));
  EXPECT_EQ(unsafe.safety, Safety::kUnsafe);
  EXPECT_EQ(unsafe.categories, std::vector<std::string>{"PII"});
  // S C C: Controversial at index 2 (category 2).
  const Verdict controversial =
      stream_response_verdict(response({kSafe, kControversial, kControversial}));
  EXPECT_EQ(controversial.safety, Safety::kControversial);
  EXPECT_EQ(controversial.categories, std::vector<std::string>{"Suicide & Self-Harm"});
  EXPECT_EQ(controversial.safety_probs, kControversial);
}

TEST(StreamVerdict, QueryVerdictNamesItsCategoryOnlyWhenNotSafe) {
  const Verdict unsafe = stream_query_verdict(kUnsafe, "Jailbreak");
  EXPECT_EQ(unsafe.safety, Safety::kUnsafe);
  EXPECT_EQ(unsafe.categories, std::vector<std::string>{"Jailbreak"});
  EXPECT_EQ(unsafe.safety_probs, kUnsafe);
  EXPECT_TRUE(stream_query_verdict(kSafe, "Violent").categories.empty());
}

TEST(StreamVerdict, TokenSafetyJsonGivesTheFlagAndItsByteOffset) {
  // S U U: flagged at index 2, whose bytes start at 2 * 2 = 4.
  const nlohmann::json json = token_safety_json(response({kSafe, kUnsafe, kUnsafe}));
  EXPECT_EQ(json["labels"], nlohmann::json({"Safe", "Unsafe", "Unsafe"}));
  EXPECT_EQ(json["probs"][1], nlohmann::json({0.1, 0.8, 0.1}));
  EXPECT_EQ(json["categories"][2], "Suicide & Self-Harm");
  EXPECT_EQ(json["offsets"][2], nlohmann::json({4, 6}));
  EXPECT_EQ(json["outcome"], "Unsafe");
  EXPECT_EQ(json["first_unsafe"], 2);
  EXPECT_EQ(json["first_unsafe_offset"], 4);
  const nlohmann::json safe = token_safety_json(response({kSafe, kUnsafe}));
  EXPECT_TRUE(safe["first_unsafe"].is_null());
  EXPECT_TRUE(safe["first_unsafe_offset"].is_null());
}

TEST(StreamVerdict, CodePointOffsetsWidenTokensThatSplitACharacterAndAddTheBase) {
  // "a漢😀": 'a' byte 0, 漢 bytes 1-3, 😀 bytes 4-7 (code points 0, 1, 2). Tokens: [0, 1) 'a',
  // [1, 4) 漢, [4, 6) and [6, 8) the emoji's two halves, [8, 8) after the content.
  TokenSafety tokens = response({kSafe, kSafe, kUnsafe, kUnsafe, kSafe});
  tokens.offsets = {{0, 1}, {1, 4}, {4, 6}, {6, 8}, {8, 8}};
  // base 5: five code points before the text. Both halves of the emoji cover it: 5 + [2, 3).
  const TokenSafety moved = with_code_point_offsets(tokens, "a漢😀", 5);
  const std::vector<std::pair<int64_t, int64_t>> want = {{5, 6}, {6, 7}, {7, 8}, {7, 8}, {8, 8}};
  EXPECT_EQ(moved.offsets, want);
  // The flag's offset follows: first_unsafe 3 (the pair at 2, 3) begins at code point 7.
  EXPECT_EQ(token_safety_json(moved)["first_unsafe_offset"], 7);
  EXPECT_EQ(code_points("a漢😀"), 3);
}

TEST(StreamVerdict, TokenSafetyJsonReadsBackAndRefusesAnUnknownCategory) {
  const TokenSafety tokens = response({kSafe, kControversial, kControversial});
  const nlohmann::json json = token_safety_json(tokens);
  const TokenSafety back = token_safety_from_json(json);
  EXPECT_EQ(back.labels, tokens.labels);
  EXPECT_EQ(back.probs, tokens.probs);
  EXPECT_EQ(back.categories, tokens.categories);
  EXPECT_EQ(back.offsets, tokens.offsets);
  EXPECT_EQ(back.debounced.outcome, Safety::kControversial);
  EXPECT_EQ(back.debounced.index, 2);
  EXPECT_EQ(token_safety_json(back), json);
  nlohmann::json wrong = json;
  wrong["categories"][0] = "Jailbreak";  // a query category only
  try {
    token_safety_from_json(wrong);
    FAIL() << "not refused";
  } catch (const util::InputError& e) {
    EXPECT_STREQ(e.what(),
                 "token_safety.categories: \"Jailbreak\" is not a Qwen3Guard-Stream response "
                 "category");
  }
}

Config parse(const std::string& text) {
  return parse_config(text, "/cfg", "x.yaml");
}

const char* const kHybridStream = R"(
guard:
  model: /m/stream
  kind: stream
  refusal_source: none
helpfulness:
  model: /m/rm
  chat_format: qwen3
)";

TEST(GuardKindConfig, StreamWithoutRefusalSourceIsRefusedForHybridAndDefaultsToNoneOtherwise) {
  const Config stream = parse(kHybridStream);
  EXPECT_EQ(stream.guard.kind, GuardKind::kStream);
  EXPECT_EQ(stream.guard.refusal_source, RefusalSource::kNone);
  EXPECT_TRUE(
      contains_all(load_error([] {
                     parse(
                         "guard:\n  model: /m/s\n  kind: stream\nhelpfulness:\n  model: /m/rm\n"
                         "  chat_format: qwen3\n");
                   }),
                   {"x.yaml: guard.refusal_source:", "no refusal output", "refusal_source: none"}));
  const Config guard_only =
      parse("guard:\n  model: /m/s\n  kind: stream\nreward:\n  type: guard_only\n");
  EXPECT_EQ(guard_only.guard.refusal_source, RefusalSource::kNone);
  // Said explicitly, guard is refused whatever the reward type.
  EXPECT_TRUE(contains_all(load_error([] {
                             parse(
                                 "guard:\n  model: /m/s\n  kind: stream\n  refusal_source: "
                                 "guard\nreward:\n  type: guard_only\n");
                           }),
                           {"guard.refusal_source:", "Qwen3Guard-Gen"}));
}

// `safrl score --reward hybrid` on a Stream config written for guard_only: the file never said
// refusal_source: none, so the hybrid reward would silently lose its refusal cap.
TEST(GuardKindConfig, ACommandLineHybridNeedsRefusalSourceWrittenForAStreamGuard) {
  Config unsaid = parse("guard:\n  model: /m/s\n  kind: stream\nreward:\n  type: guard_only\n");
  EXPECT_TRUE(contains_all(load_error([&] { override_reward_type(unsaid, "hybrid"); }),
                           {"--reward hybrid: x.yaml", "guard.refusal_source: none"}));
  EXPECT_EQ(unsaid.reward.type, RewardType::kGuardOnly);  // left as it was

  Config said = parse(
      "guard:\n  model: /m/s\n  kind: stream\n  refusal_source: none\nreward:\n"
      "  type: guard_only\n");
  override_reward_type(said, "hybrid");
  EXPECT_EQ(said.reward.type, RewardType::kHybrid);
  EXPECT_EQ(said.guard.refusal_source, RefusalSource::kNone);

  // The other way, hybrid to guard_only, keeps the written none; a Gen config keeps its guard.
  Config stream = parse(kHybridStream);
  override_reward_type(stream, "guard_only");
  EXPECT_EQ(stream.reward.type, RewardType::kGuardOnly);
  EXPECT_EQ(stream.guard.refusal_source, RefusalSource::kNone);
  Config gen = parse("guard:\n  model: /m/g\nreward:\n  type: guard_only\n");
  override_reward_type(gen, "guard_only");
  EXPECT_EQ(gen.guard.refusal_source, RefusalSource::kGuard);
}

TEST(GuardKindConfig, UnknownSpellingsAndGenOnlyKeysAreRefusedWithTheirPaths) {
  EXPECT_TRUE(contains_all(load_error([] { parse("guard:\n  model: /m/s\n  kind: streaming\n"); }),
                           {"guard.kind", "streaming", "gen, stream"}));
  EXPECT_TRUE(contains_all(
      load_error([] { parse("guard:\n  model: /m/s\n  refusal_source: helpfulness\n"); }),
      {"guard.refusal_source", "guard, none"}));
  std::string decoding = kHybridStream;
  decoding.insert(decoding.find("  refusal_source"), "  decoding: free\n");
  EXPECT_TRUE(contains_all(load_error([&] { parse(decoding); }),
                           {"guard.decoding", "only used with guard.kind gen"}));
  EXPECT_TRUE(contains_all(load_error([] {
                             parse(std::string(kHybridStream) +
                                   "reward:\n  judge_tool_results: true\n");
                           }),
                           {"reward.judge_tool_results", "needs guard.kind gen"}));
  EXPECT_TRUE(contains_all(load_error([] {
                             parse(std::string(kHybridStream) +
                                   "reward:\n  refusal_penalty: prompt_aware\n");
                           }),
                           {"reward.refusal_penalty", "refusal_source is none"}));
}

TEST(GuardKindConfig, KindEntersTheModelsHashAndGenDefaultsLeaveItAsBefore) {
  const std::string gen = "guard:\n  model: /m/g\nreward:\n  type: guard_only\n";
  const std::string gen_explicit =
      "guard:\n  model: /m/g\n  kind: gen\n  refusal_source: guard\nreward:\n  type: guard_only\n";
  const std::string stream = "guard:\n  model: /m/g\n  kind: stream\nreward:\n  type: guard_only\n";
  EXPECT_EQ(models_hash(parse(gen)), models_hash(parse(gen_explicit)));
  EXPECT_NE(models_hash(parse(gen)), models_hash(parse(stream)));
  EXPECT_FALSE(scoring_settings_json(parse(gen))["guard"].contains("kind"));
  EXPECT_EQ(scoring_settings_json(parse(stream))["guard"]["kind"], "stream");
  EXPECT_EQ(config_to_json(parse(gen))["guard"]["kind"], "gen");
  EXPECT_EQ(config_to_json(parse(gen))["guard"]["refusal_source"], "guard");
}

}  // namespace
}  // namespace safrl::reward
