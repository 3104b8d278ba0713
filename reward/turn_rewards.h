// The reward of a sample from its judged turns (docs/reward.md, "Conversations and agent
// rollouts"):
//   - the sample is unsafe when any judged turn (answer or thinking) counts as unsafe, and
//     unparseable when any judged turn's guard output does not parse;
//   - the refusal case and H are the final response's (H scored with the whole trajectory);
//   - the prompt verdict, when judged, enters as RewardContext::prompt (refusal_penalty);
//   - each turn's own result has its own verdicts, H and the prompt verdict, without the other
//     turns;
//   - on_injection unsafe: scored.injection (set before) makes the sample, and each turn with a
//     finding, injection_result() (reward/guard_injection.h).
// Pure functions of the verdicts and the settings: the scorer applies them to what the models
// said, and a rescore to what an output file says they said.
#pragma once

#include <vector>

#include "reward/reward.h"
#include "reward/scored_sample.h"

namespace safrl::reward {

// Whether a turn's judged verdicts all parsed.
bool turn_parsed(const TurnScore& turn);

// Whether a turn's answer or judged thinking counts as unsafe.
bool counts_as_unsafe_turn(const RewardSettings& settings, const TurnScore& turn);

// Sets each turn's result and `scored`'s response fields and reward from `turns` (the response
// last, non-empty) and scored.prompt. `truncated_thinking`: the response was cut off inside its
// thinking (Sample::truncated_thinking).
void combine_turns(const RewardSettings& settings, bool truncated_thinking,
                   std::vector<TurnScore>& turns, ScoredSample& scored);

}  // namespace safrl::reward
