#include "reward/scored_sample.h"

#include "reward/turn_rewards.h"

namespace safrl::reward {

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
