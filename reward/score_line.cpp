#include "reward/score_line.h"

#include <nlohmann/json.hpp>

#include "reward/guard_injection.h"
#include "reward/monitor_inputs.h"
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

nlohmann::json optional_number(const std::optional<double>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

nlohmann::json channels_json(const RewardChannels& channels) {
  return {{"safety", channels.safety},
          {"refusal", channels.refusal},
          {"helpfulness", optional_number(channels.helpfulness)}};
}

// The inverse of channels_json.
RewardChannels channels_from_json(const nlohmann::json& value) {
  RewardChannels channels;
  channels.safety = value.at("safety").get<double>();
  channels.refusal = value.at("refusal").get<double>();
  if (!value.at("helpfulness").is_null()) {
    channels.helpfulness = value.at("helpfulness").get<double>();
  }
  return channels;
}

// The inverse of verdict_json: nullopt for "Unparseable".
std::optional<Verdict> parsed_verdict_from_json(const nlohmann::json& value) {
  if (value.at("safety") == "Unparseable") return std::nullopt;
  return verdict_from_json(value);
}

nlohmann::json turn_json(const TurnScore& turn) {
  return {{"index", turn.index},
          {"answer", verdict_json(turn.answer, turn.answer_report)},
          {"thinking", turn.thinking_judged ? verdict_json(turn.thinking, turn.thinking_report)
                                            : nlohmann::json(nullptr)},
          {"helpfulness",
           turn.helpfulness ? nlohmann::json(*turn.helpfulness) : nlohmann::json(nullptr)},
          {"reward", turn.result.reward},
          {"case", turn.result.reward_case},
          {"safe", turn.result.safe},
          {"refusal", turn.result.refusal}};
}

}  // namespace

nlohmann::json score_line_json(const Sample& sample, const ScoredSample& scored,
                               const RewardSettings& settings) {
  nlohmann::json out;
  out["id"] = sample.id;
  out["step"] = sample.step ? nlohmann::json(*sample.step) : nlohmann::json(nullptr);
  out["reward"] = scored.result.reward;
  out["helpfulness"] =
      scored.helpfulness ? nlohmann::json(*scored.helpfulness) : nlohmann::json(nullptr);
  out["case"] = scored.result.reward_case;
  out["channels"] = channels_json(scored.result.channels);
  out["safe"] = scored.result.safe;
  out["refusal"] = scored.result.refusal;
  out["answer"] = verdict_json(scored.answer, scored.answer_report);
  out["thinking"] = scored.thinking_judged ? verdict_json(scored.thinking, scored.thinking_report)
                                           : nlohmann::json(nullptr);
  out["truncated_thinking"] = sample.truncated_thinking;
  out["tokens"] = scored.tokens;
  out["injection"] = injection_to_json(scored.injection);
  out["answer_tokens"] =
      scored.answer_tokens ? nlohmann::json(*scored.answer_tokens) : nlohmann::json(nullptr);
  if (!sample.meta.is_null()) out["meta"] = sample.meta;
  if (sample.token_safety) {
    out["token_safety"] =
        scored.token_safety ? token_safety_json(*scored.token_safety) : nlohmann::json(nullptr);
  }
  if (scored.prompt) {
    out["prompt_verdict"] = verdict_json(scored.prompt->verdict, scored.prompt->report);
    out["prompt_verdict"]["cached"] = scored.prompt->cached;
  }
  if (!scored.turns.empty()) {
    out["turns"] = nlohmann::json::array();
    for (const TurnScore& turn : scored.turns) out["turns"].push_back(turn_json(turn));
  }
  if (!scored.tool_results.empty()) {
    out["tool_results"] = nlohmann::json::array();
    for (const ToolResultScore& tool : scored.tool_results) {
      out["tool_results"].push_back(
          {{"index", tool.index},
           {"verdict", verdict_json(tool.verdict, tool.report)},
           {"injection", tool.verdict
                             ? nlohmann::json(prompt_counts_as_harmful(settings, *tool.verdict))
                             : nlohmann::json(nullptr)}});
    }
  }
  return out;
}

SampleOutcome outcome_from_output(const nlohmann::json& line, const RewardSettings& settings) {
  try {
    // The line read back into what conversation_outcome needs.
    ScoredSample scored;
    scored.answer = parsed_verdict_from_json(line.at("answer"));
    if (!line.at("thinking").is_null()) {
      scored.thinking = parsed_verdict_from_json(line.at("thinking"));
    }
    RewardResult& result = scored.result;
    result.reward = line.at("reward").get<double>();
    result.reward_case = line.at("case").get<std::string>();
    result.safe = line.at("safe").get<bool>();
    result.refusal = line.at("refusal").get<bool>();
    // Lines written before the shield existed have no findings.
    if (line.contains("injection")) scored.injection = injection_from_json(line["injection"]);
    if (!line.at("helpfulness").is_null()) {
      scored.helpfulness = line.at("helpfulness").get<double>();
    }
    if (line.contains("prompt_verdict")) {
      scored.prompt = PromptScore{parsed_verdict_from_json(line["prompt_verdict"]), {}, false};
    }
    for (const auto& entry : line.value("turns", nlohmann::json::array())) {
      TurnScore turn;
      turn.answer = parsed_verdict_from_json(entry.at("answer"));
      if (!entry.at("thinking").is_null()) {
        turn.thinking_judged = true;
        turn.thinking = parsed_verdict_from_json(entry.at("thinking"));
      }
      scored.turns.push_back(std::move(turn));
    }
    for (const auto& entry : line.value("tool_results", nlohmann::json::array())) {
      scored.tool_results.push_back(
          {entry.at("index").get<size_t>(), parsed_verdict_from_json(entry.at("verdict")), {}});
    }
    const StepKey step =
        line.at("step").is_null() ? StepKey() : StepKey(line.at("step").get<int64_t>());
    SampleOutcome outcome =
        make_outcome(step, settings, scored.answer, scored.thinking, result, scored.helpfulness,
                     line.at("tokens").get<int64_t>(), conversation_outcome(scored, settings));
    // The monitors' inputs; lines written before they existed lack some: none counted.
    const nlohmann::json& answer = line.at("answer");
    if (answer.contains("decoding")) {
      scored.answer_report.decoded_by = parse_decoded_by(answer["decoding"].get<std::string>());
    }
    if (answer.contains("safety_mass") && !answer["safety_mass"].is_null()) {
      scored.answer_report.safety_mass = answer["safety_mass"].get<double>();
    }
    if (line.contains("answer_tokens") && !line["answer_tokens"].is_null()) {
      scored.answer_tokens = line["answer_tokens"].get<int64_t>();
    }
    Sample sample;
    sample.truncated_thinking = line.value("truncated_thinking", false);
    add_monitor_inputs(sample, scored, outcome);
    return outcome;
  } catch (const nlohmann::json::exception& e) {
    throw util::InputError(util::cat("not a safrl score output line (", e.what(), ")"));
  }
}

namespace {

GuardReport report_from_json(const nlohmann::json& value) {
  GuardReport report;
  report.text = value.at("text").get<std::string>();
  report.decoded_by = parse_decoded_by(value.at("decoding").get<std::string>());
  if (!value.at("safety_mass").is_null()) report.safety_mass = value["safety_mass"].get<double>();
  return report;
}

std::optional<double> optional_number_from_json(const nlohmann::json& value) {
  return value.is_null() ? std::nullopt : std::optional<double>(value.get<double>());
}

RewardResult result_from_json(const nlohmann::json& value) {
  RewardResult result;
  result.reward = value.at("reward").get<double>();
  result.reward_case = value.at("case").get<std::string>();
  result.safe = value.at("safe").get<bool>();
  result.refusal = value.at("refusal").get<bool>();
  if (value.contains("channels")) result.channels = channels_from_json(value["channels"]);
  return result;
}

}  // namespace

ScoredSample scored_from_line(const nlohmann::json& line) {
  try {
    ScoredSample scored;
    scored.answer = parsed_verdict_from_json(line.at("answer"));
    scored.answer_report = report_from_json(line["answer"]);
    if (!line.at("thinking").is_null()) {
      scored.thinking_judged = true;
      scored.thinking = parsed_verdict_from_json(line["thinking"]);
      scored.thinking_report = report_from_json(line["thinking"]);
    }
    scored.helpfulness = optional_number_from_json(line.at("helpfulness"));
    scored.result = result_from_json(line);
    scored.tokens = line.at("tokens").get<int64_t>();
    if (line.contains("prompt_verdict")) {
      const nlohmann::json& prompt = line["prompt_verdict"];
      scored.prompt = PromptScore{parsed_verdict_from_json(prompt), report_from_json(prompt),
                                  prompt.at("cached").get<bool>()};
    }
    for (const auto& entry : line.value("turns", nlohmann::json::array())) {
      TurnScore turn;
      turn.index = entry.at("index").get<size_t>();
      turn.answer = parsed_verdict_from_json(entry.at("answer"));
      turn.answer_report = report_from_json(entry["answer"]);
      if (!entry.at("thinking").is_null()) {
        turn.thinking_judged = true;
        turn.thinking = parsed_verdict_from_json(entry["thinking"]);
        turn.thinking_report = report_from_json(entry["thinking"]);
      }
      turn.helpfulness = optional_number_from_json(entry.at("helpfulness"));
      turn.result = result_from_json(entry);
      scored.turns.push_back(std::move(turn));
    }
    for (const auto& entry : line.value("tool_results", nlohmann::json::array())) {
      scored.tool_results.push_back({entry.at("index").get<size_t>(),
                                     parsed_verdict_from_json(entry.at("verdict")),
                                     report_from_json(entry["verdict"])});
    }
    if (line.contains("injection")) scored.injection = injection_from_json(line["injection"]);
    if (line.contains("answer_tokens") && !line["answer_tokens"].is_null()) {
      scored.answer_tokens = line["answer_tokens"].get<int64_t>();
    }
    if (line.contains("token_safety") && !line["token_safety"].is_null()) {
      scored.token_safety = token_safety_from_json(line["token_safety"]);
    }
    return scored;
  } catch (const nlohmann::json::exception& e) {
    throw util::InputError(util::cat("not a safrl score output line (", e.what(), ")"));
  }
}

Sample line_sample(const nlohmann::json& line) {
  try {
    Sample sample;
    sample.id = line.at("id");
    if (!line.at("step").is_null()) sample.step = line["step"].get<int64_t>();
    sample.truncated_thinking = line.at("truncated_thinking").get<bool>();
    if (line.contains("meta")) sample.meta = line["meta"];
    sample.token_safety = line.contains("token_safety");
    return sample;
  } catch (const nlohmann::json::exception& e) {
    throw util::InputError(util::cat("not a safrl score output line (", e.what(), ")"));
  }
}

}  // namespace safrl::reward
