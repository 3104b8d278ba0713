// Scoring again without judging again (`safrl score --rescore`, docs/score.md): the rewards of a
// `safrl score` output line recomputed under other reward settings from the verdicts and
// helpfulness scores the line holds, without any model.
//
// Every `safrl score` line carries "models": models_hash() of the config that scored it: the
// first 16 hex digits of the SHA-256 of model_settings_json() (reward/config.h) as compact JSON,
// the settings that decide which model outputs the line holds and what they say. A line is
// rescored only when the new config's models hash is the line's, with one exception: a config
// that turns reward.judge_thinking off rescores lines judged with it on (their thinking verdicts
// are dropped, as a fresh run would not have them). What the rescore refuses, each as a
// util::InputError naming the setting and what to do:
//   - a line without "models" (written before the field existed, or a server's reply);
//   - other guard or helpfulness settings, or runtime dtypes (the verdicts would differ);
//   - other judging switches: judge_thinking turned on (a null "thinking" does not tell whether
//     the response had a trace), judge (last | all_turns), whether the prompt is judged
//     (judge_prompt, refusal_penalty prompt_aware), judge_tool_results: the line does not record
//     whether its own sample asked for them, so only the settings that scored it rebuild the
//     rewards a fresh run would give;
//   - on_injection strip turned on or off for a line with an injection finding (its texts would
//     be judged neutralised, or were);
//   - a reward that needs H where the line has none (guard_only scored without a finite H).
// Everything else is arithmetic on the outputs and is recomputed: reward.type, the caps, the
// Controversial policy and its categories, refusal_penalty and justified_refusal_reward (given
// the prompt verdicts), truncated_thinking, safety_signal (probabilities null: the verdict's
// label, as docs/reward.md says), on_injection report | unsafe. The line's other fields (tokens,
// answer_tokens, injection, meta, ...) are kept. Pure functions; thread-safe.
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "reward/config.h"

namespace safrl::reward {

// The 16 hex digits a `safrl score` line carries as "models".
std::string models_hash(const Config& config);

class Rescorer {
 public:
  explicit Rescorer(const Config& config);

  // `line` rescored under the config's reward settings, with the same fields. Throws
  // util::InputError saying why it cannot be (the caller adds where the line is).
  nlohmann::json rescore(const nlohmann::json& line) const;

 private:
  Config config_;
  std::string hash_;
  // The models hash of the config with other judging switches, and those switches.
  std::map<std::string, nlohmann::json> other_judging_;
};

}  // namespace safrl::reward
