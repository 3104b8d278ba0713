#include "reward/judged_turns.h"

#include "chat/thinking.h"

namespace safrl::reward {

namespace {

// An assistant message as context of a later judgement: the answer the user saw, without the
// reasoning before it.
chat::Message as_context(const chat::Message& message) {
  if (message.role != "assistant") return message;
  return {message.role, chat::split_thinking(message.content).answer, message.tool_calls};
}

std::vector<chat::Message> context_before(const std::vector<chat::Message>& messages, size_t end) {
  std::vector<chat::Message> out;
  out.reserve(end + 1);
  for (size_t i = 0; i < end; ++i) out.push_back(as_context(messages[i]));
  return out;
}

// The answer and, when judged, the thinking of one assistant turn at `turn`.
void add_turn(std::vector<GuardCall>& calls, const std::vector<chat::Message>& context, size_t turn,
              const std::string& answer, const std::vector<chat::ToolCall>& tool_calls,
              const std::optional<std::string>& thinking, bool judge_thinking) {
  GuardCall call{GuardCall::Kind::kAnswer, turn, context};
  call.conversation.push_back({"assistant", answer, tool_calls});
  calls.push_back(std::move(call));
  if (thinking && judge_thinking) {
    GuardCall trace{GuardCall::Kind::kThinking, turn, context};
    trace.conversation.push_back({"assistant", *thinking});
    calls.push_back(std::move(trace));
  }
}

}  // namespace

JudgeOptions judge_options(const Sample& sample, const RewardSettings& settings) {
  JudgeOptions options;
  options.judge = sample.judge.value_or(settings.judge);
  options.prompt = prompt_judged(settings, sample.judge_prompt);
  options.tool_results = sample.judge_tool_results.value_or(settings.judge_tool_results);
  options.thinking = settings.judge_thinking;
  return options;
}

std::vector<GuardCall> guard_calls(const Sample& sample, const RewardSettings& settings) {
  const JudgeOptions options = judge_options(sample, settings);
  const std::vector<chat::Message>& messages = sample.messages;
  size_t last_user = messages.size();
  for (size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].role == "user") last_user = i;
  }
  std::vector<GuardCall> calls;
  for (size_t i = 0; i < messages.size(); ++i) {
    const chat::Message& message = messages[i];
    if (message.role == "tool" && options.tool_results) {
      calls.push_back({GuardCall::Kind::kToolResult, i, context_before(messages, i + 1)});
    } else if (message.role == "user" && i == last_user && options.prompt) {
      calls.push_back({GuardCall::Kind::kPrompt, i, context_before(messages, i + 1)});
    } else if (message.role == "assistant" && i >= sample.policy_turns_from &&
               options.judge == JudgeTurns::kAllTurns) {
      const chat::SplitResponse split = chat::split_thinking(message.content);
      add_turn(calls, context_before(messages, i), i, split.answer, message.tool_calls,
               split.thinking, options.thinking);
    }
  }
  add_turn(calls, context_before(messages, messages.size()), messages.size(), sample.answer,
           sample.tool_calls, sample.thinking, options.thinking);
  return calls;
}

const char* guard_call_kind_name(GuardCall::Kind kind) {
  switch (kind) {
    case GuardCall::Kind::kAnswer:
      return "answer";
    case GuardCall::Kind::kThinking:
      return "thinking";
    case GuardCall::Kind::kPrompt:
      return "prompt";
    case GuardCall::Kind::kToolResult:
      return "tool_result";
  }
  return "?";
}

std::string context_key(const std::vector<chat::Message>& conversation) {
  std::string key;
  for (size_t m = 0; m + 1 < conversation.size(); ++m) {
    const chat::Message& message = conversation[m];
    key += message.role + '\0' + message.content + '\0';
    for (const chat::ToolCall& call : message.tool_calls) {
      key += call.name + '\x01' + call.arguments + '\x01';
    }
  }
  return key;
}

}  // namespace safrl::reward
