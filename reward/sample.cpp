#include "reward/sample.h"

#include "chat/thinking.h"
#include "util/error.h"

namespace safrl::reward {

namespace {

const std::string& string_field(const nlohmann::json& value, const char* key) {
  const auto& field = value.at(key);
  if (!field.is_string()) {
    throw util::InputError(util::cat("\"", key, "\" must be a string, got ", field.type_name()));
  }
  return field.get_ref<const std::string&>();
}

}  // namespace

std::string id_key(const nlohmann::json& id) {
  return id.dump();
}

Sample sample_from_json(const nlohmann::json& value) {
  if (!value.is_object()) {
    throw util::InputError(util::cat("a sample must be a JSON object, got ", value.type_name()));
  }
  for (const auto& [key, field] : value.items()) {
    if (key != "id" && key != "prompt" && key != "response" && key != "answer" &&
        key != "thinking" && key != "step" && key != "meta") {
      throw util::InputError(util::cat("unknown field \"", key,
                                       "\"; a sample has id, prompt, response (or answer and "
                                       "thinking), step and meta"));
    }
  }
  Sample sample;
  if (!value.contains("id")) throw util::InputError("missing \"id\" (a string or an integer)");
  sample.id = value["id"];
  if (!sample.id.is_string() && !sample.id.is_number_integer()) {
    throw util::InputError(
        util::cat("\"id\" must be a string or an integer, got ", sample.id.type_name()));
  }
  if (!value.contains("prompt")) throw util::InputError("missing \"prompt\"");
  sample.prompt = string_field(value, "prompt");

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
