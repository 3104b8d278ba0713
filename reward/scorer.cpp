#include "reward/scorer.h"

#include <cmath>
#include <filesystem>
#include <future>
#include <string_view>
#include <unordered_map>

#include "io/model_config.h"
#include "model/loader.h"
#include "reward/guard_injection.h"
#include "reward/helpfulness.h"
#include "reward/judged_turns.h"
#include "reward/rescore.h"
#include "reward/score_line.h"
#include "reward/turn_rewards.h"
#include "reward/vllm_helpfulness.h"
#include "util/error.h"

namespace safrl::reward {

std::vector<GroupResult> score_groups(Scorer& scorer, const std::vector<Sample>& samples,
                                      const std::vector<size_t>& group_sizes) {
  std::vector<GroupResult> results(group_sizes.size());
  try {
    std::vector<ScoredSample> scored = scorer.score(samples);
    auto next = scored.begin();
    for (size_t g = 0; g < group_sizes.size(); ++g) {
      results[g].scored.assign(std::make_move_iterator(next),
                               std::make_move_iterator(next + group_sizes[g]));
      next += static_cast<std::ptrdiff_t>(group_sizes[g]);
    }
    return results;
  } catch (const util::InputError&) {
  } catch (const util::ModelError&) {
  }
  auto begin = samples.begin();
  for (size_t g = 0; g < group_sizes.size(); ++g) {
    const auto end = begin + static_cast<std::ptrdiff_t>(group_sizes[g]);
    GroupResult& result = results[g];
    try {
      result.scored = scorer.score({begin, end});
    } catch (const util::TooLongError& e) {
      result.failure = GroupResult::Failure::kTooLong;
      result.message = e.what();
    } catch (const util::InputError& e) {
      result.failure = GroupResult::Failure::kBadInput;
      result.message = e.what();
    } catch (const util::ModelError& e) {
      result.failure = GroupResult::Failure::kModel;
      result.message = e.what();
    } catch (const util::UnavailableError&) {
      throw;  // the remote model is down for every group: the whole pass is answered unavailable
    } catch (const std::exception& e) {
      result.failure = GroupResult::Failure::kInternal;
      result.message = e.what();
    }
    begin = end;
  }
  return results;
}

model::RunOptions run_options(const RuntimeConfig& runtime) {
  model::RunOptions options;
  options.device = engine::parse_device(runtime.device);
  options.compute_dtype = engine::parse_dtype(runtime.dtype);
  options.storage_dtype = engine::parse_dtype(runtime.storage_dtype);
  return options;
}

namespace {

// The directory a config key names exists, or the message names the key, the config file and
// the path as resolved: a wrong path is the commonest mistake in a config.
void check_directory(const Config& config, std::string_view key, const std::string& dir,
                     std::string_view what) {
  std::error_code error;
  if (std::filesystem::is_directory(dir, error)) return;
  throw util::LoadError(
      util::cat(config.source, ": ", key, ": ", dir,
                std::filesystem::exists(dir, error) ? " is a file" : " does not exist",
                " (a relative path resolves against the config file's directory); give the ", what,
                " directory"));
}

// Runs `load` on the model a config key names; what the loader refuses names the key and the
// config file too.
template <typename Load>
auto load_configured(const Config& config, std::string_view key, Load load) {
  try {
    return load();
  } catch (const util::LoadError& e) {
    throw util::LoadError(util::cat(config.source, ": ", key, ": ", e.what()));
  }
}

// A Gen guard given a Stream checkpoint: said before its weights load, with the fix. (The Guard
// refuses any architecture but a causal LM anyway; this names the key that chooses.)
void check_gen_checkpoint(const std::string& dir) {
  const io::Architecture architecture = io::load_model_config(dir).architecture;
  if (architecture == io::Architecture::kQwen3ForGuardModel) {
    throw util::LoadError(
        util::cat("guard.kind gen needs a Qwen3Guard-Gen checkpoint (Qwen3ForCausalLM); ", dir,
                  " holds ", io::architecture_name(architecture),
                  ", a Qwen3Guard-Stream checkpoint: set guard.kind: stream"));
  }
}

}  // namespace

Scorer::Scorer(const Config& config)
    : config_(config),
      models_(models_hash(config)),
      cache_(static_cast<size_t>(config.batching.judgement_cache_bytes),
             static_cast<size_t>(config.guard.prompt_cache_entries)) {
  const model::RunOptions run = run_options(config.runtime);
  // Everything that can be checked without loading, before the first model loads (minutes for a
  // large one); a missing GPU is then not told as a problem of a model.
  model::check_run_options(run);
  const bool stream = config.guard.kind == GuardKind::kStream;
  check_directory(config, "guard.model", config.guard.model,
                  stream ? "Qwen3Guard-Stream checkpoint" : "Qwen3Guard-Gen checkpoint");
  if (config.helpfulness && config.helpfulness->vllm) {
    check_directory(config, "helpfulness.tokenizer", config.helpfulness->tokenizer,
                    "served model's tokenizer");
  } else if (config.helpfulness) {
    check_directory(config, "helpfulness.model", config.helpfulness->model,
                    "reward model checkpoint");
  }
  if (stream) {
    StreamGuardOptions options;
    options.max_batch_tokens = config.batching.max_batch_tokens;
    options.tool_turns = config.guard.tool_turns;
    stream_guard_ = load_configured(config, "guard.model", [&] {
      return std::make_unique<StreamGuard>(config.guard.model, run, options);
    });
  } else {
    GuardOptions guard_options;
    guard_options.decoding = config.guard.decoding;
    guard_options.max_new_tokens = static_cast<int>(config.guard.max_new_tokens);
    guard_options.max_batch_tokens = config.batching.max_batch_tokens;
    guard_options.share_prefixes = config.batching.share_prefixes;
    guard_options.tool_turns = config.guard.tool_turns;
    guard_ = load_configured(config, "guard.model", [&] {
      check_gen_checkpoint(config.guard.model);
      return std::make_unique<Guard>(config.guard.model, run, guard_options);
    });
  }
  if (config.helpfulness) {
    const HelpfulnessConfig& helpfulness = *config.helpfulness;
    HelpfulnessOptions options;
    options.chat_format = helpfulness.chat_format;
    options.score_token = helpfulness.score_token;
    options.max_batch_tokens = config.batching.max_batch_tokens;
    options.share_prefixes = config.batching.share_prefixes;
    if (helpfulness.vllm) {
      // Not wrapped: a vLLM backend's errors are its server's, and name its URL.
      helpfulness_ = std::make_unique<VllmHelpfulness>(helpfulness);
    } else {
      helpfulness_ = load_configured(config, "helpfulness.model", [&] {
        return std::make_unique<Helpfulness>(helpfulness.model, run, options);
      });
    }
  }
}

nlohmann::json Scorer::models() const {
  return {{"guard", describe_checkpoint(guard_engine().config(), config_.guard.model)},
          {"helpfulness", helpfulness_ ? helpfulness_->describe() : nlohmann::json(nullptr)}};
}

JudgementCounters Scorer::cache_counters() const {
  return {hits_, misses_, static_cast<int64_t>(cache_.bytes()),
          static_cast<int64_t>(cache_.entries())};
}

const tokenizer::Tokenizer& Scorer::guard_tokenizer() const {
  return guard_ ? guard_->tokenizer() : stream_guard_->tokenizer();
}

const engine::Engine& Scorer::guard_engine() const {
  return guard_ ? guard_->engine() : stream_guard_->engine();
}

std::vector<GuardOutput> Scorer::judge(const std::vector<std::vector<chat::Message>>& pass,
                                       const std::vector<std::string>& names) {
  std::vector<GuardOutput> outputs;
  if (guard_) {
    outputs = guard_->judge(pass, &names);
  } else {
    for (StreamJudgement& judgement : stream_guard_->judge(pass, &names)) {
      GuardOutput output;
      output.verdict = std::move(judgement.verdict);
      output.input_tokens = judgement.input_tokens;
      output.decoded_by = DecodedBy::kNone;
      output.token_safety = std::move(judgement.tokens);
      outputs.push_back(std::move(output));
    }
  }
  if (config_.guard.refusal_source == RefusalSource::kNone) {
    // No response counts as a refusal (docs/reward.md); the reward formulas read Refusal: No.
    for (size_t i = 0; i < outputs.size(); ++i) {
      std::optional<Verdict>& verdict = outputs[i].verdict;
      if (verdict && chat::guard_task(pass[i]) == GuardTask::kResponse) {
        verdict->refusal = false;
        verdict->refusal_prob.reset();
      }
    }
  }
  return outputs;
}

ScorerTiming Scorer::timing() const {
  ScorerTiming timing;
  timing.guard = guard_ ? guard_->timing() : stream_guard_->timing();
  timing.guard_work = guard_engine().work();
  if (helpfulness_) {
    timing.helpfulness_seconds = helpfulness_->seconds();
    timing.helpfulness_tokens = helpfulness_->tokens();
    timing.helpfulness_tokens_saved = helpfulness_->tokens_saved();
    timing.helpfulness_work = helpfulness_->work();
  }
  return timing;
}

namespace {

GuardReport report_of(const GuardOutput& output) {
  return {output.text, output.decoded_by, output.safety_mass};
}

// How a too-long guard input is named: the sample and the turn, as the user sent them.
std::string call_name(const Sample& sample, const GuardCall& call) {
  const std::string where = call.turn == sample.messages.size()
                                ? std::string("the response")
                                : util::cat("messages[", call.turn, "]");
  return util::cat("sample ", sample.id.dump(), ": ", where, " (", guard_call_kind_name(call.kind),
                   ")");
}

// A sample that asks for its tool results to be judged (judge_tool_results), which the Stream
// guard does not offer: it would read a tool result as a user query, and whether it was trained
// to judge one is unconfirmed (docs/reward.md).
void refuse_tool_result_calls(const Sample& sample, const std::vector<GuardCall>& calls) {
  for (const GuardCall& call : calls) {
    if (call.kind == GuardCall::Kind::kToolResult) {
      throw util::InputError(
          util::cat(call_name(sample, call),
                    ": judge_tool_results needs guard.kind gen; Qwen3Guard-Stream would read a "
                    "tool result as a user query (unconfirmed in its training)"));
    }
  }
}

int64_t& count_of(CacheHits& counts, Judge judge) {
  switch (judge) {
    case Judge::kGuard:
      return counts.guard;
    case Judge::kHelpfulness:
      return counts.helpfulness;
    case Judge::kPrompt:
      break;
  }
  return counts.prompt;
}

// One distinct input of a call and where its judgement comes from: the cache, or the model's
// pass (`input`: its index there). `used` turns true at its first use: the first sample that
// asks gets the tokens of a judgement computed here, and every later use counts as a hit.
template <typename Value>
struct Slot {
  Judge judge = Judge::kGuard;
  std::string key;  // empty: not shared (the cache is off)
  Value value{};
  bool cached = false;
  size_t input = SIZE_MAX;
  bool used = false;
};

// The distinct inputs of one judge kind within a call.
template <typename Value>
class Slots {
 public:
  // The slot of `conversation`: one already asked for in this call when `share`, else one from
  // `cache`, else a new input appended to `inputs`.
  size_t slot_of(Judge judge, const std::vector<chat::Message>& conversation, bool share,
                 const std::string& models, JudgementCache& cache,
                 std::vector<std::vector<chat::Message>>& inputs) {
    Slot<Value> slot;
    slot.judge = judge;
    if (share) {
      slot.key = judgement_key(models, judge, conversation);
      if (auto known = index_.find(slot.key); known != index_.end()) return known->second;
      if (const Judgement* kept = cache.find(slot.key)) {
        slot.value = std::get<Value>(*kept);
        slot.cached = true;
      }
      index_.emplace(slot.key, slots.size());
    }
    if (!slot.cached) {
      slot.input = inputs.size();
      inputs.push_back(conversation);
    }
    slots.push_back(std::move(slot));
    return slots.size() - 1;
  }

  // Marks a use of slot `i`; true when this use computed it (its tokens count here).
  bool use(size_t i, CacheHits& hits, CacheHits& misses) {
    Slot<Value>& slot = slots[i];
    const bool computed = !slot.cached && !slot.used;
    slot.used = true;
    ++count_of(computed ? misses : hits, slot.judge);
    return computed;
  }

  // Keeps what this call computed.
  void keep(JudgementCache& cache) const {
    for (const Slot<Value>& slot : slots) {
      if (!slot.cached && !slot.key.empty()) cache.insert(slot.key, slot.judge, slot.value);
    }
  }

  std::vector<Slot<Value>> slots;

 private:
  std::unordered_map<std::string, size_t> index_;
};

// Per-token labels come from a Stream guard only.
void refuse_token_safety(const std::vector<Sample>& samples) {
  for (const Sample& sample : samples) {
    if (sample.token_safety) {
      throw util::InputError(
          "token_safety needs guard.kind: stream (this server's guard is Qwen3Guard-Gen)");
    }
  }
}

}  // namespace

std::vector<ScoredSample> Scorer::score(const std::vector<Sample>& samples) {
  const RewardSettings& settings = config_.reward;
  if (guard_) refuse_token_safety(samples);
  // Where each call's judgements come from: a verdict slot and, for an answer scored by the
  // helpfulness model, a score slot (Slots above).
  const bool share = config_.batching.judgement_cache_bytes > 0;
  Slots<GuardOutput> verdicts;
  Slots<double> scores;
  std::vector<std::vector<GuardCall>> calls(samples.size());
  // on_injection strip: the calls as the guard judges them, for the samples with a finding
  // (empty: the guard judges `calls`; the helpfulness model always scores the original answers).
  std::vector<std::vector<GuardCall>> neutralised(samples.size());
  std::vector<std::vector<InjectionFinding>> injections(samples.size());
  std::vector<std::vector<size_t>> slots(samples.size());
  std::vector<std::vector<size_t>> helpfulness_slots(samples.size());
  std::vector<std::vector<chat::Message>> pass, helpfulness_inputs;
  std::vector<std::string> names;
  for (size_t i = 0; i < samples.size(); ++i) {
    calls[i] = guard_calls(samples[i], settings);
    if (stream_guard_) refuse_tool_result_calls(samples[i], calls[i]);
    injections[i] = find_injections(calls[i], samples[i].messages.size());
    if (settings.on_injection == InjectionPolicy::kStrip && !injections[i].empty()) {
      neutralised[i] = neutralised_calls(calls[i], samples[i].messages.size());
    }
    slots[i].assign(calls[i].size(), SIZE_MAX);
    helpfulness_slots[i].assign(calls[i].size(), SIZE_MAX);
  }
  // The responses' answers first, then their traces, then the rest: a one-turn call judges its
  // conversations in the order earlier versions did, so its numbers are theirs to the bit.
  auto is_response = [&](size_t i, size_t c) {
    return calls[i][c].turn == samples[i].messages.size();
  };
  auto rank = [&](size_t i, size_t c) {
    if (!is_response(i, c)) return 2;
    return calls[i][c].kind == GuardCall::Kind::kAnswer ? 0 : 1;
  };
  for (int r = 0; r <= 2; ++r) {
    for (size_t i = 0; i < samples.size(); ++i) {
      for (size_t c = 0; c < calls[i].size(); ++c) {
        if (rank(i, c) != r) continue;
        const GuardCall& call = calls[i][c];
        if (call.kind == GuardCall::Kind::kAnswer && helpfulness_) {
          helpfulness_slots[i][c] = scores.slot_of(Judge::kHelpfulness, call.conversation, share,
                                                   models_, cache_, helpfulness_inputs);
        }
        const std::vector<chat::Message>& judged =
            neutralised[i].empty() ? call.conversation : neutralised[i][c].conversation;
        // A prompt repeated within a call is judged once even with the cache off.
        const bool prompt = call.kind == GuardCall::Kind::kPrompt;
        const size_t before = pass.size();
        slots[i][c] = verdicts.slot_of(prompt ? Judge::kPrompt : Judge::kGuard, judged,
                                       share || prompt, models_, cache_, pass);
        if (pass.size() > before) names.push_back(call_name(samples[i], call));
      }
    }
  }

  std::vector<double> helpfulness;
  std::vector<int64_t> helpfulness_tokens;
  auto score_helpfulness = [&] {
    helpfulness = helpfulness_->score(helpfulness_inputs, &helpfulness_tokens);
  };
  // A remote model works while the guard does; a local one would share the guard's device. The
  // task captures locals by reference: `remote` is declared after them, so when the guard
  // throws, its destructor waits for the task before they go.
  std::future<void> remote;
  if (helpfulness_ && helpfulness_->remote() && !helpfulness_inputs.empty()) {
    remote = std::async(std::launch::async, score_helpfulness);
  }
  const std::vector<GuardOutput> outputs = judge(pass, names);
  if (remote.valid()) {
    remote.get();
  } else if (helpfulness_ && !helpfulness_inputs.empty()) {
    score_helpfulness();
  }
  for (Slot<GuardOutput>& slot : verdicts.slots) {
    if (!slot.cached) slot.value = outputs[slot.input];
  }
  for (Slot<double>& slot : scores.slots) {
    if (!slot.cached) slot.value = helpfulness[slot.input];
  }

  std::vector<ScoredSample> out(samples.size());
  CacheHits hits, misses;
  for (size_t i = 0; i < samples.size(); ++i) {
    const Sample& sample = samples[i];
    ScoredSample& scored = out[i];
    std::vector<TurnScore> turns;
    for (size_t c = 0; c < calls[i].size(); ++c) {
      const GuardCall& call = calls[i][c];
      const Slot<GuardOutput>& slot = verdicts.slots[slots[i][c]];
      const GuardOutput& output = slot.value;
      // Computed once for the call: its tokens go to the first sample that asked.
      if (verdicts.use(slots[i][c], scored.cache_hits, misses)) {
        scored.tokens += output.input_tokens + output.output_tokens;
      }
      if (call.kind == GuardCall::Kind::kPrompt) {
        scored.prompt = PromptScore{output.verdict, report_of(output), slot.cached};
      } else if (call.kind == GuardCall::Kind::kToolResult) {
        scored.tool_results.push_back({call.turn, output.verdict, report_of(output)});
      } else if (call.kind == GuardCall::Kind::kAnswer) {
        TurnScore turn;
        turn.index = call.turn;
        turn.answer = output.verdict;
        turn.answer_report = report_of(output);
        if (sample.token_safety && output.token_safety && is_response(i, c)) {
          // Offsets into the text the guard read (the neutralised answer under on_injection
          // strip), moved to code points of the response as sent.
          const std::vector<chat::Message>& judged =
              neutralised[i].empty() ? call.conversation : neutralised[i][c].conversation;
          scored.token_safety = with_code_point_offsets(*output.token_safety, judged.back().content,
                                                        sample.answer_offset);
        }
        const size_t h = helpfulness_slots[i][c];
        if (h != SIZE_MAX) {
          const Slot<double>& score = scores.slots[h];
          // guard_only does not use H: a score the model botched is left out instead of failing.
          if (std::isfinite(score.value) || settings.type != RewardType::kGuardOnly) {
            turn.helpfulness = score.value;
          }
          if (scores.use(h, scored.cache_hits, misses)) {
            scored.tokens += helpfulness_tokens[score.input];
          }
        }
        turns.push_back(std::move(turn));
      } else {  // the thinking of the turn whose answer came just before
        TurnScore& turn = turns.back();
        turn.thinking_judged = true;
        turn.thinking = output.verdict;
        turn.thinking_report = report_of(output);
      }
    }
    hits += scored.cache_hits;
    scored.injection = std::move(injections[i]);
    combine_turns(settings, sample.truncated_thinking, turns, scored);
    // Counted again rather than taken from the guard's input: the answer sits inside the
    // template there, and one tokenizer pass over the answer is cheap beside the models.
    scored.answer_tokens = static_cast<int64_t>(guard_tokenizer().encode(sample.answer).size());
    if (judge_options(sample, settings).judge == JudgeTurns::kAllTurns) {
      scored.turns = std::move(turns);
    }
  }
  // Kept and counted only once the whole call has its rewards: a call that throws is scored
  // again group by group (score_groups), and its judgements must not come back as "cached" from
  // itself.
  verdicts.keep(cache_);
  scores.keep(cache_);
  hits_ += hits;
  misses_ += misses;
  return out;
}

nlohmann::json Scorer::to_json(const Sample& sample, const ScoredSample& scored) const {
  return score_line_json(sample, scored, config_.reward);
}

}  // namespace safrl::reward
