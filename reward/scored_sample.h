// What scoring one sample found: the verdicts of each judged guard call, H and the reward. The
// scorer fills it (reward/scorer.h); an output line holds it (reward/score_line.h), so statistics
// and rewards can be computed again from a file without the models.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "reward/decoded_by.h"
#include "reward/reward.h"
#include "reward/step_stats.h"
#include "reward/stream_verdict.h"
#include "reward/verdict.h"

namespace safrl::reward {

// What the output line says of one guard output besides its verdict.
struct GuardReport {
  std::string text;  // the guard's raw output
  DecodedBy decoded_by = DecodedBy::kFree;
  std::optional<double> safety_mass;
};

// One judged assistant turn: its own verdicts, H and reward.
struct TurnScore {
  size_t index = 0;                 // the message index; messages.size() for the response
  std::optional<Verdict> answer;    // nullopt: the guard's output did not parse
  std::optional<Verdict> thinking;  // nullopt: not judged, or did not parse
  bool thinking_judged = false;
  GuardReport answer_report, thinking_report;
  std::optional<double> helpfulness;
  RewardResult result;
};

// The prompt moderation of the last user turn.
struct PromptScore {
  std::optional<Verdict> verdict;  // nullopt: did not parse
  GuardReport report;
  bool cached = false;  // from an earlier call's verdict
};

// The prompt moderation of one tool result.
struct ToolResultScore {
  size_t index = 0;  // the tool message's index
  std::optional<Verdict> verdict;
  GuardReport report;
};

// Verdict-format or guard-template text found in one judged text (reward/guard_injection.h).
struct InjectionFinding {
  std::string where;                 // "answer", "thinking" or "messages[<i>]"
  std::vector<std::string> markers;  // the kinds found, in the order of kInjectionMarkers
};

struct ScoredSample {
  // The response's verdicts.
  std::optional<Verdict> answer;    // nullopt: the guard's output did not parse (free decoding)
  std::optional<Verdict> thinking;  // nullopt: not judged, or did not parse
  bool thinking_judged = false;
  GuardReport answer_report, thinking_report;
  std::optional<double> helpfulness;  // the response's H
  RewardResult result;                // the sample's reward
  int64_t tokens = 0;                 // guard and helpfulness input tokens plus generated tokens
  // The answer's length in the guard tokenizer's tokens (the monitors' answer length); nullopt
  // when not counted (a line written before it was).
  std::optional<int64_t> answer_tokens;
  std::optional<PromptScore> prompt;  // when the prompt was judged
  // judge all_turns: every policy turn, the response last; empty otherwise.
  std::vector<TurnScore> turns;
  std::vector<ToolResultScore> tool_results;  // judge_tool_results: every tool message
  std::vector<InjectionFinding> injection;    // judged texts carrying verdict or template text
  // A Stream guard's labels of the response's answer, offsets in code points of the sample's
  // response as sent (Sample::answer_offset added); nullopt with a Gen guard, or when the
  // answer's judgement holds none. Written to the line only when the sample asks (token_safety).
  std::optional<TokenSafety> token_safety;
  // Judgements answered without running a model (reward/judgement_cache.h); not in the line.
  CacheHits cache_hits;
};

// The response as a turn: its verdicts, reports and H (the result is left default).
TurnScore response_turn(const ScoredSample& scored);

// Sets `scored`'s response fields (verdicts, reports, H) from the response turn.
void set_response(ScoredSample& scored, const TurnScore& response);

// The conversation part of a sample's step-statistics outcome.
ConversationOutcome conversation_outcome(const ScoredSample& scored,
                                         const RewardSettings& settings);

}  // namespace safrl::reward
