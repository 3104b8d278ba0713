#include "reward/sample.h"

#include <algorithm>
#include <string_view>

#include "chat/thinking.h"
#include "io/json_reader.h"
#include "reward/stream_verdict.h"
#include "util/error.h"

namespace safrl::reward {

namespace {

constexpr std::string_view kFields[] = {
    "id",     "prompt",       "messages",           "response",
    "answer", "thinking",     "tool_calls",         "policy_turns_from",
    "judge",  "judge_prompt", "judge_tool_results", "step",
    "meta"};

std::vector<chat::Message> conversation(const io::JsonReader& value) {
  const bool has_prompt = value.has("prompt");
  if (has_prompt == value.has("messages")) {
    value.fail(has_prompt ? "give either \"prompt\" or \"messages\", not both"
                          : "missing \"prompt\" (or \"messages\")");
  }
  if (has_prompt) return {{"user", value.at("prompt").as_string()}};
  const io::JsonReader messages = value.at("messages");
  std::vector<chat::Message> result = chat::read_messages(messages);
  const std::string& last = result.back().role;
  if (last != "user" && last != "tool") {
    messages.index(result.size() - 1)
        .at("role")
        .fail(
            util::cat("messages ends with ",
                      last == "assistant" ? "an assistant turn" : util::cat("a ", last, " message"),
                      "; the turn being judged goes in \"response\", and messages must end with "
                      "a user or tool message"));
  }
  return result;
}

size_t policy_turns_from(const io::JsonReader& value, size_t messages) {
  const std::optional<io::JsonReader> field = value.optional("policy_turns_from");
  if (!field) return messages;
  const auto& number = field->value();
  if (!number.is_number_integer() || number.get<int64_t>() < 0 ||
      number.get<int64_t>() > static_cast<int64_t>(messages)) {
    field->fail(util::cat("must be an integer from 0 to ", messages,
                          " (the number of messages), got ", field->describe()));
  }
  return static_cast<size_t>(number.get<int64_t>());
}

std::optional<bool> bool_field(const io::JsonReader& value, std::string_view key) {
  const std::optional<io::JsonReader> field = value.optional(key);
  if (!field) return std::nullopt;
  return field->as_bool();
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

JudgeTurns read_judge_turns(const io::JsonReader& judge) {
  if (!judge.value().is_string()) {
    judge.fail(util::cat("must be \"last\" or \"all_turns\", got ", judge.describe()));
  }
  try {
    return parse_judge_turns(judge.as_string());
  } catch (const util::InputError& e) {
    judge.fail(e.what());
  }
}

Sample sample_from_json(const nlohmann::json& value, const std::string& path) {
  const io::JsonReader sample(value, io::throw_as<util::InputError>(), path);
  if (!value.is_object()) {
    sample.fail(util::cat("a sample must be a JSON object, got ", sample.describe()));
  }
  sample.allow_keys(std::vector<std::string_view>(std::begin(kFields), std::end(kFields)));
  Sample result;
  const io::JsonReader id = sample.at("id", "give a string or an integer");
  if (!id.value().is_string() && !id.value().is_number_integer()) {
    id.fail(util::cat("must be a string or an integer, got ", id.describe()));
  }
  result.id = id.value();
  result.messages = conversation(sample);
  result.policy_turns_from = policy_turns_from(sample, result.messages.size());

  const bool has_response = sample.has("response");
  if (has_response == sample.has("answer")) {
    sample.fail(has_response ? "give either \"response\" or \"answer\", not both"
                             : "missing \"response\" (or \"answer\")");
  }
  if (has_response) {
    if (sample.has("thinking")) {
      sample.child("thinking")
          .fail("goes with \"answer\"; with \"response\" the think block is split off");
    }
    const std::string& response = sample.at("response").as_string();
    chat::SplitResponse split = chat::split_thinking(response);
    result.answer_offset = code_points(response) - code_points(split.answer);
    result.thinking = std::move(split.thinking);
    result.answer = std::move(split.answer);
    result.truncated_thinking = split.truncated;
  } else {
    result.answer = sample.at("answer").as_string();
    if (const auto thinking = sample.optional("thinking")) {
      // A blank trace has nothing to judge, as in chat::split_thinking.
      const std::string& text = thinking->as_string();
      if (text.find_first_not_of(" \t\r\n") != std::string::npos) result.thinking = text;
    }
  }
  if (const auto calls = sample.optional("tool_calls")) {
    result.tool_calls = chat::read_tool_calls(*calls);
  }
  if (const auto judge = sample.optional("judge")) result.judge = read_judge_turns(*judge);
  result.judge_prompt = bool_field(sample, "judge_prompt");
  result.judge_tool_results = bool_field(sample, "judge_tool_results");
  if (const auto step = sample.optional("step")) result.step = step->as_int(0);
  if (sample.has("meta")) result.meta = value["meta"];
  return result;
}

}  // namespace safrl::reward
