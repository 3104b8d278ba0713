#include "serve/openrlhf.h"

#include "chat/qwen3_parse.h"
#include "chat/thinking.h"
#include "serve/protocol.h"

namespace safrl::serve::openrlhf {

namespace {

constexpr const char* kWhitespace = " \t\n\r\f\v";

bool ends_with(const std::string& text, const std::string& tail) {
  return text.size() >= tail.size() &&
         text.compare(text.size() - tail.size(), tail.size(), tail) == 0;
}

std::string rstrip(std::string text) {
  const size_t end = text.find_last_not_of(kWhitespace);
  text.erase(end == std::string::npos ? 0 : end + 1);
  return text;
}

[[noreturn]] void bad(const std::string& message) {
  throw ProtocolError(ErrorCode::kBadRequest, message);
}

constexpr std::string_view kAssistantHeader = "<|im_start|>assistant\n";

// Where the generation prompt of a Qwen3/ChatML-rendered prompt begins: its last assistant header,
// with no turn closed after it (Qwen3's non-thinking mode adds an empty think block there). npos
// when the prompt is not such a rendering.
size_t generation_prompt_at(const std::string& prompt) {
  if (prompt.rfind("<|im_start|>", 0) != 0) return std::string::npos;
  const size_t at = prompt.rfind(kAssistantHeader);
  if (at == std::string::npos || at == 0 || prompt.find("<|im_end|>", at) != std::string::npos) {
    return std::string::npos;
  }
  return at;
}

nlohmann::json message_json(const chat::Message& message) {
  nlohmann::json json = {{"role", message.role}, {"content", message.content}};
  for (const chat::ToolCall& call : message.tool_calls) {
    json["tool_calls"].push_back({{"name", call.name}, {"arguments", call.arguments}});
  }
  return json;
}

// The sample of a query whose prompt is rendered with the Qwen3 (ChatML) template, the
// generation prompt starting at `at`: the prompt's turns are the context; a response holding
// several assistant turns with tool results between them (an agent rollout) adds its earlier
// turns to the context as the policy's, and its last assistant turn is the response.
nlohmann::json chat_sample(const std::string& prompt, size_t at, const std::string& response) {
  nlohmann::json messages = nlohmann::json::array();
  for (const chat::Message& m : chat::parse_qwen3_text(std::string_view(prompt).substr(0, at))) {
    messages.push_back(message_json(m));
  }
  nlohmann::json sample = {{"messages", messages}};
  const std::string cleaned = clean_response(response);
  if (cleaned.find("<|im_start|>") == std::string::npos) {
    sample["response"] = cleaned;
    return sample;
  }
  std::vector<chat::Message> turns = chat::parse_qwen3_text(prompt.substr(at) + cleaned);
  if (turns.back().role != "assistant") {
    throw util::InputError(util::cat("the response ends with a ", turns.back().role,
                                     " turn; an agent rollout ends with the policy's answer"));
  }
  sample["policy_turns_from"] = messages.size();
  for (size_t t = 0; t + 1 < turns.size(); ++t) {
    // Earlier turns keep their think blocks: the guard's context leaves them out, and with
    // judge: all_turns each turn's thinking is judged (reward/judged_turns.h).
    sample["messages"].push_back(message_json(turns[t]));
  }
  sample["response"] = turns.back().content;
  if (!turns.back().tool_calls.empty()) {
    sample["tool_calls"] = message_json(turns.back())["tool_calls"];
  }
  return sample;
}

}  // namespace

std::string clean_response(const std::string& response) {
  std::string text = response;
  bool removed = false;
  while (true) {
    const std::string stripped = rstrip(text);
    bool found = false;
    for (const std::string marker : {"<|im_end|>", "<|endoftext|>"}) {
      if (ends_with(stripped, marker)) {
        text = stripped.substr(0, stripped.size() - marker.size());
        found = removed = true;
        break;
      }
    }
    if (!found) break;
  }
  return removed ? rstrip(text) : response;
}

std::string user_prompt(const std::string& prompt) {
  const std::string open = "<|im_start|>user\n";
  const size_t at = prompt.rfind(open);
  if (at == std::string::npos) return prompt;
  const size_t begin = at + open.size();
  const size_t end = prompt.find("<|im_end|>", begin);
  return prompt.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

std::vector<reward::Sample> samples_from_body(const nlohmann::json& body) {
  if (!body.is_object()) bad("the body must be a JSON object with \"query\" and \"prompts\"");
  for (const char* key : {"query", "prompts"}) {
    if (!body.contains(key) || !body[key].is_array()) {
      bad(util::cat("\"", key, "\" must be an array of strings"));
    }
  }
  const auto& queries = body["query"];
  const auto& prompts = body["prompts"];
  if (queries.size() != prompts.size()) {
    bad(util::cat("\"query\" has ", queries.size(), " entries but \"prompts\" ", prompts.size(),
                  "; send one prompt per query"));
  }
  std::vector<reward::Sample> samples;
  for (size_t i = 0; i < queries.size(); ++i) {
    if (!queries[i].is_string() || !prompts[i].is_string()) {
      bad(util::cat("query[", i, "] and prompts[", i, "] must be strings"));
    }
    const std::string& query = queries[i].get_ref<const std::string&>();
    const std::string& prompt = prompts[i].get_ref<const std::string&>();
    if (query.compare(0, prompt.size(), prompt) != 0) {
      bad(util::cat("query[", i, "] does not start with prompts[", i,
                    "]; the response is what follows the prompt in the query"));
    }
    try {
      const std::string response = query.substr(prompt.size());
      const size_t at = generation_prompt_at(prompt);
      nlohmann::json sample = at == std::string::npos
                                  ? nlohmann::json{{"prompt", user_prompt(prompt)},
                                                   {"response", clean_response(response)}}
                                  : chat_sample(prompt, at, response);
      sample["id"] = static_cast<int64_t>(i);
      samples.push_back(reward::sample_from_json(sample));
    } catch (const util::InputError& e) {
      bad(util::cat("query[", i, "]: ", e.what()));
    }
  }
  return samples;
}

nlohmann::json reply_from_results(const nlohmann::json& results) {
  nlohmann::json rewards = nlohmann::json::array(), safe = nlohmann::json::array(),
                 refusal = nlohmann::json::array(), unparseable = nlohmann::json::array(),
                 helpfulness = nlohmann::json::array();
  bool all_helpfulness = true;
  for (const auto& result : results) {
    rewards.push_back(result.at("reward"));
    safe.push_back(result.at("safe").get<bool>() ? 1.0 : 0.0);
    refusal.push_back(result.at("refusal").get<bool>() ? 1.0 : 0.0);
    unparseable.push_back(result.at("case") == "unparseable" ? 1.0 : 0.0);
    if (result.at("helpfulness").is_number()) {
      helpfulness.push_back(result["helpfulness"]);
    } else {
      all_helpfulness = false;
    }
  }
  nlohmann::json logs = {
      {"safrl_safe", safe}, {"safrl_refusal", refusal}, {"safrl_unparseable", unparseable}};
  if (all_helpfulness) logs["safrl_helpfulness"] = helpfulness;
  return {{"rewards", rewards}, {"scores", rewards}, {"extra_logs", logs}};
}

}  // namespace safrl::serve::openrlhf
