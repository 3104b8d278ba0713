// One rollout to score, as a user sends it (a JSON line of `safrl score`, a sample of a server
// request), validated once here so the offline scorer and the server accept exactly the same
// input and give the same messages.
//
// Accepted fields: "id" (string or integer, required; echoed back as given), "prompt" (string,
// required), then either "response" (string; a think block in it is split off, see
// chat/thinking.h) or "answer" (string) with an optional "thinking" (string or null); optional
// "step" (non-negative integer) and "meta" (any JSON, echoed back). Any other field is refused
// so a misspelt one ("respones") cannot silently score an empty answer. Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace safrl::reward {

struct Sample {
  nlohmann::json id;                    // string or integer, as given
  std::string prompt;                   // the user's query x
  std::optional<std::string> thinking;  // the trace t; nullopt when there is none
  std::string answer;                   // the final answer y
  bool truncated_thinking = false;      // "<think>" opened and never closed: answer is empty
  std::optional<int64_t> step;          // training step, for the step statistics
  nlohmann::json meta;                  // echoed back untouched; null when absent
};

// Throws util::InputError naming the field at fault.
Sample sample_from_json(const nlohmann::json& value);

// The id as a string key ("7" for 7, "\"7\"" for "7"), distinct for distinct ids.
std::string id_key(const nlohmann::json& id);

}  // namespace safrl::reward
