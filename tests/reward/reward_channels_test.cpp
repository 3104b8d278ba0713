// The reward channels (RewardResult::channels, the line's "channels") and the expected safety
// signal (reward.safety_signal: expected), with every reward computed by hand in a comment.
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "reward/reward.h"
#include "reward/score_line.h"
#include "reward/turn_rewards.h"

namespace safrl::reward {
namespace {

constexpr double kTolerance = 1e-12;

// A response-task verdict with its label probabilities (Safe, Unsafe, Controversial); NaN: not
// computed, as for a verdict parsed from text.
Verdict verdict(Safety safety, std::array<double, 3> probs,
                std::vector<std::string> categories = {}, bool refusal = false) {
  Verdict v;
  v.safety = safety;
  v.safety_probs = probs;
  v.categories = std::move(categories);
  v.refusal = refusal;
  return v;
}

constexpr double kNaN = Verdict::kNotComputed;
constexpr std::array<double, 3> kNotComputed = {kNaN, kNaN, kNaN};

RewardSettings expected(RewardType type = RewardType::kHybrid,
                        ControversialPolicy policy = ControversialPolicy::kStrict) {
  RewardSettings s;  // unsafe_cap -10, refusal_cap -5
  s.type = type;
  s.controversial = policy;
  if (policy == ControversialPolicy::kPerCategory) {
    s.controversial_unsafe_categories = {"Politically Sensitive Topics", "Violent"};
  }
  s.safety_signal = SafetySignal::kExpected;
  return s;
}

void expect_channels(const RewardChannels& channels, double safety, double refusal,
                     std::optional<double> helpfulness) {
  EXPECT_NEAR(channels.safety, safety, kTolerance);
  EXPECT_EQ(channels.refusal, refusal);
  EXPECT_EQ(channels.helpfulness, helpfulness);
}

TEST(UnsafeProbability, FollowsTheControversialPolicy) {
  const Verdict safe = verdict(Safety::kSafe, {0.6, 0.3, 0.1});
  // strict: p_U + p_C = 0.3 + 0.1; loose: p_U = 0.3.
  EXPECT_NEAR(*unsafe_probability(expected(), safe), 0.4, kTolerance);
  EXPECT_NEAR(*unsafe_probability(expected(RewardType::kHybrid, ControversialPolicy::kLoose), safe),
              0.3, kTolerance);
  // per_category: p_C counts only when the verdict names a listed category (Violent and
  // Politically Sensitive Topics are listed, PII is not).
  const RewardSettings per_category =
      expected(RewardType::kHybrid, ControversialPolicy::kPerCategory);
  EXPECT_NEAR(
      *unsafe_probability(per_category, verdict(Safety::kControversial, {0.2, 0.3, 0.5}, {"PII"})),
      0.3, kTolerance);
  EXPECT_NEAR(*unsafe_probability(per_category, verdict(Safety::kControversial, {0.2, 0.3, 0.5},
                                                        {"Politically Sensitive Topics"})),
              0.8, kTolerance);
  // A Safe verdict names no category, so its p_C never counts under per_category.
  EXPECT_NEAR(*unsafe_probability(per_category, safe), 0.3, kTolerance);
}

TEST(UnsafeProbability, RenormalisesAndIsAbsentWhereNotComputed) {
  // Probabilities read back from a rounded line: 0.3 / 0.3 / 0.3 -> (0.3 + 0.3) / 0.9 = 2/3.
  EXPECT_NEAR(*unsafe_probability(expected(), verdict(Safety::kSafe, {0.3, 0.3, 0.3})), 2.0 / 3,
              kTolerance);
  EXPECT_EQ(unsafe_probability(expected(), verdict(Safety::kSafe, kNotComputed)), std::nullopt);
}

TEST(ExpectedSignal, ANearTieNoLongerFlipsTheRewardBetweenTheCapAndH) {
  // Safe 0.6, Unsafe 0.3, Controversial 0.1, strict: P(safe) = 1 - 0.4 = 0.6;
  // reward = 0.6 * H + 0.4 * min(-10, H) = 0.6 * 2 + 0.4 * -10 = 1.2 - 4 = -2.8.
  const Verdict answer = verdict(Safety::kSafe, {0.6, 0.3, 0.1});
  const RewardResult result = compute_reward(expected(), answer, std::nullopt, 2.0);
  EXPECT_NEAR(result.reward, -2.8, kTolerance);
  EXPECT_EQ(result.reward_case, kCaseHelpful);  // the case stays the verdict's
  EXPECT_TRUE(result.safe);
  expect_channels(result.channels, 0.6, 0, 2.0);
  // The verdict signal reads the label only: H.
  RewardSettings verdict_signal = expected();
  verdict_signal.safety_signal = SafetySignal::kVerdict;
  const RewardResult by_label = compute_reward(verdict_signal, answer, std::nullopt, 2.0);
  EXPECT_EQ(by_label.reward, 2.0);
  expect_channels(by_label.channels, 1, 0, 2.0);
  // Loose: P(safe) = 1 - 0.3 = 0.7; 0.7 * 2 + 0.3 * -10 = 1.4 - 3 = -1.6.
  EXPECT_NEAR(compute_reward(expected(RewardType::kHybrid, ControversialPolicy::kLoose), answer,
                             std::nullopt, 2.0)
                  .reward,
              -1.6, kTolerance);
}

TEST(ExpectedSignal, AnUnsafeVerdictKeepsItsCaseAndEarnsTheMixture) {
  // Controversial naming a listed category, per_category: p_u = 0.3 + 0.5 = 0.8, P(safe) = 0.2;
  // 0.2 * 2 + 0.8 * -10 = 0.4 - 8 = -7.6. The verdict counts as unsafe: case unsafe.
  const RewardResult listed = compute_reward(
      expected(RewardType::kHybrid, ControversialPolicy::kPerCategory),
      verdict(Safety::kControversial, {0.2, 0.3, 0.5}, {"Violent"}), std::nullopt, 2.0);
  EXPECT_NEAR(listed.reward, -7.6, kTolerance);
  EXPECT_EQ(listed.reward_case, kCaseUnsafe);
  EXPECT_FALSE(listed.safe);
  expect_channels(listed.channels, 0.2, 0, 2.0);
  // PII is not listed: p_u = 0.3, P(safe) = 0.7; 0.7 * 2 + 0.3 * -10 = -1.6, case helpful.
  const RewardResult unlisted =
      compute_reward(expected(RewardType::kHybrid, ControversialPolicy::kPerCategory),
                     verdict(Safety::kControversial, {0.2, 0.3, 0.5}, {"PII"}), std::nullopt, 2.0);
  EXPECT_NEAR(unlisted.reward, -1.6, kTolerance);
  EXPECT_EQ(unlisted.reward_case, kCaseHelpful);
}

TEST(ExpectedSignal, ARefusalMixesTheRefusalCapWithTheUnsafeCap) {
  // Safe 0.9, Unsafe 0.1: R_safe = min(-5, 3) = -5, R_unsafe = min(-10, 3) = -10;
  // 0.9 * -5 + 0.1 * -10 = -4.5 - 1 = -5.5.
  const RewardResult result = compute_reward(
      expected(), verdict(Safety::kSafe, {0.9, 0.1, 0.0}, {}, true), std::nullopt, 3.0);
  EXPECT_NEAR(result.reward, -5.5, kTolerance);
  EXPECT_EQ(result.reward_case, kCaseRefusal);
  expect_channels(result.channels, 0.9, 1, 3.0);
  // prompt_aware with a harmful prompt: R_safe = justified_refusal_reward 0.5;
  // 0.9 * 0.5 + 0.1 * -10 = 0.45 - 1 = -0.55.
  RewardSettings aware = expected();
  aware.refusal_penalty = RefusalPenalty::kPromptAware;
  aware.justified_refusal_reward = 0.5;
  Verdict harmful_prompt;
  harmful_prompt.safety = Safety::kUnsafe;
  const RewardResult justified =
      compute_reward(aware, verdict(Safety::kSafe, {0.9, 0.1, 0.0}, {}, true), std::nullopt, 3.0,
                     {false, harmful_prompt});
  EXPECT_NEAR(justified.reward, -0.55, kTolerance);
  EXPECT_EQ(justified.reward_case, kCaseJustifiedRefusal);
}

TEST(ExpectedSignal, AJudgedThinkingMultipliesTheSafeProbabilities) {
  // Answer p_u = 0.2, thinking (strict) p_u = 0.25 + 0.25 = 0.5, read as independent:
  // P(safe) = 0.8 * 0.5 = 0.4; 0.4 * 2 + 0.6 * -10 = 0.8 - 6 = -5.2.
  const Verdict answer = verdict(Safety::kSafe, {0.8, 0.2, 0.0});
  const Verdict thinking = verdict(Safety::kSafe, {0.5, 0.25, 0.25});
  const RewardResult judged = compute_reward(expected(), answer, thinking, 2.0);
  EXPECT_NEAR(judged.reward, -5.2, kTolerance);
  expect_channels(judged.channels, 0.4, 0, 2.0);
  // judge_thinking off: P(safe) = 0.8; 0.8 * 2 + 0.2 * -10 = 1.6 - 2 = -0.4.
  RewardSettings unjudged = expected();
  unjudged.judge_thinking = false;
  EXPECT_NEAR(compute_reward(unjudged, answer, thinking, 2.0).reward, -0.4, kTolerance);
}

TEST(ExpectedSignal, AVerdictWithoutProbabilitiesEntersByItsLabel) {
  // Parsed from text (NaN probabilities): a Safe label is p_u = 0, so the reward is H = 2 ...
  EXPECT_EQ(
      compute_reward(expected(), verdict(Safety::kSafe, kNotComputed), std::nullopt, 2.0).reward,
      2.0);
  // ... and an Unsafe thinking label is p_u = 1: P(safe) = 0.6 * 0 = 0, the reward min(-10, 2).
  const RewardResult result =
      compute_reward(expected(), verdict(Safety::kSafe, {0.6, 0.3, 0.1}),
                     verdict(Safety::kUnsafe, kNotComputed, {"Violent"}), 2.0);
  EXPECT_EQ(result.reward, -10.0);
  EXPECT_EQ(result.reward_case, kCaseUnsafe);
  expect_channels(result.channels, 0, 0, 2.0);
}

TEST(ExpectedSignal, AnotherUnsafeTurnMakesTheTrajectoryUnsafe) {
  // all_turns: another turn counts as unsafe, so P(safe) = 0 whatever this turn's probabilities.
  const RewardResult result = compute_reward(expected(), verdict(Safety::kSafe, {0.9, 0.1, 0.0}),
                                             std::nullopt, 2.0, {true, std::nullopt});
  EXPECT_EQ(result.reward, -10.0);
  EXPECT_EQ(result.reward_case, kCaseUnsafe);
  EXPECT_EQ(result.channels.safety, 0);
}

TEST(ExpectedSignal, GuardOnlyEarnsTheSafeProbabilityAndHelpfulnessOnlyIgnoresIt) {
  const Verdict answer = verdict(Safety::kSafe, {0.6, 0.3, 0.1});
  // guard_only: 0.6 * 1 + 0.4 * 0 = 0.6.
  const RewardResult guard_only =
      compute_reward(expected(RewardType::kGuardOnly), answer, std::nullopt, std::nullopt);
  EXPECT_NEAR(guard_only.reward, 0.6, kTolerance);
  EXPECT_EQ(guard_only.reward_case, kCaseSafe);
  expect_channels(guard_only.channels, 0.6, 0, std::nullopt);
  // helpfulness_only: H, with the safety channel still reported.
  const RewardResult helpfulness_only =
      compute_reward(expected(RewardType::kHelpfulnessOnly), answer, std::nullopt, 2.0);
  EXPECT_EQ(helpfulness_only.reward, 2.0);
  expect_channels(helpfulness_only.channels, 0.6, 0, 2.0);
}

TEST(Channels, UnparseableAndTruncatedKeepTheVerdictSignal) {
  // An unparseable output is never safe: safety 0, refusal 0, H as given.
  const RewardResult unparseable = unparseable_result(expected(), 2.0);
  EXPECT_EQ(unparseable.reward, -10.0);
  expect_channels(unparseable.channels, 0, 0, 2.0);
  // A truncated response whose judged trace is Safe (probabilities 0.6 / 0.4): the truncated
  // reward min(-10, 2) and safety 1, by the label, under expected too.
  const RewardResult truncated =
      truncated_result(expected(), verdict(Safety::kSafe, {0.6, 0.4, 0.0}), 2.0);
  EXPECT_EQ(truncated.reward, -10.0);
  EXPECT_EQ(truncated.reward_case, kCaseTruncated);
  expect_channels(truncated.channels, 1, 0, 2.0);
}

TEST(Channels, CombineTurnsGivesTheResponsesChannels) {
  // A truncated response after an unsafe earlier turn: case unsafe, and safety 0.
  std::vector<TurnScore> turns(2);
  turns[0].answer = verdict(Safety::kUnsafe, {0.1, 0.9, 0.0}, {"Violent"});
  turns[0].helpfulness = 1.0;
  turns[1].answer = verdict(Safety::kSafe, {0.9, 0.1, 0.0});
  turns[1].thinking_judged = true;
  turns[1].thinking = verdict(Safety::kSafe, {0.9, 0.1, 0.0});
  turns[1].helpfulness = 2.0;
  ScoredSample scored;
  combine_turns(expected(), /*truncated_thinking=*/true, turns, scored);
  EXPECT_EQ(scored.result.reward_case, kCaseUnsafe);
  EXPECT_EQ(scored.result.reward, -10.0);  // truncated: min(-10, 2)
  expect_channels(scored.result.channels, 0, 0, 2.0);
}

TEST(Channels, TheLineCarriesThem) {
  Sample sample;
  sample.id = "s";
  ScoredSample scored;
  scored.answer = verdict(Safety::kSafe, {0.6, 0.3, 0.1});
  scored.helpfulness = 2.0;
  scored.result = compute_reward(expected(), *scored.answer, std::nullopt, 2.0);
  const nlohmann::json line = score_line_json(sample, scored, expected());
  EXPECT_NEAR(line["channels"]["safety"].get<double>(), 0.6, kTolerance);
  EXPECT_EQ(line["channels"]["refusal"], 0.0);
  EXPECT_EQ(line["channels"]["helpfulness"], 2.0);
  // Without H (guard_only), helpfulness is null.
  ScoredSample guard_only;
  guard_only.answer = verdict(Safety::kUnsafe, kNotComputed, {"Violent"}, true);
  guard_only.result = compute_reward(expected(RewardType::kGuardOnly), *guard_only.answer,
                                     std::nullopt, std::nullopt);
  EXPECT_EQ(score_line_json(sample, guard_only, expected(RewardType::kGuardOnly))["channels"],
            nlohmann::json::parse(R"({"safety": 0.0, "refusal": 1.0, "helpfulness": null})"));
}

}  // namespace
}  // namespace safrl::reward
