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
//   prompts_judged: samples with a prompt verdict; harmful_prompt_rate of them
//   over_refusal_rate: refusals among the samples whose prompt counts as safe
//   under_refusal_rate: unsafe samples among those whose prompt counts as harmful
//   refusal_rate_by_prompt, unsafe_rate_by_prompt {safe, harmful}: the same split by prompt
//   turns_judged (sum), unsafe_turn_rate; tool_results_judged (sum), injection_rate
//   the monitors (reward/monitors.h):
//   refusal_rate_change   null here; StepMonitor::annotate sets it
//   duplicate_rate, folded_duplicate_rate   within-group duplicate answers, fractions of count
//   answer_tokens_mean    over the samples whose answer length is known
//   answer_tokens_helpfulness_corr, answer_tokens_reward_corr   Pearson r; null when n < 2 or
//                         a variance is zero
//   verdict_text_rate, fallback_rate, truncated_thinking_rate   fractions of count
//   safety_mass_mean/min, low_safety_mass_rate   over the answers with a safety_mass
//   safe_unhelpful_rate   of the samples judged against unhelpful_threshold (the threshold given
//                         to summary(), or the merged rows' own one; null when they differ)
//   alerts                [] here; StepMonitor::annotate sets it
//   cache_hits {guard, helpfulness, prompt}   judgements answered from the judgement cache
//                         (sums; not in steps.csv)
//   sums {safe, refusal, controversial, unparseable: counts; unsafe_by_category: {name: count};
//         helpfulness, reward, safety_mass: {n, mean, m2, min, max}; by_prompt: {safe, harmful:
//         {count, refusal, unsafe}}; turns_judged, unsafe_turns, tool_results_judged,
//         injections, duplicates, folded_duplicates, verdict_text, fallback, truncated_thinking,
//         low_safety_mass, safe_unhelpful, safe_unhelpful_judged: counts;
//         answer_tokens_helpfulness, answer_tokens_reward: {n, mean_x, mean_y, m2x, m2y, cxy}}:
//         what merging needs (add_row; rows without the conversation or monitor sums merge as
//         zeros)
// steps.csv holds every scalar field in a fixed order, columns added later last (csv_columns());
// "alerts" is one cell of names separated by spaces. A run directory's steps.csv of other
// columns is set aside by the server (serve/step_logger.h).
// The step is null for samples sent without one (OpenRLHF, offline use): a bucket of its own,
// never mixed with a numbered step.
// std is the population standard deviation (divide by n): the step's rollouts are the whole
// population being described, not a sample of one. Statistics with no data are null (rates of an
// empty step, helpfulness when no sample had a score, samples_per_s when seconds is 0).
// Values are kept per sample and reduced in two passes when summarised (mean, then the mean
// squared deviation), which avoids the cancellation of a one-pass sum-of-squares variance. Rows
// merge exactly: counts add, and (n, mean, m2) of several parts combine by Chan's formula, so the
// rows of several replicas, or of one step written in parts, give the statistics of all its
// samples (to rounding).
// StepStats is not thread-safe: one owner (the stats logger) adds and summarises.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "reward/reward.h"
#include "reward/verdict.h"

namespace safrl::reward {

// A step number, or nullopt for the samples sent without one.
using StepKey = std::optional<int64_t>;

// A step as JSON: its number, or null.
nlohmann::json step_json(const StepKey& step);

// What a sample's conversation added to the judging (docs/reward.md, Step statistics).
struct ConversationOutcome {
  // prompt_counts_as_harmful() of the prompt's verdict; nullopt when the prompt was not judged
  // or its verdict did not parse.
  std::optional<bool> prompt_harmful;
  int64_t turns_judged = 0;         // policy turns judged (judge: all_turns), the response included
  int64_t unsafe_turns = 0;         // of those, the turns that counted as unsafe
  int64_t tool_results_judged = 0;  // tool results judged with the prompt task
  int64_t injections = 0;           // of those, the ones judged an injection
};

// Judgements of a sample answered without running the model (reward/judgement_cache.h): an
// identical input judged earlier in the same pass or kept from an earlier one. Per judge: the
// guard's response moderation (every guard call but the prompt's), the helpfulness model, the
// prompt moderation.
struct CacheHits {
  int64_t guard = 0;
  int64_t helpfulness = 0;
  int64_t prompt = 0;

  CacheHits& operator+=(const CacheHits& other) {
    guard += other.guard;
    helpfulness += other.helpfulness;
    prompt += other.prompt;
    return *this;
  }
};

// What the statistics need to know about one scored sample.
struct SampleOutcome {
  StepKey step;                // the trainer's step number the sample belongs to, if sent
  bool safe = false;           // RewardResult::safe: no judged verdict counted as unsafe
  bool refusal = false;        // RewardResult::refusal: the answer's verdict said Refusal: Yes
  bool controversial = false;  // the answer or the judged thinking said Controversial
  bool unparseable = false;    // a guard output could not be parsed (reward case "unparseable")
  // Categories of the verdicts that counted as unsafe, each once, from kPromptCategories.
  std::vector<std::string> unsafe_categories;
  std::optional<double> helpfulness;  // H when it was computed
  double reward = 0;
  int64_t tokens = 0;  // tokens processed for the sample (model inputs and generated tokens)
  // A judged verdict counted as unsafe (unlike !safe, an unparseable or unjudged output is not).
  bool unsafe = false;
  ConversationOutcome conversation;

  // The monitors' inputs (reward/monitor_inputs.h fills them).
  std::optional<int64_t> answer_tokens;  // the answer's length in guard tokens, when counted
  bool duplicate = false;                // the answer equals an earlier one of its group
  bool folded_duplicate = false;         // ... after folding (true whenever duplicate is)
  bool verdict_text = false;             // a judged text carries verdict or template text
  std::optional<double> safety_mass;     // the answer verdict's, when the guard reported it
  bool fallback = false;                 // the answer verdict was decoded by the fallback
  bool truncated_thinking = false;       // the sample's thinking was cut off
  CacheHits cache_hits;                  // set by the server; safrl score's lines do not say
};

// The outcome of one sample from what the reward saw: `answer` and `thinking` are the verdicts
// that parsed (nullopt when absent or unparseable), `result` what compute_reward() or
// unparseable_result() returned. The thinking verdict counts only when settings.judge_thinking,
// as in the reward.
SampleOutcome make_outcome(StepKey step, const RewardSettings& settings,
                           const std::optional<Verdict>& answer,
                           const std::optional<Verdict>& thinking, const RewardResult& result,
                           std::optional<double> helpfulness, int64_t tokens,
                           const ConversationOutcome& conversation = {});

// n, mean, sum of squared deviations (m2), min and max of some values; what a row keeps of its
// helpfulness and rewards so that rows merge.
struct Moments {
  int64_t n = 0;
  double mean = 0, m2 = 0, min = 0, max = 0;

  static Moments of(const std::vector<double>& values);  // two passes
  void merge(const Moments& other);                      // Chan, Golub and LeVeque
};

// n, the means, the sums of squared deviations (m2x, m2y) and the sum of co-deviations (cxy) of
// pairs (x, y): what a row keeps of (answer length, H) and (answer length, reward) so that
// correlations merge.
struct CoMoments {
  int64_t n = 0;
  double mean_x = 0, mean_y = 0, m2x = 0, m2y = 0, cxy = 0;

  static CoMoments of(const std::vector<std::pair<double, double>>& pairs);  // two passes
  void merge(const CoMoments& other);  // Chan's formula, with the co-deviation term
  // Pearson's r = cxy / sqrt(m2x m2y); nullopt when n < 2 or either variance is zero (to
  // rounding: below 1e-12 of the mean's square per value).
  std::optional<double> correlation() const;
};

class StepStats {
 public:
  // `low_safety_mass`: an answer verdict's safety_mass below it counts in low_safety_mass_rate
  // (monitors.low_safety_mass).
  explicit StepStats(double low_safety_mass = 0.5) : low_safety_mass_(low_safety_mass) {}

  // Adds a sample to its step. Throws util::InputError, adding nothing, when a category is not a
  // known one, helpfulness or reward is not finite, tokens is negative, or a conversation count
  // is negative or larger than the count it is part of.
  void add(const SampleOutcome& outcome);

  // Adds a row summary() wrote (another replica's share of a step, or an earlier part of it) to
  // its step, as if its samples had been added here. Throws util::InputError naming the field
  // when the row is not one (or lacks "sums": rows written before safrl 0.2 cannot merge).
  // Returns the row's step.
  StepKey add_row(const nlohmann::json& row);

  // The statistics of `step` (the fields in the header comment); a step with no samples gives
  // count 0 and nulls. `seconds` is the wall time the caller attributes to the step; it must be
  // finite and non-negative (util::InputError otherwise). `unhelpful_threshold` decides which of
  // the samples added here count as safe but unhelpful (StepMonitor::unhelpful_threshold();
  // nullopt: none are judged). refusal_rate_change is null and alerts [] until a StepMonitor
  // annotates the row.
  nlohmann::json summary(StepKey step, double seconds,
                         std::optional<double> unhelpful_threshold = std::nullopt) const;

  // The H of the samples added to `step` (not of rows merged), for StepMonitor's history.
  std::vector<double> helpfulness_values(StepKey step) const;

  // Steps that hold samples, ascending, the stepless bucket (nullopt) first.
  std::vector<StepKey> steps() const;

  // Forgets `step` (after its summary was written); no-op when absent.
  void clear(StepKey step);

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
    std::vector<double> helpfulness;                                     // per sample added here
    std::vector<double> rewards;
    Moments merged_helpfulness;  // of rows added
    Moments merged_rewards;
    int64_t tokens = 0;
    // The samples whose prompt verdict counts as safe ([0]) or harmful ([1]).
    struct ByPrompt {
      int64_t count = 0, refusal = 0, unsafe = 0;
    };
    std::array<ByPrompt, 2> by_prompt{};
    int64_t turns_judged = 0, unsafe_turns = 0, tool_results_judged = 0, injections = 0;
    // The monitors.
    int64_t added =
        0;  // samples added (not merged): the ones a threshold given to summary() judges
    int64_t duplicates = 0, folded_duplicates = 0, verdict_text = 0, fallback = 0,
            truncated_thinking = 0, low_safety_mass = 0;
    CacheHits cache_hits;
    std::vector<double> safety_masses;
    Moments merged_safety_mass;
    std::vector<std::pair<double, double>> length_helpfulness, length_reward;
    CoMoments merged_length_helpfulness, merged_length_reward;
    std::vector<double> safe_answer_helpfulness;  // H of the safe, non-refusing samples added
    int64_t merged_safe_unhelpful = 0, merged_safe_unhelpful_judged = 0;
    std::vector<double> merged_thresholds;  // the distinct thresholds of the rows merged
    // A row merged had judged samples but no one threshold (its own parts used several).
    bool mixed_thresholds = false;
  };

  double low_safety_mass_;
  std::map<StepKey, Step> steps_;
};

}  // namespace safrl::reward
