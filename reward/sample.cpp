#include "reward/sample.h"

#include <algorithm>
#include <string_view>

#include "chat/thinking.h"
#include "util/error.h"

namespace safrl::reward {

namespace {

constexpr std::string_view kFields[] = {
    "id",     "prompt",       "messages",           "response",
    "answer", "thinking",     "tool_calls",         "policy_turns_from",
    "judge",  "judge_prompt", "judge_tool_results", "step",
    "meta"};

const std::string& string_field(const nlohmann::json& value, const char* key) {
  const auto& field = value.at(key);
  if (!field.is_string()) {
    throw util::InputError(util::cat("\"", key, "\" must be a string, got ", field.type_name()));
  }
  return field.get_ref<const std::string&>();
}

std::optional<bool> bool_field(const nlohmann::json& value, const char* key) {
  if (!value.contains(key) || value[key].is_null()) return std::nullopt;
  if (!value[key].is_boolean()) {
    throw util::InputError(
        util::cat("\"", key, "\" must be true or false, got ", value[key].dump()));
  }
  return value[key].get<bool>();
}

std::vector<chat::Message> conversation(const nlohmann::json& value) {
  const bool has_prompt = value.contains("prompt");
  if (has_prompt == value.contains("messages")) {
    throw util::InputError(has_prompt ? "give either \"prompt\" or \"messages\", not both"
                                      : "missing \"prompt\" (or \"messages\")");
  }
  if (has_prompt) return {{"user", string_field(value, "prompt")}};
  std::vector<chat::Message> messages = chat::messages_from_json(value["messages"]);
  const std::string& last = messages.back().role;
  if (last != "user" && last != "tool") {
    throw util::InputError(util::cat(
        "messages[", messages.size() - 1, "].role is \"", last, "\": messages ends with ",
        last == "assistant" ? "an assistant turn" : util::cat("a ", last, " message"),
        "; the turn being judged goes in \"response\", and messages must end with a user or "
        "tool message"));
  }
  return messages;
}

size_t policy_turns_from(const nlohmann::json& value, size_t messages) {
  if (!value.contains("policy_turns_from") || value["policy_turns_from"].is_null()) {
    return messages;
  }
  const auto& field = value["policy_turns_from"];
  if (!field.is_number_integer() || field.get<int64_t>() < 0 ||
      field.get<int64_t>() > static_cast<int64_t>(messages)) {
    throw util::InputError(util::cat("\"policy_turns_from\" must be an integer from 0 to ",
                                     messages, " (the number of messages), got ", field.dump()));
  }
  return static_cast<size_t>(field.get<int64_t>());
}

}  // namespace

const std::string& Sample::last_user_text() const {
  static const std::string kNone;
  const auto last = std::find_if(messages.rbegin(), messages.rend(),
                                 [](const chat::Message& m) { return m.role == "user"; });
  return last == messages.rend() ? kNone : last->content;
}

std::string id_key(const nlohmann::json& id) {
  return id.dump();
}

Sample sample_from_json(const nlohmann::json& value) {
  if (!value.is_object()) {
    throw util::InputError(util::cat("a sample must be a JSON object, got ", value.type_name()));
  }
  for (const auto& [key, field] : value.items()) {
    if (std::find(std::begin(kFields), std::end(kFields), key) == std::end(kFields)) {
      throw util::InputError(util::cat(
          "unknown field \"", key,
          "\"; a sample has id, prompt (or messages), response (or answer and thinking), "
          "tool_calls, policy_turns_from, judge, judge_prompt, judge_tool_results, step and meta"));
    }
  }
  Sample sample;
  if (!value.contains("id")) throw util::InputError("missing \"id\" (a string or an integer)");
  sample.id = value["id"];
  if (!sample.id.is_string() && !sample.id.is_number_integer()) {
    throw util::InputError(
        util::cat("\"id\" must be a string or an integer, got ", sample.id.type_name()));
  }
  sample.messages = conversation(value);
  sample.policy_turns_from = policy_turns_from(value, sample.messages.size());

  const bool has_response = value.contains("response");
  const bool has_answer = value.contains("answer");
  if (has_response == has_answer) {
    throw util::InputError(has_response ? "give either \"response\" or \"answer\", not both"
                                        : "missing \"response\" (or \"answer\")");
  }
  if (has_response) {
    if (value.contains("thinking")) {
      throw util::InputError(
          "\"thinking\" goes with \"answer\"; with \"response\" the think block is split off");
    }
    chat::SplitResponse split = chat::split_thinking(string_field(value, "response"));
    sample.thinking = std::move(split.thinking);
    sample.answer = std::move(split.answer);
    sample.truncated_thinking = split.truncated;
  } else {
    sample.answer = string_field(value, "answer");
    if (value.contains("thinking") && !value["thinking"].is_null()) {
      // A blank trace has nothing to judge, as in chat::split_thinking.
      const std::string& thinking = string_field(value, "thinking");
      if (thinking.find_first_not_of(" \t\r\n") != std::string::npos) sample.thinking = thinking;
    }
  }
  if (value.contains("tool_calls") && !value["tool_calls"].is_null()) {
    sample.tool_calls = chat::tool_calls_from_json(value["tool_calls"], "tool_calls");
  }
  if (value.contains("judge") && !value["judge"].is_null()) {
    if (!value["judge"].is_string()) {
      throw util::InputError(
          util::cat("\"judge\" must be \"last\" or \"all_turns\", got ", value["judge"].dump()));
    }
    try {
      sample.judge = parse_judge_turns(value["judge"].get<std::string>());
    } catch (const util::InputError& e) {
      throw util::InputError(util::cat("\"judge\": ", e.what()));
    }
  }
  sample.judge_prompt = bool_field(value, "judge_prompt");
  sample.judge_tool_results = bool_field(value, "judge_tool_results");
  if (value.contains("step") && !value["step"].is_null()) {
    const auto& step = value["step"];
    if (!step.is_number_integer() || step.get<int64_t>() < 0) {
      throw util::InputError(
          util::cat("\"step\" must be a non-negative integer, got ", step.dump()));
    }
    sample.step = step.get<int64_t>();
  }
  if (value.contains("meta")) sample.meta = value["meta"];
  return sample;
}

}  // namespace safrl::reward
