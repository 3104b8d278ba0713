// The output line of a scored sample, as `safrl score` writes it and the server replies it
// (docs/score.md, docs/protocol.md), and what can be read back from one.
//
// The line: {"id", "step", "reward", "helpfulness", "case", "safe", "refusal", "answer":
// {verdict}, "thinking": {verdict} | null, "truncated_thinking", "tokens", "meta"?}; each verdict
// also says how it was decoded ("decoding") and the safety labels' mass over the whole
// vocabulary ("safety_mass"). Only when present: "prompt_verdict": {verdict, "cached"};
// "turns": [{"index", "answer", "thinking", "helpfulness", "reward", "case", "safe",
// "refusal"}] (all_turns; the response last, index = len(messages)); "tool_results": [{"index",
// "verdict", "injection"}] (injection null when the verdict did not parse).
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

}  // namespace safrl::reward
