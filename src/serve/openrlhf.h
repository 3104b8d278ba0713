// OpenRLHF's remote reward-model protocol (POST /get_reward), as pure functions; the contract is
// docs/trainers/openrlhf.md, and safrl/openrlhf.py implements the same mapping in Python.
//
//   request  {"query": [prompt + response, ...], "prompts": [prompt, ...], "labels": ignored}
//   reply    {"rewards": [...], "scores": [...], "extra_logs": {"safrl_safe": [...], ...}}
// A prompt rendered with the Qwen3 (ChatML) template is read back into its turns
// (chat::parse_qwen3_text); a response of several assistant turns with tool results between them
// (an agent rollout) gives the policy's earlier turns and, as the response, its last one.
// Pure functions, thread-safe, no LibTorch.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "reward/sample.h"
#include "serve/protocol.h"

namespace safrl::serve::openrlhf {

// Drops trailing <|im_end|> / <|endoftext|> markers (with the ASCII whitespace around them) when
// the response ends in one; otherwise returns it unchanged.
std::string clean_response(const std::string& response);
// The last user turn of a ChatML-rendered prompt; the prompt itself when it is not ChatML.
std::string user_prompt(const std::string& prompt);
// The samples of a request body (docs/trainers/openrlhf.md, "Mapping"); throws ProtocolError
// (bad_request) naming the index at fault.
std::vector<reward::Sample> samples_from_body(const nlohmann::json& body);
// The reply body for score results (one per query, in order).
nlohmann::json reply_from_results(const nlohmann::json& results);

}  // namespace safrl::serve::openrlhf
