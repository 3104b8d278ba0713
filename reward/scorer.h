// The scoring pipeline shared by `safrl score` and the server: samples in, rewards with their
// verdicts out. For each sample the guard judges (prompt, answer) and, when the sample has a
// thinking trace and judge_thinking is on, (prompt, thinking), as response moderation; the
// helpfulness model scores (prompt, answer); the configured reward combines them.
//
// All guard inputs of a call are prefilled packed and decoded together; the helpfulness inputs
// are packed under the same token budget, or, with a model served by vLLM, sent to it while the
// guard works. Results come back in input order.
// Not thread-safe: one Scorer is driven by one thread (it owns the models).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "reward/config.h"
#include "reward/guard.h"
#include "reward/helpfulness_model.h"
#include "reward/reward.h"
#include "reward/sample.h"
#include "reward/step_stats.h"

namespace safrl::reward {

// What the output line says of one guard output besides its verdict.
struct GuardReport {
  std::string text;  // the guard's raw output
  DecodedBy decoded_by = DecodedBy::kFree;
  std::optional<double> safety_mass;

  explicit GuardReport(const GuardOutput& output = {})
      : text(output.text), decoded_by(output.decoded_by), safety_mass(output.safety_mass) {}
};

struct ScoredSample {
  std::optional<Verdict> answer;    // nullopt: the guard's output did not parse (free decoding)
  std::optional<Verdict> thinking;  // nullopt: not judged, or did not parse
  bool thinking_judged = false;
  GuardReport answer_report, thinking_report;
  std::optional<double> helpfulness;
  RewardResult result;
  int64_t tokens = 0;  // guard and helpfulness input tokens plus generated tokens
};

struct ScorerTiming {
  GuardTiming guard;
  double helpfulness_seconds = 0;
  int64_t helpfulness_tokens = 0;
  int64_t helpfulness_tokens_saved = 0;  // by shared prompt prefixes
  engine::Work guard_work, helpfulness_work;

  // What was spent between two readings.
  friend ScorerTiming operator-(ScorerTiming a, const ScorerTiming& b) {
    a.guard = a.guard - b.guard;
    a.helpfulness_seconds -= b.helpfulness_seconds;
    a.helpfulness_tokens -= b.helpfulness_tokens;
    a.helpfulness_tokens_saved -= b.helpfulness_tokens_saved;
    a.guard_work = a.guard_work - b.guard_work;
    a.helpfulness_work = a.helpfulness_work - b.helpfulness_work;
    return a;
  }
  // Input tokens computed: the guard's prefill and the helpfulness model's.
  int64_t input_tokens() const { return guard.prefill_tokens + helpfulness_tokens; }
};

// The outcome of one group of samples (a request's, an input line's) scored by score_groups.
struct GroupResult {
  enum class Failure { kNone, kBadInput, kTooLong, kModel, kInternal };
  std::vector<ScoredSample> scored;  // one per sample of the group when failure is kNone
  Failure failure = Failure::kNone;
  std::string message;  // why it failed
};

class Scorer {
 public:
  // Loads the guard and, when configured, the helpfulness model. Throws util::LoadError.
  explicit Scorer(const Config& config);

  const Config& config() const { return config_; }
  std::vector<ScoredSample> score(const std::vector<Sample>& samples);
  ScorerTiming timing() const;
  // {"guard": {architecture, layers, ...}, "helpfulness": {...} | null}, for `info`.
  nlohmann::json models() const;

  // The output line of a scored sample: {"id", "step", "reward", "helpfulness", "case", "safe",
  // "refusal", "answer": {verdict}, "thinking": {verdict} | null, "truncated_thinking",
  // "tokens", "meta"?}; each verdict also says how it was decoded ("decoding") and the safety
  // labels' mass over the whole vocabulary ("safety_mass").
  nlohmann::json to_json(const Sample& sample, const ScoredSample& scored) const;

 private:
  Config config_;
  std::unique_ptr<Guard> guard_;
  std::unique_ptr<HelpfulnessModel> helpfulness_;
};

// Scores groups of samples in one pass; when the models refuse an input of the pass (a
// util::InputError: invalid, or too long) or produce an unusable value for one (a
// util::ModelError), each group is scored alone, so one bad group is answered with its own error
// and the others are still scored. `samples` holds the groups one
// after another, `group_sizes` their lengths. An error of the whole pass other than an input
// error is thrown (the models failed, not a group), and so is util::UnavailableError (a remote
// model that does not answer) wherever it comes.
std::vector<GroupResult> score_groups(Scorer& scorer, const std::vector<Sample>& samples,
                                      const std::vector<size_t>& group_sizes);

// The step-statistics outcome of an output line written by Scorer::to_json, so statistics can
// be computed from an output file (a resumed run's earlier lines included). Throws
// util::InputError for a line that is not such an output.
SampleOutcome outcome_from_output(const nlohmann::json& line, const RewardSettings& settings);

// Builds the torch run options of a config's runtime section.
model::RunOptions run_options(const RuntimeConfig& runtime);

}  // namespace safrl::reward
