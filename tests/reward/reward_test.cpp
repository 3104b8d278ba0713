#include "reward/reward.h"

#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "util/error.h"

namespace safrl::reward {
namespace {

// A response-task verdict.
Verdict verdict(Safety safety, std::vector<std::string> categories = {}, bool refusal = false) {
  Verdict v;
  v.safety = safety;
  v.categories = std::move(categories);
  v.refusal = refusal;
  return v;
}

const Verdict kSafe = verdict(Safety::kSafe);
const Verdict kSafeRefusal = verdict(Safety::kSafe, {}, true);
const Verdict kUnsafe = verdict(Safety::kUnsafe, {"Violent"});
const Verdict kUnsafeRefusal = verdict(Safety::kUnsafe, {"Violent"}, true);
const Verdict kControversialPolitics =
    verdict(Safety::kControversial, {"Politically Sensitive Topics"});
const Verdict kControversialPii = verdict(Safety::kControversial, {"PII"});
const Verdict kControversialNone = verdict(Safety::kControversial);

RewardSettings settings(RewardType type,
                        ControversialPolicy policy = ControversialPolicy::kStrict) {
  RewardSettings s;
  s.type = type;
  s.controversial = policy;
  if (policy == ControversialPolicy::kPerCategory) {
    s.controversial_unsafe_categories = {"Politically Sensitive Topics", "Violent"};
  }
  return s;
}

// The message of the InputError that `fn` throws; records a failure when it throws none.
template <typename Fn>
std::string input_error(Fn&& fn) {
  try {
    fn();
  } catch (const util::InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an InputError, none was thrown";
  return "";
}

void expect_result(const RewardResult& result, double reward, std::string_view reward_case,
                   bool safe, bool refusal) {
  EXPECT_EQ(result.reward, reward);
  EXPECT_EQ(result.reward_case, reward_case);
  EXPECT_EQ(result.safe, safe);
  EXPECT_EQ(result.refusal, refusal);
}

const RewardSettings kHybrid = settings(RewardType::kHybrid);
const RewardSettings kGuardOnly = settings(RewardType::kGuardOnly);
const RewardSettings kHelpfulnessOnly = settings(RewardType::kHelpfulnessOnly);

TEST(Settings, DefaultsAreThePapers) {
  RewardSettings s;
  EXPECT_EQ(s.type, RewardType::kHybrid);
  EXPECT_EQ(s.unsafe_cap, -10);
  EXPECT_EQ(s.refusal_cap, -5);
  EXPECT_EQ(s.controversial, ControversialPolicy::kStrict);
  EXPECT_TRUE(s.controversial_unsafe_categories.empty());
  EXPECT_TRUE(s.judge_thinking);
}

TEST(CountsAsUnsafe, EveryPolicy) {
  const RewardSettings strict = settings(RewardType::kHybrid, ControversialPolicy::kStrict);
  const RewardSettings loose = settings(RewardType::kHybrid, ControversialPolicy::kLoose);
  const RewardSettings per_category =
      settings(RewardType::kHybrid, ControversialPolicy::kPerCategory);
  for (const RewardSettings* s : {&strict, &loose, &per_category}) {
    EXPECT_FALSE(counts_as_unsafe(*s, kSafe));
    EXPECT_TRUE(counts_as_unsafe(*s, kUnsafe));
    // Unsafe needs no listed category to count.
    EXPECT_TRUE(counts_as_unsafe(*s, verdict(Safety::kUnsafe, {"PII"})));
    // Categories on a Safe verdict do not make it unsafe.
    EXPECT_FALSE(counts_as_unsafe(*s, verdict(Safety::kSafe, {"Violent"})));
  }
  EXPECT_TRUE(counts_as_unsafe(strict, kControversialNone));
  EXPECT_TRUE(counts_as_unsafe(strict, kControversialPii));
  EXPECT_FALSE(counts_as_unsafe(loose, kControversialPolitics));
  EXPECT_TRUE(counts_as_unsafe(per_category, kControversialPolitics));
  EXPECT_FALSE(counts_as_unsafe(per_category, kControversialPii));
  EXPECT_FALSE(counts_as_unsafe(per_category, kControversialNone));
  EXPECT_TRUE(counts_as_unsafe(per_category, verdict(Safety::kControversial, {"PII", "Violent"})));
}

TEST(Hybrid, HelpfulAnswerGetsH) {
  expect_result(compute_reward(kHybrid, kSafe, std::nullopt, 3.5), 3.5, "helpful", true, false);
  expect_result(compute_reward(kHybrid, kSafe, kSafe, -12), -12, "helpful", true, false);
}

TEST(Hybrid, UnsafeAnswerIsCappedAtMinus10) {
  expect_result(compute_reward(kHybrid, kUnsafe, std::nullopt, 3.5), -10, "unsafe", false, false);
  expect_result(compute_reward(kHybrid, kUnsafe, kSafe, -12), -12, "unsafe", false, false);
  expect_result(compute_reward(kHybrid, kUnsafe, kSafe, -10), -10, "unsafe", false, false);
}

TEST(Hybrid, UnsafeThinkingAloneMakesTheRolloutUnsafe) {
  expect_result(compute_reward(kHybrid, kSafe, kUnsafe, 3.5), -10, "unsafe", false, false);
  expect_result(compute_reward(kHybrid, kSafe, kUnsafe, -12), -12, "unsafe", false, false);
}

TEST(Hybrid, ThinkingIsIgnoredWhenNotJudged) {
  RewardSettings s = kHybrid;
  s.judge_thinking = false;
  expect_result(compute_reward(s, kSafe, kUnsafe, 3.5), 3.5, "helpful", true, false);
  expect_result(compute_reward(s, kSafeRefusal, kUnsafe, 2), -5, "refusal", true, true);
  expect_result(compute_reward(s, kUnsafe, kSafe, 3.5), -10, "unsafe", false, false);
}

TEST(Hybrid, RefusalIsCappedAtMinus5) {
  expect_result(compute_reward(kHybrid, kSafeRefusal, std::nullopt, 2), -5, "refusal", true, true);
  expect_result(compute_reward(kHybrid, kSafeRefusal, kSafe, -7), -7, "refusal", true, true);
  expect_result(compute_reward(kHybrid, kSafeRefusal, kSafe, -5), -5, "refusal", true, true);
}

TEST(Hybrid, UnsafeWinsOverRefusal) {
  expect_result(compute_reward(kHybrid, kUnsafeRefusal, std::nullopt, 2), -10, "unsafe", false,
                true);
  expect_result(compute_reward(kHybrid, kSafeRefusal, kUnsafe, 2), -10, "unsafe", false, true);
  expect_result(compute_reward(kHybrid, kUnsafeRefusal, std::nullopt, -12), -12, "unsafe", false,
                true);
}

TEST(Hybrid, CapsAreSettings) {
  RewardSettings s = kHybrid;
  s.unsafe_cap = -3;
  s.refusal_cap = -1;
  expect_result(compute_reward(s, kUnsafe, std::nullopt, 0.5), -3, "unsafe", false, false);
  expect_result(compute_reward(s, kSafeRefusal, std::nullopt, 0.5), -1, "refusal", true, true);
  expect_result(compute_reward(s, kSafeRefusal, std::nullopt, -2), -2, "refusal", true, true);
}

TEST(Hybrid, ControversialUnderEachPolicy) {
  const RewardSettings strict = settings(RewardType::kHybrid, ControversialPolicy::kStrict);
  const RewardSettings loose = settings(RewardType::kHybrid, ControversialPolicy::kLoose);
  const RewardSettings per_category =
      settings(RewardType::kHybrid, ControversialPolicy::kPerCategory);

  expect_result(compute_reward(strict, kControversialPii, std::nullopt, 3.5), -10, "unsafe", false,
                false);
  expect_result(compute_reward(strict, kSafe, kControversialNone, 3.5), -10, "unsafe", false,
                false);
  expect_result(compute_reward(loose, kControversialPolitics, std::nullopt, 3.5), 3.5, "helpful",
                true, false);
  expect_result(compute_reward(loose, kSafe, kControversialPolitics, 3.5), 3.5, "helpful", true,
                false);
  // Loose Controversial answers are still judged for refusal.
  expect_result(compute_reward(loose, verdict(Safety::kControversial, {}, true), std::nullopt, 2),
                -5, "refusal", true, true);
  expect_result(compute_reward(per_category, kControversialPolitics, std::nullopt, 3.5), -10,
                "unsafe", false, false);
  expect_result(compute_reward(per_category, kSafe, kControversialPolitics, 3.5), -10, "unsafe",
                false, false);
  expect_result(compute_reward(per_category, kControversialPii, std::nullopt, 3.5), 3.5, "helpful",
                true, false);
  expect_result(compute_reward(per_category, kControversialNone, kControversialPii, 3.5), 3.5,
                "helpful", true, false);
}

TEST(Hybrid, NeedsAFiniteHelpfulness) {
  EXPECT_THROW(compute_reward(kHybrid, kSafe, std::nullopt, std::nullopt), util::InputError);
  // A score the model botched is the server's failure, not the request's.
  EXPECT_THROW(
      compute_reward(kHybrid, kUnsafe, std::nullopt, std::numeric_limits<double>::quiet_NaN()),
      util::ModelError);
  EXPECT_THROW(
      compute_reward(kHybrid, kSafe, std::nullopt, std::numeric_limits<double>::infinity()),
      util::ModelError);
  EXPECT_THROW(compute_reward(kHelpfulnessOnly, kSafe, std::nullopt, NAN), util::ModelError);
  EXPECT_EQ(input_error([] { compute_reward(kHybrid, kSafe, std::nullopt, std::nullopt); }),
            "reward type hybrid needs a helpfulness score, and none was given");
  try {
    compute_reward(kHybrid, kSafe, std::nullopt, -INFINITY);
    ADD_FAILURE() << "no ModelError";
  } catch (const util::ModelError& e) {
    EXPECT_STREQ(e.what(), "the helpfulness model scored -inf, which is not a finite number");
  }
}

TEST(GuardOnly, AScoreThatIsNotFiniteDoesNotMatter) {
  expect_result(compute_reward(kGuardOnly, kSafe, std::nullopt, NAN), 1.0, "safe", true, false);
  expect_result(unparseable_result(kGuardOnly, INFINITY), 0.0, "unparseable", false, false);
}

TEST(Hybrid, AnswerVerdictMustComeFromResponseModeration) {
  Verdict prompt_verdict;
  prompt_verdict.safety = Safety::kSafe;
  EXPECT_EQ(input_error([&] { compute_reward(kHybrid, prompt_verdict, std::nullopt, 1.0); }),
            "the answer's verdict has no refusal line; it must come from response moderation");
  EXPECT_THROW(compute_reward(kGuardOnly, prompt_verdict, std::nullopt, std::nullopt),
               util::InputError);
}

TEST(GuardOnly, OneWhenEverythingJudgedIsSafe) {
  expect_result(compute_reward(kGuardOnly, kSafe, std::nullopt, std::nullopt), 1.0, "safe", true,
                false);
  expect_result(compute_reward(kGuardOnly, kSafe, kSafe, 3.5), 1.0, "safe", true, false);
  // Eq. 1 does not penalise refusals.
  expect_result(compute_reward(kGuardOnly, kSafeRefusal, kSafe, std::nullopt), 1.0, "safe", true,
                true);
}

TEST(GuardOnly, ZeroWhenTheAnswerOrTheThinkingIsUnsafe) {
  expect_result(compute_reward(kGuardOnly, kUnsafe, kSafe, std::nullopt), 0.0, "unsafe", false,
                false);
  expect_result(compute_reward(kGuardOnly, kSafe, kUnsafe, std::nullopt), 0.0, "unsafe", false,
                false);
  expect_result(compute_reward(kGuardOnly, kUnsafeRefusal, std::nullopt, 3.5), 0.0, "unsafe", false,
                true);
  RewardSettings s = kGuardOnly;
  s.judge_thinking = false;
  expect_result(compute_reward(s, kSafe, kUnsafe, std::nullopt), 1.0, "safe", true, false);
}

TEST(GuardOnly, ControversialUnderEachPolicy) {
  // Strict is Eq. 1 as printed: only Safe is safe.
  const RewardSettings strict = settings(RewardType::kGuardOnly, ControversialPolicy::kStrict);
  const RewardSettings loose = settings(RewardType::kGuardOnly, ControversialPolicy::kLoose);
  const RewardSettings per_category =
      settings(RewardType::kGuardOnly, ControversialPolicy::kPerCategory);
  expect_result(compute_reward(strict, kControversialNone, std::nullopt, std::nullopt), 0.0,
                "unsafe", false, false);
  expect_result(compute_reward(strict, kSafe, kControversialPii, std::nullopt), 0.0, "unsafe",
                false, false);
  expect_result(compute_reward(loose, kControversialPolitics, kControversialPii, std::nullopt), 1.0,
                "safe", true, false);
  expect_result(compute_reward(per_category, kControversialPii, std::nullopt, std::nullopt), 1.0,
                "safe", true, false);
  expect_result(compute_reward(per_category, kSafe, kControversialPolitics, std::nullopt), 0.0,
                "unsafe", false, false);
}

TEST(HelpfulnessOnly, RewardIsHWhateverTheGuardSaid) {
  expect_result(compute_reward(kHelpfulnessOnly, kSafe, std::nullopt, 3.5), 3.5, "helpfulness",
                true, false);
  expect_result(compute_reward(kHelpfulnessOnly, kUnsafe, std::nullopt, 3.5), 3.5, "helpfulness",
                false, false);
  expect_result(compute_reward(kHelpfulnessOnly, kSafeRefusal, kUnsafe, -12), -12, "helpfulness",
                false, true);
  EXPECT_THROW(compute_reward(kHelpfulnessOnly, kSafe, std::nullopt, std::nullopt),
               util::InputError);
}

TEST(Unparseable, ScoredAsUnsafeNeverSafe) {
  expect_result(unparseable_result(kHybrid, 3.5), -10, "unparseable", false, false);
  expect_result(unparseable_result(kHybrid, -12), -12, "unparseable", false, false);
  expect_result(unparseable_result(kGuardOnly, std::nullopt), 0.0, "unparseable", false, false);
  expect_result(unparseable_result(kGuardOnly, 3.5), 0.0, "unparseable", false, false);
  expect_result(unparseable_result(kHelpfulnessOnly, 2), 2, "unparseable", false, false);
  RewardSettings s = kHybrid;
  s.unsafe_cap = -20;
  expect_result(unparseable_result(s, 1), -20, "unparseable", false, false);
  EXPECT_THROW(unparseable_result(kHybrid, std::nullopt), util::InputError);
  EXPECT_THROW(unparseable_result(kHybrid, std::numeric_limits<double>::quiet_NaN()),
               util::ModelError);
}

// A response cut off inside its thinking earns the lowest reward of its type, whatever its
// (empty) answer would be judged; an unsafe trace still says unsafe.
TEST(TruncatedThinking, EveryRewardTypeGivesItsLowestReward) {
  EXPECT_EQ(RewardSettings().truncated_thinking, TruncatedThinkingPolicy::kPenalize);
  // Trace judged safe, judged unsafe, not judged (judge_thinking off), unparseable.
  expect_result(truncated_result(kHybrid, kSafe, 3.5), -10, "truncated", true, false);
  expect_result(truncated_result(kHybrid, kUnsafe, 3.5), -10, "unsafe", false, false);
  expect_result(truncated_result(kHybrid, kSafe, -12), -12, "truncated", true, false);
  expect_result(truncated_result(kHybrid, std::nullopt, 3.5), -10, "truncated", false, false);
  expect_result(truncated_result(kGuardOnly, kSafe, std::nullopt), 0.0, "truncated", true, false);
  expect_result(truncated_result(kGuardOnly, kUnsafe, std::nullopt), 0.0, "unsafe", false, false);
  expect_result(truncated_result(kGuardOnly, std::nullopt, std::nullopt), 0.0, "truncated", false,
                false);
  expect_result(truncated_result(kHelpfulnessOnly, kSafe, 2), 2, "truncated", true, false);
  expect_result(truncated_result(kHelpfulnessOnly, kUnsafe, 2), 2, "unsafe", false, false);
  RewardSettings unjudged = kGuardOnly;
  unjudged.judge_thinking = false;
  expect_result(truncated_result(unjudged, kUnsafe, std::nullopt), 0.0, "truncated", false, false);
  // Under guard_only the safe trace with an empty answer earns 0, not the 1.0 of a safe answer.
  EXPECT_EQ(compute_reward(kGuardOnly, kSafe, kSafe, std::nullopt).reward, 1.0);
  EXPECT_THROW(truncated_result(kHybrid, kSafe, std::nullopt), util::InputError);
}

// Prompt-task verdicts (no refusal line).
Verdict prompt_verdict(Safety safety, std::vector<std::string> categories = {}) {
  Verdict v;
  v.safety = safety;
  v.categories = std::move(categories);
  return v;
}

RewardSettings prompt_aware(RewardType type,
                            ControversialPolicy policy = ControversialPolicy::kStrict) {
  RewardSettings s = settings(type, policy);
  s.refusal_penalty = RefusalPenalty::kPromptAware;
  return s;
}

// Each kind of prompt verdict, with whether it makes a refusal justified.
struct PromptCase {
  const char* name;
  std::optional<Verdict> prompt;
  ControversialPolicy policy;
  bool harmful;
};

const std::vector<PromptCase>& prompt_cases() {
  static const std::vector<PromptCase> cases = {
      {"Safe", prompt_verdict(Safety::kSafe), ControversialPolicy::kStrict, false},
      {"Unsafe", prompt_verdict(Safety::kUnsafe, {"Violent"}), ControversialPolicy::kStrict, true},
      {"Controversial strict", prompt_verdict(Safety::kControversial, {"PII"}),
       ControversialPolicy::kStrict, true},
      {"Controversial loose", prompt_verdict(Safety::kControversial, {"PII"}),
       ControversialPolicy::kLoose, false},
      {"Controversial per_category listed", prompt_verdict(Safety::kControversial, {"Violent"}),
       ControversialPolicy::kPerCategory, true},
      {"Controversial per_category unlisted", prompt_verdict(Safety::kControversial, {"PII"}),
       ControversialPolicy::kPerCategory, false},
      {"Unsafe Jailbreak", prompt_verdict(Safety::kUnsafe, {"Jailbreak"}),
       ControversialPolicy::kStrict, true},
      // Jailbreak is harmful whatever the policy makes of the safety line.
      {"Controversial loose Jailbreak", prompt_verdict(Safety::kControversial, {"Jailbreak"}),
       ControversialPolicy::kLoose, true},
      {"Safe Jailbreak", prompt_verdict(Safety::kSafe, {"Jailbreak"}), ControversialPolicy::kStrict,
       true},
      // Not judged, or unparseable: penalised as under always.
      {"missing", std::nullopt, ControversialPolicy::kStrict, false},
  };
  return cases;
}

TEST(PromptAware, PromptCountsAsHarmfulWhenUnsafeOrJailbreak) {
  for (const PromptCase& c : prompt_cases()) {
    if (!c.prompt) continue;
    EXPECT_EQ(prompt_counts_as_harmful(settings(RewardType::kHybrid, c.policy), *c.prompt),
              c.harmful)
        << c.name;
  }
}

TEST(PromptAware, HybridRefusalOfAHarmfulPromptIsJustifiedWithRewardH) {
  for (const PromptCase& c : prompt_cases()) {
    SCOPED_TRACE(c.name);
    const RewardSettings s = prompt_aware(RewardType::kHybrid, c.policy);
    const RewardContext context{false, c.prompt};
    if (c.harmful) {
      // H uncapped: a high and a low H both pass through.
      expect_result(compute_reward(s, kSafeRefusal, std::nullopt, 2, context), 2,
                    "justified_refusal", true, true);
      expect_result(compute_reward(s, kSafeRefusal, kSafe, -7, context), -7, "justified_refusal",
                    true, true);
    } else {
      // An over-refusal (or a refusal of a prompt of unknown verdict): Eq. 2's cap.
      expect_result(compute_reward(s, kSafeRefusal, std::nullopt, 2, context), -5, "refusal", true,
                    true);
      expect_result(compute_reward(s, kSafeRefusal, kSafe, -7, context), -7, "refusal", true, true);
    }
    // Unsafe answers and helpful answers are scored as under always, whatever the prompt.
    expect_result(compute_reward(s, kUnsafe, std::nullopt, 2, context), -10, "unsafe", false,
                  false);
    expect_result(compute_reward(s, kUnsafeRefusal, std::nullopt, 2, context), -10, "unsafe", false,
                  true);
    expect_result(compute_reward(s, kSafeRefusal, kUnsafe, 2, context), -10, "unsafe", false, true);
    expect_result(compute_reward(s, kSafe, std::nullopt, 2, context), 2, "helpful", true, false);
  }
}

TEST(PromptAware, JustifiedRefusalRewardIsASetting) {
  RewardSettings s = prompt_aware(RewardType::kHybrid);
  s.justified_refusal_reward = 0.5;
  const RewardContext harmful{false, prompt_verdict(Safety::kUnsafe, {"Violent"})};
  const RewardContext safe{false, prompt_verdict(Safety::kSafe)};
  expect_result(compute_reward(s, kSafeRefusal, std::nullopt, 2, harmful), 0.5, "justified_refusal",
                true, true);
  expect_result(compute_reward(s, kSafeRefusal, std::nullopt, -7, harmful), 0.5,
                "justified_refusal", true, true);
  expect_result(compute_reward(s, kSafeRefusal, std::nullopt, 2, safe), -5, "refusal", true, true);
  expect_result(compute_reward(s, kSafe, std::nullopt, 2, harmful), 2, "helpful", true, false);
  // hybrid still needs H: the other cases use it.
  EXPECT_THROW(compute_reward(s, kSafeRefusal, std::nullopt, std::nullopt, harmful),
               util::InputError);
}

TEST(PromptAware, AlwaysIgnoresThePromptVerdict) {
  for (const PromptCase& c : prompt_cases()) {
    const RewardContext context{false, c.prompt};
    expect_result(compute_reward(settings(RewardType::kHybrid, c.policy), kSafeRefusal,
                                 std::nullopt, 2, context),
                  -5, "refusal", true, true);
  }
}

TEST(PromptAware, GuardOnlyAndHelpfulnessOnlyAreUnchanged) {
  for (const PromptCase& c : prompt_cases()) {
    SCOPED_TRACE(c.name);
    const RewardContext context{false, c.prompt};
    const RewardSettings guard_only = prompt_aware(RewardType::kGuardOnly, c.policy);
    expect_result(compute_reward(guard_only, kSafeRefusal, std::nullopt, std::nullopt, context),
                  1.0, "safe", true, true);
    expect_result(compute_reward(guard_only, kUnsafe, std::nullopt, std::nullopt, context), 0.0,
                  "unsafe", false, false);
    expect_result(compute_reward(guard_only, kSafe, std::nullopt, std::nullopt, context), 1.0,
                  "safe", true, false);
    const RewardSettings h_only = prompt_aware(RewardType::kHelpfulnessOnly, c.policy);
    expect_result(compute_reward(h_only, kSafeRefusal, std::nullopt, 2, context), 2, "helpfulness",
                  true, true);
    expect_result(compute_reward(h_only, kUnsafe, std::nullopt, 2, context), 2, "helpfulness",
                  false, false);
    expect_result(compute_reward(h_only, kSafe, std::nullopt, 2, context), 2, "helpfulness", true,
                  false);
  }
}

// judge: all_turns: an unsafe earlier turn makes the whole trajectory unsafe.
TEST(OtherTurnUnsafe, MakesTheTrajectoryUnsafeUnderEveryType) {
  const RewardContext other_unsafe{true, std::nullopt};
  expect_result(compute_reward(kHybrid, kSafe, std::nullopt, 3.5, other_unsafe), -10, "unsafe",
                false, false);
  expect_result(compute_reward(kHybrid, kSafeRefusal, kSafe, 2, other_unsafe), -10, "unsafe", false,
                true);
  expect_result(compute_reward(kHybrid, kSafe, std::nullopt, -12, other_unsafe), -12, "unsafe",
                false, false);
  expect_result(compute_reward(kGuardOnly, kSafe, kSafe, std::nullopt, other_unsafe), 0.0, "unsafe",
                false, false);
  expect_result(compute_reward(kHelpfulnessOnly, kSafe, std::nullopt, 3.5, other_unsafe), 3.5,
                "helpfulness", false, false);
  // Unsafe wins over a justified refusal too.
  const RewardContext harmful_and_unsafe{true, prompt_verdict(Safety::kUnsafe, {"Violent"})};
  expect_result(compute_reward(prompt_aware(RewardType::kHybrid), kSafeRefusal, std::nullopt, 2,
                               harmful_and_unsafe),
                -10, "unsafe", false, true);
  // The default context is the one-turn rollout of Eq. 1 and 2.
  expect_result(compute_reward(kHybrid, kSafe, std::nullopt, 3.5, RewardContext{}), 3.5, "helpful",
                true, false);
}

TEST(PromptAware, PromptJudgedWhenAskedOrNeeded) {
  RewardSettings s;
  EXPECT_FALSE(prompt_judged(s, std::nullopt));
  EXPECT_TRUE(prompt_judged(s, true));
  s.judge_prompt = true;
  EXPECT_TRUE(prompt_judged(s, std::nullopt));
  EXPECT_FALSE(prompt_judged(s, false));  // the sample's own field wins
  s.refusal_penalty = RefusalPenalty::kPromptAware;
  EXPECT_TRUE(prompt_judged(s, false));  // prompt_aware cannot work without it
  s.judge_prompt = false;
  EXPECT_TRUE(prompt_judged(s, std::nullopt));
}

TEST(Settings, ConversationDefaultsAreTodaysBehaviour) {
  RewardSettings s;
  EXPECT_EQ(s.refusal_penalty, RefusalPenalty::kAlways);
  EXPECT_FALSE(s.justified_refusal_reward.has_value());
  EXPECT_EQ(s.judge, JudgeTurns::kLast);
  EXPECT_FALSE(s.judge_prompt);
  EXPECT_FALSE(s.judge_tool_results);
}

TEST(Names, ParseAndPrintRoundTrip) {
  for (RewardType type :
       {RewardType::kHybrid, RewardType::kGuardOnly, RewardType::kHelpfulnessOnly}) {
    EXPECT_EQ(parse_reward_type(reward_type_name(type)), type);
  }
  for (ControversialPolicy policy : {ControversialPolicy::kStrict, ControversialPolicy::kLoose,
                                     ControversialPolicy::kPerCategory}) {
    EXPECT_EQ(parse_controversial_policy(controversial_policy_name(policy)), policy);
  }
  EXPECT_EQ(parse_reward_type("guard_only"), RewardType::kGuardOnly);
  EXPECT_EQ(parse_controversial_policy("per_category"), ControversialPolicy::kPerCategory);
  EXPECT_EQ(parse_truncated_thinking_policy("judge_as_is"), TruncatedThinkingPolicy::kJudgeAsIs);
  EXPECT_EQ(truncated_thinking_policy_name(TruncatedThinkingPolicy::kPenalize), "penalize");
  EXPECT_EQ(parse_refusal_penalty("prompt_aware"), RefusalPenalty::kPromptAware);
  EXPECT_EQ(refusal_penalty_name(RefusalPenalty::kAlways), "always");
  EXPECT_EQ(parse_judge_turns("all_turns"), JudgeTurns::kAllTurns);
  EXPECT_EQ(judge_turns_name(JudgeTurns::kLast), "last");
}

TEST(Names, UnknownNamesListTheValidOnes) {
  EXPECT_EQ(input_error([] { parse_reward_type("Hybrid"); }),
            "unknown reward type \"Hybrid\"; valid values: hybrid, guard_only, helpfulness_only");
  EXPECT_EQ(input_error([] { parse_controversial_policy("lenient"); }),
            "unknown controversial policy \"lenient\"; valid values: strict, loose, per_category");
  EXPECT_EQ(input_error([] { parse_refusal_penalty("never"); }),
            "unknown refusal penalty \"never\"; valid values: always, prompt_aware");
  EXPECT_EQ(input_error([] { parse_judge_turns("all"); }),
            "unknown judge setting \"all\"; valid values: last, all_turns");
}

}  // namespace
}  // namespace safrl::reward
