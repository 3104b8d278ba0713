// The output line of a scored sample, as `safrl score` writes it and the server replies it
// (docs/score.md, docs/protocol.md), and what can be read back from one.
//
// The line: {"id", "step", "reward", "helpfulness", "case", "channels": {"safety", "refusal",
// "helpfulness"} (RewardChannels), "safe", "refusal", "answer": {verdict}, "thinking": {verdict}
// | null, "truncated_thinking", "tokens", "answer_tokens" (the answer's guard tokens, the
// monitors' length; null when not counted), "injection": [{"where", "markers"}]
// (reward/guard_injection.h; [] when none), "meta"?}; each verdict
// also says how it was decoded ("decoding") and the safety labels' mass over the whole
// vocabulary ("safety_mass"). Only when present: "prompt_verdict": {verdict, "cached"};
// "turns": [{"index", "answer", "thinking", "helpfulness", "reward", "case", "safe",
// "refusal"}] (all_turns; the response last, index = len(messages)); "tool_results": [{"index",
// "verdict", "injection"}] (injection null when the verdict did not parse); "token_safety"
// (reward/stream_verdict.h's token_safety_json, offsets in code points of the response as sent;
// null when no labels were computed for the answer) when the sample asks for it.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include "reward/reward.h"
#include "reward/sample.h"
#include "reward/scored_sample.h"
#include "reward/step_stats.h"

namespace safrl::reward {

nlohmann::json score_line_json(const Sample& sample, const ScoredSample& scored,
                               const RewardSettings& settings);

// The step-statistics outcome of an output line written by score_line_json, so statistics can
// be computed from an output file (a resumed run's earlier lines included). Throws
// util::InputError for a line that is not such an output.
SampleOutcome outcome_from_output(const nlohmann::json& line, const RewardSettings& settings);

// The ScoredSample an output line holds, as far as it holds it (the inverse of score_line_json:
// score_line_json(line_sample(line), scored_from_line(line), settings) gives the line back):
// the verdicts with their reports, H, the results, tokens, the prompt verdict, the turns, the
// tool results, the injection findings and the token safety. A response whose "thinking" is null
// was not judged. Throws util::InputError for a line that is not such an output.
ScoredSample scored_from_line(const nlohmann::json& line);

// What score_line_json needs of the line's sample: id, step, truncated_thinking, meta and
// whether it asked for token_safety.
Sample line_sample(const nlohmann::json& line);

}  // namespace safrl::reward
