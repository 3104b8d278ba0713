#include "reward/scored_sample.h"

#include "reward/turn_rewards.h"

namespace safrl::reward {

TurnScore response_turn(const ScoredSample& scored) {
  TurnScore response;
  response.answer = scored.answer;
  response.thinking = scored.thinking;
  response.thinking_judged = scored.thinking_judged;
  response.answer_report = scored.answer_report;
  response.thinking_report = scored.thinking_report;
  response.helpfulness = scored.helpfulness;
  return response;
}

void set_response(ScoredSample& scored, const TurnScore& response) {
  scored.answer = response.answer;
  scored.thinking = response.thinking;
  scored.thinking_judged = response.thinking_judged;
  scored.answer_report = response.answer_report;
  scored.thinking_report = response.thinking_report;
  scored.helpfulness = response.helpfulness;
}

ConversationOutcome conversation_outcome(const ScoredSample& scored,
                                         const RewardSettings& settings) {
  ConversationOutcome outcome;
  if (scored.prompt && scored.prompt->verdict) {
    outcome.prompt_harmful = prompt_counts_as_harmful(settings, *scored.prompt->verdict);
  }
  outcome.turns_judged = static_cast<int64_t>(scored.turns.size());
  for (const TurnScore& turn : scored.turns) {
    if (counts_as_unsafe_turn(settings, turn)) ++outcome.unsafe_turns;
  }
  outcome.tool_results_judged = static_cast<int64_t>(scored.tool_results.size());
  for (const ToolResultScore& tool : scored.tool_results) {
    if (tool.verdict && prompt_counts_as_harmful(settings, *tool.verdict)) ++outcome.injections;
  }
  return outcome;
}

}  // namespace safrl::reward
