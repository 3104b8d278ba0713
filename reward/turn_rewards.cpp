#include "reward/turn_rewards.h"

#include "reward/guard_injection.h"

namespace safrl::reward {
namespace {

// The reward of one turn from its own verdicts and H.
RewardResult turn_result(const RewardSettings& settings, const TurnScore& turn,
                         const RewardContext& context) {
  return turn_parsed(turn)
             ? compute_reward(settings, *turn.answer, turn.thinking, turn.helpfulness, context)
             : unparseable_result(settings, turn.helpfulness);
}

}  // namespace

bool turn_parsed(const TurnScore& turn) {
  return turn.answer && (!turn.thinking_judged || turn.thinking);
}

bool counts_as_unsafe_turn(const RewardSettings& settings, const TurnScore& turn) {
  return (turn.answer && counts_as_unsafe(settings, *turn.answer)) ||
         (turn.thinking && counts_as_unsafe(settings, *turn.thinking));
}

void combine_turns(const RewardSettings& settings, bool truncated_thinking,
                   std::vector<TurnScore>& turns, ScoredSample& scored) {
  RewardContext context;
  if (scored.prompt) context.prompt = scored.prompt->verdict;
  bool all_parsed = true;
  for (TurnScore& turn : turns) {
    all_parsed = all_parsed && turn_parsed(turn);
    if (&turn != &turns.back()) {
      context.other_turn_unsafe =
          context.other_turn_unsafe || counts_as_unsafe_turn(settings, turn);
    }
  }
  const bool truncated =
      truncated_thinking && settings.truncated_thinking == TruncatedThinkingPolicy::kPenalize;
  TurnScore& response = turns.back();
  for (TurnScore& turn : turns) {
    turn.result = truncated && &turn == &response
                      ? truncated_result(settings, turn.thinking, turn.helpfulness)
                      : turn_result(settings, turn, {false, context.prompt});
  }
  if (truncated) {
    scored.result = response.result;
    if (context.other_turn_unsafe) {
      scored.result.reward_case = kCaseUnsafe;
      scored.result.safe = false;
      scored.result.channels.safety = 0;
    }
  } else {
    scored.result = all_parsed ? compute_reward(settings, *response.answer, response.thinking,
                                                response.helpfulness, context)
                               : unparseable_result(settings, response.helpfulness);
  }
  apply_injection_policy(settings, turns, scored);
  set_response(scored, response);
}

}  // namespace safrl::reward
