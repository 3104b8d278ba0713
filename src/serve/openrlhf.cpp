#include "serve/openrlhf.h"

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
      samples.push_back(
          reward::sample_from_json({{"id", static_cast<int64_t>(i)},
                                    {"prompt", user_prompt(prompt)},
                                    {"response", clean_response(query.substr(prompt.size()))}}));
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

int http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::kBadRequest:
    case ErrorCode::kTooLong:
      return 400;
    case ErrorCode::kTooLarge:
      return 413;
    case ErrorCode::kBusy:
    case ErrorCode::kShuttingDown:
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kDeadlineExceeded:
      return 504;
    case ErrorCode::kUnsupportedVersion:
    case ErrorCode::kModelError:
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

}  // namespace safrl::serve::openrlhf
