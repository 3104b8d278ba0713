// What the monitors need of each scored sample (SampleOutcome's monitor inputs; docs/reward.md,
// Step statistics), filled the same way by the server and by `safrl score`. Duplicates are
// counted within groups: the samples of one request (server) or of one input file (score) with
// the same step and the same conversation before the response, i.e. a GRPO group's rollouts of
// one prompt. (A request of a GRPO trainer holds one group; an OpenRLHF batch holds many prompts,
// whose refusals must not count as each other's duplicates.) Pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "reward/sample.h"
#include "reward/scored_sample.h"
#include "reward/step_stats.h"

namespace safrl::reward {

// Sets the outcome's monitor inputs that one sample gives: answer_tokens
// (ScoredSample::answer_tokens), verdict_text (ScoredSample::injection not empty), the answer
// verdict's safety_mass, fallback (the answer decoded by the fallback) and truncated_thinking.
void add_monitor_inputs(const Sample& sample, const ScoredSample& scored, SampleOutcome& outcome);

// An answer folded for the duplicate test: every run of ASCII whitespace (space, \t, \n, \v, \f,
// \r) becomes one space, leading and trailing whitespace goes, and A-Z become a-z. Other bytes
// (all of UTF-8 beyond ASCII) are kept as they are.
std::string fold_answer(std::string_view answer);

struct DuplicateMark {
  bool exact = false;   // the answer equals an earlier answer of the group, byte for byte
  bool folded = false;  // fold_answer() of it equals that of an earlier one (exact included)
};

// The marks of a group's samples, in order. A sample whose thinking was cut off
// (truncated_thinking: its answer is empty because it never came) is neither marked nor compared
// with: truncated_thinking_rate counts it already.
std::vector<DuplicateMark> mark_duplicates(const std::vector<const Sample*>& group);

// The marks of `samples`, in order, each compared within its group: the samples with its step
// and its messages.
std::vector<DuplicateMark> mark_duplicates_by_group(const std::vector<const Sample*>& samples);

}  // namespace safrl::reward
