// What the guard is asked about one sample: the list of guard conversations (calls) its
// judgement needs, built from the sample and the reward settings, so the scorer and
// `safrl render --format guard` show the guard exactly the same text.
//
// The effective options are the sample's overrides, else the settings': judge (last |
// all_turns), judge_prompt (also on when refusal_penalty is prompt_aware, which needs the
// prompt's verdict), judge_tool_results; the thinking is judged when settings.judge_thinking.
// Calls, in this order (ordered by message index; the response's index is messages.size()):
//   kToolResult  judge_tool_results: every tool message j, as prompt moderation of messages[0..j]
//                (is the tool result an injection?).
//   kPrompt      judge_prompt: prompt moderation of messages up to and including the last user
//                message (none when the conversation has no user message).
//   kAnswer, kThinking  all_turns: every assistant message k >= policy_turns_from, split with
//                chat::split_thinking: its answer part with its tool calls, and its thinking
//                when judged, each as response moderation of messages[0..k) + that turn.
//   kAnswer, kThinking  always: the response, as response moderation of messages + {assistant,
//                answer, tool_calls}; the thinking as messages + {assistant, thinking}.
// Assistant messages shown as context lose their leading think block (what the user saw;
// Qwen3's chat template drops earlier reasoning too). Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "chat/message.h"
#include "reward/reward.h"
#include "reward/sample.h"

namespace safrl::reward {

struct GuardCall {
  enum class Kind { kAnswer, kThinking, kPrompt, kToolResult };
  Kind kind = Kind::kAnswer;
  size_t turn = 0;  // the message index judged; messages.size() for the response
  std::vector<chat::Message> conversation;  // ends with the judged message
};

// The options a sample is judged with: its overrides, else the settings'.
struct JudgeOptions {
  JudgeTurns judge = JudgeTurns::kLast;
  bool prompt = false;
  bool tool_results = false;
  bool thinking = true;
};

JudgeOptions judge_options(const Sample& sample, const RewardSettings& settings);

std::vector<GuardCall> guard_calls(const Sample& sample, const RewardSettings& settings);

// "answer" | "thinking" | "prompt" | "tool_result".
const char* guard_call_kind_name(GuardCall::Kind kind);

// A key equal for conversations that differ only in their last message (their shared context),
// for prefix sharing.
std::string context_key(const std::vector<chat::Message>& conversation);

}  // namespace safrl::reward
