#include "reward/rescore.h"

#include <string_view>
#include <utility>
#include <vector>

#include "reward/score_line.h"
#include "reward/scored_sample.h"
#include "reward/turn_rewards.h"
#include "util/error.h"
#include "util/sha256.h"

namespace safrl::reward {
namespace {

constexpr size_t kHashDigits = 16;

std::string hash_of(const nlohmann::json& settings) {
  return util::sha256_hex(settings.dump()).substr(0, kHashDigits);
}

// Every combination of the judging switches of model_settings_json, so that a line scored under
// other ones can be told apart from one scored by other models, and the switch named.
std::vector<nlohmann::json> judging_combinations() {
  std::vector<nlohmann::json> out;
  for (bool thinking : {true, false}) {
    for (JudgeTurns judge : {JudgeTurns::kLast, JudgeTurns::kAllTurns}) {
      for (bool prompt : {true, false}) {
        for (bool tool_results : {true, false}) {
          for (bool neutralise : {true, false}) {
            out.push_back({{"judge_thinking", thinking},
                           {"judge", judge_turns_name(judge)},
                           {"judge_prompt", prompt},
                           {"judge_tool_results", tool_results},
                           {"neutralise", neutralise}});
          }
        }
      }
    }
  }
  return out;
}

std::string on_off(const nlohmann::json& value) {
  return value.is_boolean() ? (value.get<bool>() ? "on" : "off") : value.get<std::string>();
}

// Why a judging switch that differs needs outputs the line lacks (or holds outputs that a
// fresh run under the new settings might not have).
std::string judging_difference(const std::string& key, const nlohmann::json& was,
                               const nlohmann::json& now) {
  const std::string change =
      util::cat(" was ", on_off(was), " when the line was scored, now ", on_off(now));
  if (key == "judge_thinking" && now.get<bool>()) {
    return util::cat("reward.judge_thinking", change,
                     ": the line's \"thinking\": null does not tell whether the response had a "
                     "trace to judge");
  }
  if (key == "judge_thinking") {
    return util::cat("reward.judge_thinking", change,
                     ", and the line has an injection finding that may lie in a thinking trace, "
                     "which would no longer be judged");
  }
  if (key == "judge") {
    return util::cat("reward.judge", change,
                     ": the turns judged differ, and the line does not record whether its sample "
                     "chose its own \"judge\"");
  }
  if (key == "judge_prompt") {
    return util::cat(
        "judging the prompt (reward.judge_prompt, or reward.refusal_penalty: "
        "prompt_aware, which needs the prompt's verdict)",
        change,
        ": the line does not record whether its sample chose its own "
        "\"judge_prompt\"");
  }
  if (key == "judge_tool_results") {
    return util::cat("reward.judge_tool_results", change,
                     ": the line does not record whether its sample chose its own "
                     "\"judge_tool_results\"");
  }
  return util::cat("neutralising injections (reward.on_injection: strip)", change,
                   ", and the line has an injection finding: its texts would be judged otherwise");
}

// Whether an injection finding of the line may lie in a thinking trace: the response's, or an
// earlier turn's (whose answer and thinking make one finding).
bool finding_in_thinking(const nlohmann::json& line) {
  if (!line.contains("injection")) return false;
  for (const auto& finding : line["injection"]) {
    const std::string where = finding.value("where", "");
    if (where == "thinking" || where.rfind("messages[", 0) == 0) return true;
  }
  return false;
}

}  // namespace

std::string models_hash(const Config& config) {
  return hash_of(model_settings_json(config));
}

Rescorer::Rescorer(const Config& config) : config_(config), hash_(models_hash(config)) {
  nlohmann::json settings = model_settings_json(config);
  for (nlohmann::json& judging : judging_combinations()) {
    settings["reward"]["judging"] = judging;
    const std::string hash = hash_of(settings);
    if (hash != hash_) other_judging_.emplace(hash, std::move(judging));
  }
}

nlohmann::json Rescorer::rescore(const nlohmann::json& line) const {
  const RewardSettings& settings = config_.reward;
  if (!line.is_object() || !line.contains("models") || !line["models"].is_string()) {
    throw util::InputError(
        "the line has no \"models\" field (the hash of the model settings that scored it): it "
        "was written by a safrl score from before the field existed, or is not a safrl score "
        "output line, so nothing tells which models judged it; score its input again with "
        "`safrl score`");
  }
  const std::string models = line["models"].get<std::string>();
  bool drop_thinking = false;
  if (models != hash_) {
    const auto found = other_judging_.find(models);
    if (found == other_judging_.end()) {
      throw util::InputError(util::cat(
          "the line was judged by other models or model settings (\"models\": \"", models,
          "\", while ", config_.source, " gives \"", hash_,
          "\"): the guard and helpfulness settings and runtime.dtype / storage_dtype must be "
          "those that scored it; a rescore changes only the reward's arithmetic (docs/score.md)"));
    }
    const nlohmann::json& was = found->second;
    const nlohmann::json now = model_settings_json(config_)["reward"]["judging"];
    const bool has_findings = line.contains("injection") && !line["injection"].empty();
    std::string refused;
    for (const auto& item : was.items()) {
      const nlohmann::json& value_now = now.at(item.key());
      if (item.value() == value_now) continue;
      // A fresh run with judge_thinking off would judge the same turns without their traces.
      // Not when a trace may hold a finding: it would no longer be a judged text.
      if (item.key() == "judge_thinking" && !value_now.get<bool>() && !finding_in_thinking(line)) {
        drop_thinking = true;
        continue;
      }
      // Texts without a marker are judged the same, neutralised or not.
      if (item.key() == "neutralise" && !has_findings) continue;
      refused += util::cat(refused.empty() ? "" : "; ",
                           judging_difference(item.key(), item.value(), value_now));
    }
    if (!refused.empty()) {
      throw util::InputError(util::cat(refused,
                                       ". Rescore with the judging settings that scored the "
                                       "line, or score its input again"));
    }
  }

  ScoredSample scored = scored_from_line(line);
  const Sample sample = line_sample(line);
  const bool all_turns = !scored.turns.empty();
  std::vector<TurnScore> turns = std::move(scored.turns);
  scored.turns.clear();
  if (!all_turns) turns.push_back(response_turn(scored));
  if (drop_thinking) {
    for (TurnScore& turn : turns) {
      turn.thinking_judged = false;
      turn.thinking.reset();
      turn.thinking_report = {};
    }
  }
  try {
    combine_turns(settings, sample.truncated_thinking, turns, scored);
  } catch (const util::InputError& e) {
    // The one input the arithmetic can lack: H, which guard_only leaves out when not finite.
    throw util::InputError(util::cat("reward.type ", reward_type_name(settings.type), ": ",
                                     e.what(), " (the line's \"helpfulness\" is null)"));
  }
  if (all_turns) scored.turns = std::move(turns);

  // The line's own fields stay (tokens, meta, and whatever score_line_json does not write); the
  // reward's fields are written again, and "models" says what the line holds now (without the
  // thinking verdicts when they were dropped), so that a rescore of the rescore checks that.
  nlohmann::json out = line;
  out["models"] = hash_;
  nlohmann::json fresh = score_line_json(sample, scored, settings);
  for (auto& item : fresh.items()) {
    out[item.key()] = std::move(item.value());
  }
  return out;
}

}  // namespace safrl::reward
