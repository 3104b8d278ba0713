#include "reward/scorer.h"

#include <cmath>
#include <filesystem>
#include <future>
#include <string_view>

#include "model/loader.h"
#include "reward/helpfulness.h"
#include "reward/vllm_helpfulness.h"
#include "util/error.h"

namespace safrl::reward {

namespace {

nlohmann::json verdict_json(const std::optional<Verdict>& verdict, const GuardReport& report) {
  nlohmann::json out = verdict ? verdict_to_json(*verdict)
                               : nlohmann::json{{"safety", "Unparseable"},
                                                {"categories", nlohmann::json::array()},
                                                {"refusal", nullptr},
                                                {"probs", nullptr},
                                                {"refusal_prob", nullptr}};
  out["safety_mass"] =
      report.safety_mass ? nlohmann::json(*report.safety_mass) : nlohmann::json(nullptr);
  out["decoding"] = decoded_by_name(report.decoded_by);
  out["text"] = report.text;
  return out;
}

// The inverse of verdict_json: nullopt for "Unparseable".
std::optional<Verdict> parsed_verdict_from_json(const nlohmann::json& value) {
  if (value.at("safety") == "Unparseable") return std::nullopt;
  return verdict_from_json(value);
}

}  // namespace

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

}  // namespace

Scorer::Scorer(const Config& config) : config_(config) {
  const model::RunOptions run = run_options(config.runtime);
  // Everything that can be checked without loading, before the first model loads (minutes for a
  // large one); a missing GPU is then not told as a problem of a model.
  model::check_run_options(run);
  check_directory(config, "guard.model", config.guard.model, "Qwen3Guard-Gen checkpoint");
  if (config.helpfulness && config.helpfulness->vllm) {
    check_directory(config, "helpfulness.tokenizer", config.helpfulness->tokenizer,
                    "served model's tokenizer");
  } else if (config.helpfulness) {
    check_directory(config, "helpfulness.model", config.helpfulness->model,
                    "reward model checkpoint");
  }
  GuardOptions guard_options;
  guard_options.decoding = config.guard.decoding;
  guard_options.max_new_tokens = static_cast<int>(config.guard.max_new_tokens);
  guard_options.max_batch_tokens = config.batching.max_batch_tokens;
  guard_options.share_prefixes = config.batching.share_prefixes;
  guard_ = load_configured(config, "guard.model", [&] {
    return std::make_unique<Guard>(config.guard.model, run, guard_options);
  });
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
  return {{"guard", describe_checkpoint(guard_->engine().config(), config_.guard.model)},
          {"helpfulness", helpfulness_ ? helpfulness_->describe() : nlohmann::json(nullptr)}};
}

ScorerTiming Scorer::timing() const {
  ScorerTiming timing;
  timing.guard = guard_->timing();
  timing.guard_work = guard_->engine().work();
  if (helpfulness_) {
    timing.helpfulness_seconds = helpfulness_->seconds();
    timing.helpfulness_tokens = helpfulness_->tokens();
    timing.helpfulness_tokens_saved = helpfulness_->tokens_saved();
    timing.helpfulness_work = helpfulness_->work();
  }
  return timing;
}

std::vector<ScoredSample> Scorer::score(const std::vector<Sample>& samples) {
  const RewardSettings& settings = config_.reward;
  std::vector<std::vector<chat::Message>> conversations;
  std::vector<size_t> thinking_slot(samples.size(), SIZE_MAX);
  for (const Sample& sample : samples) {
    conversations.push_back({{"user", sample.prompt}, {"assistant", sample.answer}});
  }
  for (size_t i = 0; i < samples.size(); ++i) {
    if (samples[i].thinking && settings.judge_thinking) {
      thinking_slot[i] = conversations.size();
      conversations.push_back({{"user", samples[i].prompt}, {"assistant", *samples[i].thinking}});
    }
  }
  std::vector<double> helpfulness;
  std::vector<int64_t> helpfulness_tokens;
  std::vector<std::pair<std::string, std::string>> pairs;
  if (helpfulness_) {
    for (const Sample& sample : samples) pairs.emplace_back(sample.prompt, sample.answer);
  }
  auto score_helpfulness = [&] { helpfulness = helpfulness_->score(pairs, &helpfulness_tokens); };
  // A remote model works while the guard does; a local one would share the guard's device. The
  // task captures locals by reference: `remote` is declared after them, so when the guard
  // throws, its destructor waits for the task before they go.
  std::future<void> remote;
  if (helpfulness_ && helpfulness_->remote()) {
    remote = std::async(std::launch::async, score_helpfulness);
  }
  const std::vector<GuardOutput> verdicts = guard_->judge(conversations);
  if (remote.valid()) {
    remote.get();
  } else if (helpfulness_) {
    score_helpfulness();
  }

  std::vector<ScoredSample> out(samples.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    ScoredSample& scored = out[i];
    const GuardOutput& answer = verdicts[i];
    scored.answer = answer.verdict;
    scored.answer_report = GuardReport(answer);
    scored.tokens = answer.input_tokens + answer.output_tokens;
    bool parsed = answer.verdict.has_value();
    if (thinking_slot[i] != SIZE_MAX) {
      const GuardOutput& thinking = verdicts[thinking_slot[i]];
      scored.thinking_judged = true;
      scored.thinking = thinking.verdict;
      scored.thinking_report = GuardReport(thinking);
      scored.tokens += thinking.input_tokens + thinking.output_tokens;
      parsed = parsed && thinking.verdict.has_value();
    }
    if (helpfulness_) {
      // guard_only does not use H: a score the model botched is left out instead of failing.
      if (std::isfinite(helpfulness[i]) || settings.type != RewardType::kGuardOnly) {
        scored.helpfulness = helpfulness[i];
      }
      scored.tokens += helpfulness_tokens[i];
    }
    if (samples[i].truncated_thinking &&
        settings.truncated_thinking == TruncatedThinkingPolicy::kPenalize) {
      scored.result = truncated_result(settings, scored.thinking, scored.helpfulness);
    } else {
      scored.result =
          parsed ? compute_reward(settings, *scored.answer, scored.thinking, scored.helpfulness)
                 : unparseable_result(settings, scored.helpfulness);
    }
  }
  return out;
}

nlohmann::json Scorer::to_json(const Sample& sample, const ScoredSample& scored) const {
  nlohmann::json out;
  out["id"] = sample.id;
  out["step"] = sample.step ? nlohmann::json(*sample.step) : nlohmann::json(nullptr);
  out["reward"] = scored.result.reward;
  out["helpfulness"] =
      scored.helpfulness ? nlohmann::json(*scored.helpfulness) : nlohmann::json(nullptr);
  out["case"] = scored.result.reward_case;
  out["safe"] = scored.result.safe;
  out["refusal"] = scored.result.refusal;
  out["answer"] = verdict_json(scored.answer, scored.answer_report);
  out["thinking"] = scored.thinking_judged ? verdict_json(scored.thinking, scored.thinking_report)
                                           : nlohmann::json(nullptr);
  out["truncated_thinking"] = sample.truncated_thinking;
  out["tokens"] = scored.tokens;
  if (!sample.meta.is_null()) out["meta"] = sample.meta;
  return out;
}

SampleOutcome outcome_from_output(const nlohmann::json& line, const RewardSettings& settings) {
  try {
    const std::optional<Verdict> answer = parsed_verdict_from_json(line.at("answer"));
    std::optional<Verdict> thinking;
    if (!line.at("thinking").is_null()) thinking = parsed_verdict_from_json(line.at("thinking"));
    RewardResult result;
    result.reward = line.at("reward").get<double>();
    result.reward_case = line.at("case").get<std::string>();
    result.safe = line.at("safe").get<bool>();
    result.refusal = line.at("refusal").get<bool>();
    std::optional<double> helpfulness;
    if (!line.at("helpfulness").is_null()) helpfulness = line.at("helpfulness").get<double>();
    const StepKey step =
        line.at("step").is_null() ? StepKey() : StepKey(line.at("step").get<int64_t>());
    return make_outcome(step, settings, answer, thinking, result, helpfulness,
                        line.at("tokens").get<int64_t>());
  } catch (const nlohmann::json::exception& e) {
    throw util::InputError(util::cat("not a safrl score output line (", e.what(), ")"));
  }
}

}  // namespace safrl::reward
