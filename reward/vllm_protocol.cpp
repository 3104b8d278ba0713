#include "reward/vllm_protocol.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace safrl::reward {
namespace {

using nlohmann::json;

json parse_body(const std::string& body, const char* what) {
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    throw util::Error(util::cat("the ", what, " response is not JSON: ", vllm_error_message(body)));
  }
  return parsed;
}

const json& field(const json& object, const char* key, const std::string& where) {
  if (!object.is_object() || !object.contains(key)) {
    throw util::Error(util::cat(where, " has no \"", key, "\" field"));
  }
  return object[key];
}

double number_at(const json& value, const std::string& where) {
  if (!value.is_number()) throw util::Error(util::cat(where, " is not a number: ", value.dump()));
  return value.get<double>();
}

// The first label's value of one output row: [v0, v1, ...] with at least one value.
double first_label(const json& row, const std::string& where) {
  if (!row.is_array() || row.empty()) {
    throw util::Error(util::cat(where, " is not a non-empty list of numbers: ", row.dump()));
  }
  return number_at(row[0], where + "[0]");
}

}  // namespace

std::string vllm_endpoint(VllmTask task) {
  return task == VllmTask::kClassify ? "/classify" : "/pooling";
}

std::string vllm_score_request(VllmTask task, const std::string& model,
                               const std::vector<std::vector<int32_t>>& inputs) {
  json body = {{"model", model}, {"input", inputs}, {"use_activation", false}};
  if (task == VllmTask::kTokenClassify) body["task"] = "token_classify";
  return body.dump();
}

std::vector<double> parse_vllm_scores(VllmTask task, const std::string& body, size_t count) {
  const json response = parse_body(body, vllm_endpoint(task).c_str());
  const json& data = field(response, "data", "the response");
  if (!data.is_array() || data.size() != count) {
    throw util::Error(util::cat("the response's \"data\" holds ",
                                data.is_array() ? std::to_string(data.size()) : data.type_name(),
                                " results for ", count, " sequences sent"));
  }
  std::vector<double> scores(count, NAN);
  std::vector<bool> seen(count, false);
  for (size_t i = 0; i < count; ++i) {
    const std::string where = util::cat("data[", i, "]");
    const json& index = field(data[i], "index", where);
    if (!index.is_number_integer() || index.get<int64_t>() < 0 || index.get<uint64_t>() >= count ||
        seen[index.get<size_t>()]) {
      throw util::Error(util::cat(where, ".index is ", index.dump(), "; expected each of 0..",
                                  count - 1, " once"));
    }
    const size_t slot = index.get<size_t>();
    seen[slot] = true;
    if (task == VllmTask::kClassify) {
      scores[slot] = first_label(field(data[i], "probs", where), where + ".probs");
    } else {
      const json& rows = field(data[i], "data", where);
      if (!rows.is_array() || rows.empty()) {
        throw util::Error(util::cat(where, ".data is not a list of per-token values"));
      }
      scores[slot] = first_label(rows.back(), util::cat(where, ".data[", rows.size() - 1, "]"));
    }
  }
  return scores;
}

std::vector<VllmServedModel> parse_vllm_models(const std::string& body) {
  const json response = parse_body(body, "/v1/models");
  const json& data = field(response, "data", "the /v1/models response");
  if (!data.is_array()) throw util::Error("the /v1/models response's \"data\" is not a list");
  std::vector<VllmServedModel> models;
  for (size_t i = 0; i < data.size(); ++i) {
    const std::string where = util::cat("/v1/models data[", i, "]");
    const json& id = field(data[i], "id", where);
    if (!id.is_string()) throw util::Error(util::cat(where, ".id is not a string"));
    VllmServedModel model{id.get<std::string>(), 0};
    if (data[i].contains("max_model_len") && data[i]["max_model_len"].is_number_integer()) {
      model.max_model_len = data[i]["max_model_len"].get<int64_t>();
    }
    models.push_back(std::move(model));
  }
  return models;
}

std::string vllm_tokenize_request(const std::string& model, const std::string& text) {
  return json{{"model", model}, {"prompt", text}, {"add_special_tokens", false}}.dump();
}

std::vector<int32_t> parse_vllm_tokens(const std::string& body) {
  const json response = parse_body(body, "/tokenize");
  const json& tokens = field(response, "tokens", "the /tokenize response");
  if (!tokens.is_array()) throw util::Error("the /tokenize response's \"tokens\" is not a list");
  std::vector<int32_t> ids;
  for (const json& token : tokens) {
    if (!token.is_number_integer()) {
      throw util::Error(util::cat("the /tokenize response holds a non-id: ", token.dump()));
    }
    ids.push_back(token.get<int32_t>());
  }
  return ids;
}

std::string vllm_error_message(const std::string& body) {
  const json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_object()) {
    if (parsed.contains("error") && parsed["error"].is_object() &&
        parsed["error"].contains("message") && parsed["error"]["message"].is_string()) {
      return parsed["error"]["message"].get<std::string>();
    }
    if (parsed.contains("detail")) {
      return parsed["detail"].is_string() ? parsed["detail"].get<std::string>()
                                          : parsed["detail"].dump();
    }
  }
  constexpr size_t kShown = 300;
  return body.size() <= kShown ? body : body.substr(0, kShown) + "...";
}

}  // namespace safrl::reward
