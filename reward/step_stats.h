// Per-training-step statistics of scored rollouts: safety, refusal, controversial and unparseable
// rates, unsafe rate by category, spread of helpfulness and reward, throughput.
//
// The server and the offline scorer both turn each scored sample into a SampleOutcome with
// make_outcome() and feed it to a StepStats, so their numbers agree by construction.
// summary() fields (docs/reward.md):
//   step, count
//   safety_rate, refusal_rate, controversial_rate, unparseable_rate   fractions of count
//   unsafe_rate_by_category {name: fraction of count}, all 9 prompt-task categories
//   helpfulness_mean/std/min/max  over the samples that have a helpfulness score
//   reward_mean/std/min/max       over all samples
//   tokens (sum), seconds (as given), samples_per_s (count / seconds)
// std is the population standard deviation (divide by n): the step's rollouts are the whole
// population being described, not a sample of one. Statistics with no data are null (rates of an
// empty step, helpfulness when no sample had a score, samples_per_s when seconds is 0).
// Values are kept per sample and reduced in two passes when summarised (mean, then the mean
// squared deviation), which avoids the cancellation of a one-pass sum-of-squares variance.
// StepStats is not thread-safe: one owner (the stats logger) adds and summarises.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "reward/reward.h"
#include "reward/verdict.h"

namespace safrl::reward {

// What the statistics need to know about one scored sample.
struct SampleOutcome {
  int64_t step = 0;            // the trainer's step number the sample belongs to
  bool safe = false;           // RewardResult::safe: no judged verdict counted as unsafe
  bool refusal = false;        // RewardResult::refusal: the answer's verdict said Refusal: Yes
  bool controversial = false;  // the answer or the judged thinking said Controversial
  bool unparseable = false;    // a guard output could not be parsed (reward case "unparseable")
  // Categories of the verdicts that counted as unsafe, each once, from kPromptCategories.
  std::vector<std::string> unsafe_categories;
  std::optional<double> helpfulness;  // H when it was computed
  double reward = 0;
  int64_t tokens = 0;  // tokens processed for the sample (model inputs and generated tokens)
};

// The outcome of one sample from what the reward saw: `answer` and `thinking` are the verdicts
// that parsed (nullopt when absent or unparseable), `result` what compute_reward() or
// unparseable_result() returned. The thinking verdict counts only when settings.judge_thinking,
// as in the reward.
SampleOutcome make_outcome(int64_t step, const RewardSettings& settings,
                           const std::optional<Verdict>& answer,
                           const std::optional<Verdict>& thinking, const RewardResult& result,
                           std::optional<double> helpfulness, int64_t tokens);

class StepStats {
 public:
  // Adds a sample to its step. Throws util::InputError, adding nothing, when a category is not a
  // known one, helpfulness or reward is not finite, or tokens is negative.
  void add(const SampleOutcome& outcome);

  // The statistics of `step` (the fields in the header comment); a step with no samples gives
  // count 0 and nulls. `seconds` is the wall time the caller attributes to the step; it must be
  // finite and non-negative (util::InputError otherwise).
  nlohmann::json summary(int64_t step, double seconds) const;

  // Steps that hold samples, ascending.
  std::vector<int64_t> steps() const;

  // Forgets `step` (after its summary was written); no-op when absent.
  void clear(int64_t step);

  // steps.csv: the column names in their fixed order, the header line, and one summary's row
  // (no trailing newline; null fields are empty cells). Per-category columns are
  // "unsafe_rate_<Category>" for the 9 prompt-task categories in the guard's order.
  static std::vector<std::string> csv_columns();
  static std::string csv_header();
  static std::string csv_row(const nlohmann::json& summary);

 private:
  struct Step {
    int64_t count = 0;
    int64_t safe = 0;
    int64_t refusal = 0;
    int64_t controversial = 0;
    int64_t unparseable = 0;
    std::array<int64_t, kPromptCategories.size()> unsafe_by_category{};  // kPromptCategories order
    std::vector<double> helpfulness;
    std::vector<double> rewards;
    int64_t tokens = 0;
  };

  std::map<int64_t, Step> steps_;
};

}  // namespace safrl::reward
