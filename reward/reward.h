// The SafeRL reward of one rollout from the guard's verdicts and the helpfulness score
// (Qwen3Guard technical report, section 3.5; docs/reward.md has the equations).
//
//   hybrid (Eq. 2), first matching case wins:
//     "unsafe"   min(unsafe_cap, H)   the judged thinking or the answer counts as unsafe
//     "refusal"  min(refusal_cap, H)  the answer's verdict says Refusal: Yes
//     "helpful"  H
//   guard_only (Eq. 1): "safe" 1.0 when the judged thinking and the answer are both safe, else
//     "unsafe" 0.0. Refusals are not penalised.
//   helpfulness_only: "helpfulness" H.
// refusal_penalty prompt_aware (hybrid only; docs/reward.md): a refusal of a prompt whose verdict
//   counts as harmful (prompt_counts_as_harmful) is case "justified_refusal" with reward
//   justified_refusal_reward, or H uncapped when that is unset; only the refusals of prompts
//   that count as safe keep the refusal cap (over-refusals). Without a prompt verdict (not
//   judged, or unparseable) a refusal is capped as under always. guard_only does not penalise
//   refusals and helpfulness_only ignores the guard, so prompt_aware changes neither.
// RewardContext::other_turn_unsafe (judge: all_turns): another policy turn of the trajectory
//   counts as unsafe, so the whole trajectory does (case "unsafe", safe = false).
// safety_signal expected (docs/reward.md): reward = P(safe) * R_safe + (1 - P(safe)) * R_unsafe,
//   R_unsafe the unsafe case's reward (hybrid min(unsafe_cap, H), guard_only 0) and R_safe the
//   reward of the same sample were it safe (hybrid: the refusal, justified_refusal or helpful
//   case's; guard_only 1); P(safe) = (1 - p_u(answer)) * (1 - p_u(thinking)), the thinking's
//   factor only when it is judged (the two read as independent), p_u = unsafe_probability(), or
//   0 or 1 by counts_as_unsafe() where the probabilities were not computed; P(safe) = 0 when
//   another turn counts as unsafe. The case, safe and refusal stay the verdicts'.
//   helpfulness_only ignores it; unparseable_result and truncated_result do too.
// "Counts as unsafe" is counts_as_unsafe(): Unsafe always; Controversial per the policy (strict:
// unsafe, loose: safe, per_category: unsafe iff one of its categories is listed). Eq. 1 calls a
// verdict safe only when the guard said Safe, which is the strict policy; the other policies apply
// to guard_only too, so that Eq. 1 and Eq. 2 always agree on what is unsafe.
// The thinking is judged when judge_thinking is set and a thinking verdict is given.
// A guard output that could not be parsed is never read as Safe: unparseable_result() scores it
// as unsafe (case "unparseable").
// H must be finite; it is required by hybrid and helpfulness_only and ignored by guard_only.
// Contract violations (missing or non-finite H, an answer verdict without a refusal line) throw
// util::InputError. Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reward/verdict.h"

namespace safrl::reward {

enum class RewardType { kHybrid, kGuardOnly, kHelpfulnessOnly };

// What a Controversial verdict counts as.
enum class ControversialPolicy {
  kStrict,       // unsafe (the official F1 evaluation; default)
  kLoose,        // safe
  kPerCategory,  // unsafe iff it names a category in controversial_unsafe_categories
};

// A response cut off inside its thinking trace has no answer. UNCONFIRMED in the report, which
// does not say; docs/reward.md gives the reasons for the default.
enum class TruncatedThinkingPolicy {
  kPenalize,   // the lowest reward of the type (truncated_result), whatever the empty answer's
               // verdict: an unfinished response must never earn what a safe answer earns
  kJudgeAsIs,  // the empty answer is judged like any answer (a safe trace earns a safe reward)
};

// Which refusals Eq. 2 penalises.
enum class RefusalPenalty {
  kAlways,       // every refusal (Eq. 2 as printed; default)
  kPromptAware,  // only refusals of prompts that count as safe (over-refusals)
};

// What the safety part of the reward reads (docs/reward.md, "The expected safety signal").
enum class SafetySignal {
  kVerdict,   // the verdicts' labels: safe or unsafe (default; Eq. 1 and 2 as printed)
  kExpected,  // the expectation over the guard's label probabilities (docs/reward.md)
};

// What a sample whose judged texts carry verdict-format or guard-template text earns
// (reward/guard_injection.h; docs/reward.md, "The guard-injection shield").
enum class InjectionPolicy {
  kReport,  // scored as judged; the finding is only reported (default)
  kUnsafe,  // scored by injection_result(): case "injection", the lowest reward of the type
  kStrip,   // the guard judges the texts with the markers neutralised
};

// Which assistant turns of a conversation are judged.
enum class JudgeTurns {
  kLast,      // the response only (default; today's behaviour)
  kAllTurns,  // every policy turn, each with the conversation before it (docs/reward.md)
};

struct RewardSettings {
  RewardType type = RewardType::kHybrid;
  // Eq. 2's caps: an unsafe rollout scores at most unsafe_cap, a refusal at most refusal_cap.
  double unsafe_cap = -10;
  double refusal_cap = -5;
  // Whether Controversial counts as unsafe in Eq. 2 is UNCONFIRMED in the report; strict is the
  // default because Eq. 1 reads it that way.
  ControversialPolicy controversial = ControversialPolicy::kStrict;
  // per_category only: the response categories that make a Controversial verdict unsafe.
  std::vector<std::string> controversial_unsafe_categories;
  // Whether the thinking trace's verdict enters the reward (the report judges it).
  bool judge_thinking = true;
  // What a response cut off inside its thinking (no </think>, so no answer) earns.
  TruncatedThinkingPolicy truncated_thinking = TruncatedThinkingPolicy::kPenalize;
  // always is Eq. 2 as printed, hence the default; prompt_aware needs the prompt's verdict.
  RefusalPenalty refusal_penalty = RefusalPenalty::kAlways;
  // prompt_aware: the reward of a refusal of a harmful prompt; nullopt: H (uncapped).
  std::optional<double> justified_refusal_reward;
  // Defaults for samples that do not say (the sample's own fields win).
  JudgeTurns judge = JudgeTurns::kLast;
  bool judge_prompt = false;        // run prompt moderation on the last user turn
  bool judge_tool_results = false;  // run prompt moderation on each tool result (injections)
  // verdict is Eq. 1 and 2 as printed, hence the default.
  SafetySignal safety_signal = SafetySignal::kVerdict;
  // report changes no reward, hence the default.
  InjectionPolicy on_injection = InjectionPolicy::kReport;
};

// RewardResult::reward_case values.
inline constexpr std::string_view kCaseUnsafe = "unsafe";
inline constexpr std::string_view kCaseRefusal = "refusal";
inline constexpr std::string_view kCaseHelpful = "helpful";
inline constexpr std::string_view kCaseSafe = "safe";
inline constexpr std::string_view kCaseHelpfulness = "helpfulness";
inline constexpr std::string_view kCaseUnparseable = "unparseable";
inline constexpr std::string_view kCaseTruncated = "truncated";
inline constexpr std::string_view kCaseJustifiedRefusal = "justified_refusal";
inline constexpr std::string_view kCaseInjection = "injection";

// The named parts of a reward, for trainers that weigh or normalise them apart (TRL's
// reward_weights, verl's GDPO keys; docs/reward.md, "Reward channels").
struct RewardChannels {
  // safety_signal verdict: 1 when no judged verdict counts as unsafe, else 0 (0 when
  // unparseable); expected: P(safe) (docs/reward.md, "The expected safety signal").
  double safety = 0;
  double refusal = 0;                 // 1 when the answer's verdict says Refusal: Yes, else 0
  std::optional<double> helpfulness;  // H; nullopt when not computed
};

struct RewardResult {
  double reward = 0;
  std::string reward_case;  // one of the kCase* names: which branch produced the reward
  bool safe = false;        // no judged verdict counts as unsafe (false when unparseable)
  bool refusal = false;     // the answer's verdict says Refusal: Yes (false when unparseable)
  RewardChannels channels;
};

// Whether `verdict` counts as unsafe under `settings.controversial`.
bool counts_as_unsafe(const RewardSettings& settings, const Verdict& verdict);

// P(the verdict counts as unsafe) from its label probabilities under settings.controversial:
// p_U + p_C (strict), p_U (loose), p_U + (p_C when the verdict names a listed category, else 0)
// (per_category), the three renormalised to sum to 1; nullopt when they were not computed.
std::optional<double> unsafe_probability(const RewardSettings& settings, const Verdict& verdict);

// Whether a prompt verdict (prompt task) makes a refusal justified: it counts as unsafe under
// settings.controversial, or it names the Jailbreak category.
bool prompt_counts_as_harmful(const RewardSettings& settings, const Verdict& prompt);

// Whether the prompt is judged for a sample: prompt_aware always needs it; otherwise the
// sample's own judge_prompt when it gives one, else settings.judge_prompt.
bool prompt_judged(const RewardSettings& settings, std::optional<bool> per_sample);

// What the reward knows beyond the judged turn itself.
struct RewardContext {
  bool other_turn_unsafe = false;  // another policy turn counts as unsafe (judge: all_turns)
  std::optional<Verdict> prompt;   // the prompt's verdict, when judged and parsed
};

// The reward of a rollout whose answer verdict (response task) is `answer`, whose thinking
// verdict is `thinking` (nullopt when there was no trace), and whose helpfulness score is
// `helpfulness`. Throws util::InputError when H is needed but missing or when `answer` has no
// refusal verdict, and util::ModelError when H is needed and not finite (guard_only ignores H).
// `context` defaults to a one-turn rollout without a prompt verdict (Eq. 1 and 2 as printed).
RewardResult compute_reward(const RewardSettings& settings, const Verdict& answer,
                            const std::optional<Verdict>& thinking,
                            std::optional<double> helpfulness, const RewardContext& context = {});

// The conservative result for a rollout with an unparseable guard output (answer or judged
// thinking): hybrid min(unsafe_cap, H), guard_only 0.0, helpfulness_only H (the guard does not
// enter that reward); case "unparseable", safe = false, refusal = false. Throws like
// compute_reward() when H is needed.
RewardResult unparseable_result(const RewardSettings& settings, std::optional<double> helpfulness);

// The result for a response cut off inside its thinking under TruncatedThinkingPolicy::kPenalize:
// the reward of unparseable_result (the lowest of the type); case "unsafe" when the judged trace
// counts as unsafe, else "truncated"; safe when the trace was judged and is not unsafe; never a
// refusal. `thinking` is the trace's verdict when it was judged and parsed.
RewardResult truncated_result(const RewardSettings& settings,
                              const std::optional<Verdict>& thinking,
                              std::optional<double> helpfulness);

// Parse "hybrid" | "guard_only" | "helpfulness_only", and "strict" | "loose" | "per_category";
// anything else throws util::InputError listing the valid names.
RewardType parse_reward_type(std::string_view name);
ControversialPolicy parse_controversial_policy(std::string_view name);
TruncatedThinkingPolicy parse_truncated_thinking_policy(std::string_view name);  // penalize |
                                                                                 // judge_as_is
RefusalPenalty parse_refusal_penalty(std::string_view name);  // always | prompt_aware
JudgeTurns parse_judge_turns(std::string_view name);          // last | all_turns
SafetySignal parse_safety_signal(std::string_view name);      // verdict | expected

// The names the parsers accept.
std::string_view reward_type_name(RewardType type);
std::string_view controversial_policy_name(ControversialPolicy policy);
std::string_view truncated_thinking_policy_name(TruncatedThinkingPolicy policy);
std::string_view refusal_penalty_name(RefusalPenalty penalty);
std::string_view judge_turns_name(JudgeTurns turns);
std::string_view safety_signal_name(SafetySignal signal);

}  // namespace safrl::reward
