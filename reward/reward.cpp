#include "reward/reward.h"

#include <algorithm>
#include <cmath>

#include "util/enum_names.h"
#include "util/error.h"

namespace safrl::reward {
namespace {

constexpr util::EnumName<RewardType> kRewardTypeNames[] = {
    {RewardType::kHybrid, "hybrid"},
    {RewardType::kGuardOnly, "guard_only"},
    {RewardType::kHelpfulnessOnly, "helpfulness_only"},
};
constexpr util::EnumName<ControversialPolicy> kPolicyNames[] = {
    {ControversialPolicy::kStrict, "strict"},
    {ControversialPolicy::kLoose, "loose"},
    {ControversialPolicy::kPerCategory, "per_category"},
};
constexpr util::EnumName<TruncatedThinkingPolicy> kTruncatedNames[] = {
    {TruncatedThinkingPolicy::kPenalize, "penalize"},
    {TruncatedThinkingPolicy::kJudgeAsIs, "judge_as_is"},
};
constexpr util::EnumName<RefusalPenalty> kRefusalPenaltyNames[] = {
    {RefusalPenalty::kAlways, "always"},
    {RefusalPenalty::kPromptAware, "prompt_aware"},
};
constexpr util::EnumName<JudgeTurns> kJudgeTurnsNames[] = {
    {JudgeTurns::kLast, "last"},
    {JudgeTurns::kAllTurns, "all_turns"},
};
constexpr util::EnumName<SafetySignal> kSafetySignalNames[] = {
    {SafetySignal::kVerdict, "verdict"},
    {SafetySignal::kExpected, "expected"},
};

// H for the reward types that use it. A NaN or infinite H would reach the trainer as a silently
// broken reward: the model failed, not the request.
double required_helpfulness(const RewardSettings& settings, std::optional<double> helpfulness) {
  if (!helpfulness) {
    throw util::InputError(util::cat("reward type ", reward_type_name(settings.type),
                                     " needs a helpfulness score, and none was given"));
  }
  if (!std::isfinite(*helpfulness)) {
    throw util::ModelError(
        util::cat("the helpfulness model scored ", *helpfulness, ", which is not a finite number"));
  }
  return *helpfulness;
}

// P(unsafe) of a judged verdict for the expected signal: from its probabilities, or 0 or 1 by
// its label where they were not computed (a verdict parsed from text).
double expected_unsafe(const RewardSettings& settings, const Verdict& verdict) {
  return unsafe_probability(settings, verdict)
      .value_or(counts_as_unsafe(settings, verdict) ? 1 : 0);
}

}  // namespace

bool counts_as_unsafe(const RewardSettings& settings, const Verdict& verdict) {
  switch (verdict.safety) {
    case Safety::kSafe:
      return false;
    case Safety::kUnsafe:
      return true;
    case Safety::kControversial:
      break;
  }
  switch (settings.controversial) {
    case ControversialPolicy::kStrict:
      return true;
    case ControversialPolicy::kLoose:
      return false;
    case ControversialPolicy::kPerCategory:
      break;
  }
  const std::vector<std::string>& listed = settings.controversial_unsafe_categories;
  return std::any_of(verdict.categories.begin(), verdict.categories.end(),
                     [&](const std::string& category) {
                       return std::find(listed.begin(), listed.end(), category) != listed.end();
                     });
}

std::optional<double> unsafe_probability(const RewardSettings& settings, const Verdict& verdict) {
  const auto& [p_safe, p_unsafe, p_controversial] = verdict.safety_probs;
  const double total = p_safe + p_unsafe + p_controversial;
  if (!std::isfinite(total) || total <= 0) return std::nullopt;
  // Whether Controversial counts as unsafe for this verdict: the policy's answer for a
  // Controversial verdict with the same categories.
  Verdict controversial = verdict;
  controversial.safety = Safety::kControversial;
  const double counted = counts_as_unsafe(settings, controversial) ? p_controversial : 0;
  return (p_unsafe + counted) / total;
}

bool prompt_counts_as_harmful(const RewardSettings& settings, const Verdict& prompt) {
  const std::vector<std::string>& categories = prompt.categories;
  return counts_as_unsafe(settings, prompt) ||
         std::find(categories.begin(), categories.end(), "Jailbreak") != categories.end();
}

bool prompt_judged(const RewardSettings& settings, std::optional<bool> per_sample) {
  return settings.refusal_penalty == RefusalPenalty::kPromptAware ||
         per_sample.value_or(settings.judge_prompt);
}

RewardResult compute_reward(const RewardSettings& settings, const Verdict& answer,
                            const std::optional<Verdict>& thinking,
                            std::optional<double> helpfulness, const RewardContext& context) {
  if (!answer.refusal) {
    throw util::InputError(
        "the answer's verdict has no refusal line; it must come from response moderation");
  }
  const bool thinking_judged = settings.judge_thinking && thinking.has_value();
  const bool unsafe = context.other_turn_unsafe || counts_as_unsafe(settings, answer) ||
                      (thinking_judged && counts_as_unsafe(settings, *thinking));
  // A refusal is justified only when the prompt was judged harmful; an unknown prompt is
  // treated as safe, so prompt_aware never pays more than always without evidence.
  const bool justified = settings.refusal_penalty == RefusalPenalty::kPromptAware &&
                         context.prompt && prompt_counts_as_harmful(settings, *context.prompt);

  RewardResult result;
  result.safe = !unsafe;
  result.refusal = *answer.refusal;
  // The reward of the sample were it safe, and were it unsafe, and the case when it is safe.
  double safe_reward = 0, unsafe_reward = 0;
  std::string_view safe_case;
  switch (settings.type) {
    case RewardType::kHybrid: {
      const double h = required_helpfulness(settings, helpfulness);
      unsafe_reward = std::min(settings.unsafe_cap, h);
      if (result.refusal && justified) {
        safe_reward = settings.justified_refusal_reward.value_or(h);
        safe_case = kCaseJustifiedRefusal;
      } else if (result.refusal) {
        safe_reward = std::min(settings.refusal_cap, h);
        safe_case = kCaseRefusal;
      } else {
        safe_reward = h;
        safe_case = kCaseHelpful;
      }
      break;
    }
    case RewardType::kGuardOnly:
      safe_reward = 1.0;
      unsafe_reward = 0.0;
      safe_case = kCaseSafe;
      break;
    case RewardType::kHelpfulnessOnly:
      safe_reward = unsafe_reward = required_helpfulness(settings, helpfulness);
      safe_case = kCaseHelpfulness;
      break;
  }
  const bool guarded = settings.type != RewardType::kHelpfulnessOnly;
  result.reward_case = unsafe && guarded ? kCaseUnsafe : safe_case;
  result.reward = unsafe ? unsafe_reward : safe_reward;
  result.channels.safety = unsafe ? 0 : 1;
  if (settings.safety_signal == SafetySignal::kExpected) {
    const double p_safe =
        context.other_turn_unsafe
            ? 0.0
            : (1 - expected_unsafe(settings, answer)) *
                  (thinking_judged ? 1 - expected_unsafe(settings, *thinking) : 1.0);
    result.channels.safety = p_safe;
    if (guarded) result.reward = p_safe * safe_reward + (1 - p_safe) * unsafe_reward;
  }
  result.channels.refusal = result.refusal ? 1 : 0;
  result.channels.helpfulness = helpfulness;
  return result;
}

RewardResult unparseable_result(const RewardSettings& settings, std::optional<double> helpfulness) {
  RewardResult result;
  result.reward_case = kCaseUnparseable;
  result.channels.helpfulness = helpfulness;
  switch (settings.type) {
    case RewardType::kHybrid:
      result.reward = std::min(settings.unsafe_cap, required_helpfulness(settings, helpfulness));
      break;
    case RewardType::kGuardOnly:
      result.reward = 0.0;
      break;
    case RewardType::kHelpfulnessOnly:
      result.reward = required_helpfulness(settings, helpfulness);
      break;
  }
  return result;
}

RewardType parse_reward_type(std::string_view name) {
  return util::parse_name(kRewardTypeNames, name, "reward type");
}

RewardResult truncated_result(const RewardSettings& settings,
                              const std::optional<Verdict>& thinking,
                              std::optional<double> helpfulness) {
  RewardResult result = unparseable_result(settings, helpfulness);
  const bool judged = settings.judge_thinking && thinking.has_value();
  const bool unsafe = judged && counts_as_unsafe(settings, *thinking);
  result.reward_case = unsafe ? kCaseUnsafe : kCaseTruncated;
  result.safe = judged && !unsafe;
  result.channels.safety = result.safe ? 1 : 0;
  return result;
}

TruncatedThinkingPolicy parse_truncated_thinking_policy(std::string_view name) {
  return util::parse_name(kTruncatedNames, name, "truncated_thinking policy");
}

std::string_view truncated_thinking_policy_name(TruncatedThinkingPolicy policy) {
  return util::name_of(kTruncatedNames, policy);
}

ControversialPolicy parse_controversial_policy(std::string_view name) {
  return util::parse_name(kPolicyNames, name, "controversial policy");
}

RefusalPenalty parse_refusal_penalty(std::string_view name) {
  return util::parse_name(kRefusalPenaltyNames, name, "refusal penalty");
}

std::string_view refusal_penalty_name(RefusalPenalty penalty) {
  return util::name_of(kRefusalPenaltyNames, penalty);
}

JudgeTurns parse_judge_turns(std::string_view name) {
  return util::parse_name(kJudgeTurnsNames, name, "judge setting");
}

std::string_view judge_turns_name(JudgeTurns turns) {
  return util::name_of(kJudgeTurnsNames, turns);
}

SafetySignal parse_safety_signal(std::string_view name) {
  return util::parse_name(kSafetySignalNames, name, "safety signal");
}

std::string_view safety_signal_name(SafetySignal signal) {
  return util::name_of(kSafetySignalNames, signal);
}

std::string_view reward_type_name(RewardType type) {
  return util::name_of(kRewardTypeNames, type);
}

std::string_view controversial_policy_name(ControversialPolicy policy) {
  return util::name_of(kPolicyNames, policy);
}

}  // namespace safrl::reward
