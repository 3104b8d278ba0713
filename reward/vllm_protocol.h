// The JSON that the vLLM helpfulness backend (reward/vllm_helpfulness.h) sends and reads, as
// vLLM 0.32.0 defines it (vllm/entrypoints/pooling/{classify,pooling}/protocol.py and
// base/protocol.py; the same models in 0.34.0). Requests carry token ids, so the server does no
// rendering or tokenizing of its own:
//   POST /classify {"model", "input": [[ids]...], "use_activation": false}
//     -> {"data": [{"index", "label", "probs": [logit, ...], "num_classes"}...], ...}
//   POST /pooling  {"model", "input": [[ids]...], "task": "token_classify", "use_activation":
//   false}
//     -> {"data": [{"index", "object": "pooling", "data": [[value per label] per token]}...], ...}
//   GET /v1/models -> {"data": [{"id", "max_model_len", ...}...]}
//   POST /tokenize {"model", "prompt", "add_special_tokens": false} -> {"tokens": [...], ...}
// use_activation false gives the head's raw output (no sigmoid or softmax), as the local engine
// reads it. The score is the first label's value: at the sequence for classify, at the last
// token for token_classify.
//
// Pure functions, torch-free. A response that does not have the documented shape throws
// util::Error naming what is wrong (the server is not the vLLM version this speaks, or not vLLM).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "reward/config.h"

namespace safrl::reward {

// The endpoint path of `task` ("/classify" or "/pooling").
std::string vllm_endpoint(VllmTask task);

// The request body scoring `inputs` (token ids, one list per sequence).
std::string vllm_score_request(VllmTask task, const std::string& model,
                               const std::vector<std::vector<int32_t>>& inputs);

// The scores of a score response to a request of `count` sequences, in request order.
std::vector<double> parse_vllm_scores(VllmTask task, const std::string& body, size_t count);

struct VllmServedModel {
  std::string id;
  int64_t max_model_len = 0;  // 0: not given
};
// The models of a /v1/models response.
std::vector<VllmServedModel> parse_vllm_models(const std::string& body);

// The /tokenize request for `text` and the token ids of its response.
std::string vllm_tokenize_request(const std::string& model, const std::string& text);
std::vector<int32_t> parse_vllm_tokens(const std::string& body);

// What an error response says: vLLM's {"error": {"message"}} or FastAPI's {"detail"}, else the
// body itself (shortened).
std::string vllm_error_message(const std::string& body);

}  // namespace safrl::reward
