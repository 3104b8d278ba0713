// One rollout to score, as a user sends it (a JSON line of `safrl score`, a sample of a server
// request), validated once here so the offline scorer and the server accept exactly the same
// input and give the same messages.
//
// Accepted fields: "id" (string or integer, required; echoed back as given); the conversation
// before the response, either "prompt" (string, the one-turn shorthand for
// [{"role": "user", "content": prompt}]) or "messages" (the OpenAI chat format of
// chat::messages_from_json, ending with a user or tool message); then either "response" (string;
// a think block in it is split off, see chat/thinking.h) or "answer" (string) with an optional
// "thinking" (string or null); "tool_calls" (the response's own calls, as an assistant message's);
// "policy_turns_from" (integer k in [0, len(messages)]: messages[k:] were written by the policy
// and the tool results it got; absent: len(messages), only the response is the policy's);
// "judge" ("last" | "all_turns"), "judge_prompt" and "judge_tool_results" (booleans) override
// the config's reward settings for this sample; optional "step" (non-negative integer) and
// "meta" (any JSON, echoed back). Any other field is refused so a misspelt one ("respones")
// cannot silently score an empty answer. Errors name the field path (messages[3].content ...).
// Pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chat/message.h"
#include "reward/reward.h"

namespace safrl::io {
class JsonReader;
}

namespace safrl::reward {

struct Sample {
  nlohmann::json id;  // string or integer, as given
  // The conversation before the response; ends with a user or tool message.
  std::vector<chat::Message> messages;
  // messages[policy_turns_from:] are the policy's own turns and the tool results it got.
  size_t policy_turns_from = 0;
  std::optional<std::string> thinking;     // the trace t; nullopt when there is none
  std::string answer;                      // the final answer y
  std::vector<chat::ToolCall> tool_calls;  // the response's own tool calls
  bool truncated_thinking = false;         // "<think>" opened and never closed: answer is empty
  // Per-sample overrides of the reward settings; nullopt: the config's.
  std::optional<JudgeTurns> judge;
  std::optional<bool> judge_prompt;
  std::optional<bool> judge_tool_results;
  std::optional<int64_t> step;  // training step, for the step statistics
  nlohmann::json meta;          // echoed back untouched; null when absent
  // Code points of the sent "response" before `answer` (the think block split off; answer is
  // always its suffix), so that offsets into the answer can name the text as sent; 0 for a sample
  // sent with "answer".
  int64_t answer_offset = 0;
  // Not a sample field: set for a whole request ("token_safety": true, serve/protocol.h) or run
  // (safrl score --token-safety); the output line then carries "token_safety" (score_line.h).
  bool token_safety = false;

  // The content of the last user message (the prompt x of a one-turn sample); empty when the
  // conversation has none.
  const std::string& last_user_text() const;
};

// Throws util::InputError naming the field path at fault, below `path` when the sample is part of
// something larger: "samples[3].prompt: must be a string, got a number (5)".
Sample sample_from_json(const nlohmann::json& value, const std::string& path = {});

// A "judge" value ("last" or "all_turns"); fails through the reader's JsonFail.
JudgeTurns read_judge_turns(const io::JsonReader& judge);

// The id as a string key ("7" for 7, "\"7\"" for "7"), distinct for distinct ids.
std::string id_key(const nlohmann::json& id);

}  // namespace safrl::reward
