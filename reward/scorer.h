// The scoring pipeline shared by `safrl score` and the server: samples in, rewards with their
// verdicts out. For each sample the guard answers the calls of guard_calls()
// (reward/judged_turns.h): the response's answer and, when the sample has a thinking trace and
// judge_thinking is on, its thinking, as response moderation of the conversation before it; with
// judge all_turns every policy turn the same way; the prompt and the tool results on request, as
// prompt moderation. The helpfulness model scores each judged answer with the conversation
// before it; the configured reward combines them by the rules of reward/turn_rewards.h
// (docs/reward.md, "Conversations and agent rollouts").
// Identical inputs are judged once (reward/judgement_cache.h): within a call, an input repeated
// (a prompt shared by a group, a group's identical answers) is computed once and its result
// copied to every use, so duplicates get exactly the same verdicts and scores; across calls,
// verdicts and scores are kept in a cache bounded by batching.judgement_cache_bytes, prompt
// verdicts also by guard.prompt_cache_entries. A result from an earlier call is that call's, and
// may differ in the last bits (within 1e-5) from what the current batch would compute. With
// judgement_cache_bytes 0 every response verdict and score is computed; a prompt repeated within
// a call is still judged once. Tokens count where a model computed them: a judgement answered
// without running the model adds none to its sample's tokens.
//
// With guard.kind stream the guard is a StreamGuard (reward/stream_guard.h): every call above is
// one prefill, its verdict reward/stream_verdict.h's; its response verdicts read Refusal: No
// (guard.refusal_source none), and a tool-result call is refused (the Stream guard's query head
// reads only the user turn). With refusal_source none a Gen guard's answers read Refusal: No too.
// A sample with token_safety gets the response answer's per-token labels (ScoredSample::
// token_safety, offsets in code points of its response as sent); a cached or shared judgement
// carries them, so a repeated answer gets the first one's. With a Gen guard such a sample is
// refused (util::InputError).
// All guard inputs of a call are prefilled packed and decoded together (a group's shared
// context is computed once); the helpfulness inputs are packed under the same token budget, or,
// with a model served by vLLM, sent to it while the guard works. Results come back in input
// order.
// Not thread-safe: one Scorer is driven by one thread (it owns the models).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "reward/config.h"
#include "reward/guard.h"
#include "reward/helpfulness_model.h"
#include "reward/judgement_cache.h"
#include "reward/reward.h"
#include "reward/sample.h"
#include "reward/score_line.h"
#include "reward/scored_sample.h"
#include "reward/step_stats.h"
#include "reward/stream_guard.h"
#include "util/counter_fields.h"

namespace safrl::reward {

struct ScorerTiming {
  GuardTiming guard;
  double helpfulness_seconds = 0;
  int64_t helpfulness_tokens = 0;
  int64_t helpfulness_tokens_saved = 0;  // by shared prompt prefixes
  engine::Work guard_work, helpfulness_work;

  // Every member, once, for util/counter_fields.h (one not listed fails the build).
  static constexpr auto fields() {
    return std::make_tuple(&ScorerTiming::guard, &ScorerTiming::helpfulness_seconds,
                           &ScorerTiming::helpfulness_tokens,
                           &ScorerTiming::helpfulness_tokens_saved, &ScorerTiming::guard_work,
                           &ScorerTiming::helpfulness_work);
  }
  // What was spent between two readings.
  friend ScorerTiming operator-(const ScorerTiming& a, const ScorerTiming& b) {
    return util::subtract_fields(a, b);
  }
  // Input tokens computed: the guard's prefill and the helpfulness model's.
  int64_t input_tokens() const { return guard.prefill_tokens + helpfulness_tokens; }
};

// What the judgement cache saved, since the scorer was built: per judge the judgements answered
// without running the model (hits, within a call or from an earlier one) and those computed
// (misses), and what the cache holds now.
struct JudgementCounters {
  CacheHits hits, misses;
  int64_t bytes = 0, entries = 0;
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
  // The judgement cache's counters, for metrics.
  JudgementCounters cache_counters() const;

  // The output line of a scored sample (reward/score_line.h).
  nlohmann::json to_json(const Sample& sample, const ScoredSample& scored) const;

 private:
  // Judges the guard calls of a pass with whichever guard the config names, as GuardOutputs.
  std::vector<GuardOutput> judge(const std::vector<std::vector<chat::Message>>& pass,
                                 const std::vector<std::string>& names);
  const tokenizer::Tokenizer& guard_tokenizer() const;
  const engine::Engine& guard_engine() const;

  Config config_;
  // One of the two, as guard.kind says.
  std::unique_ptr<Guard> guard_;
  std::unique_ptr<StreamGuard> stream_guard_;
  std::unique_ptr<HelpfulnessModel> helpfulness_;
  std::string models_;  // models_hash(config): every cache key starts with it
  JudgementCache cache_;
  CacheHits hits_, misses_;
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

// Builds the torch run options of a config's runtime section.
model::RunOptions run_options(const RuntimeConfig& runtime);

}  // namespace safrl::reward
