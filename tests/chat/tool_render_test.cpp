// Tool calls and tool results in every format, against hand-written expectations from the rules
// in docs/chat-formats.md. The qwen3 renderings are also compared with transformers in
// tests/oracle/test_chat_tools_oracle.py.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "chat/render.h"
#include "util/error.h"

namespace safrl::chat {
namespace {

const std::string kWeatherCall =
    "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";
const std::string kTimeCall =
    "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"tz\": \"CET\"}}\n</tool_call>";

// user asks, the assistant calls two tools with no text, two results come back, and the
// assistant answers.
const std::vector<Message> kAgentTurns = {
    {"system", "You are a travel agent."},
    {"user", "Weather and time in Paris?"},
    {"assistant",
     "",
     {{"get_weather", "{\"city\": \"Paris\"}"}, {"get_time", "{\"tz\": \"CET\"}"}}},
    {"tool", "18 C, sunny"},
    {"tool", "14:05"},
    {"assistant", "It is 18 C and sunny; the time is 14:05."},
};

std::vector<Message> first(size_t n) {
  return std::vector<Message>(kAgentTurns.begin(), kAgentTurns.begin() + static_cast<long>(n));
}

std::string render_error(ChatFormat format, const std::vector<Message>& messages,
                         const RenderOptions& options = {}) {
  try {
    render(format, messages, options);
  } catch (const util::InputError& e) {
    return e.what();
  }
  return "no error";
}

TEST(GuardTools, ToolResultsArePromptModerationAndAssistantCallsResponseModeration) {
  EXPECT_EQ(guard_task(first(3)), GuardTask::kResponse);
  EXPECT_EQ(guard_task(first(4)), GuardTask::kPrompt);
  EXPECT_EQ(guard_task(first(5)), GuardTask::kPrompt);
  EXPECT_EQ(guard_task(first(6)), GuardTask::kResponse);
}

TEST(GuardTools, CallsFollowTheAssistantTextAndARunOfResultsIsOneUserBlock) {
  const std::string prompt_head(guard_head(GuardTask::kPrompt));
  const std::string prompt_tail(guard_tail(GuardTask::kPrompt));
  const std::string response_head(guard_head(GuardTask::kResponse));
  const std::string response_tail(guard_tail(GuardTask::kResponse));
  const std::string opening = "USER: You are a travel agent.\n\nWeather and time in Paris?";
  // No content: the first call follows "ASSISTANT: " directly; later calls after "\n".
  const std::string calls = "\n\nASSISTANT: " + kWeatherCall + "\n" + kTimeCall;
  EXPECT_EQ(render(ChatFormat::kGuard, first(3)), response_head + opening + calls + response_tail);
  EXPECT_EQ(render(ChatFormat::kGuard, first(4)),
            prompt_head + opening + calls +
                "\n\nUSER: <tool_response>\n18 C, sunny\n</tool_response>" + prompt_tail);
  const std::string results =
      "\n\nUSER: <tool_response>\n18 C, sunny\n</tool_response>\n<tool_response>\n14:05\n"
      "</tool_response>";
  EXPECT_EQ(render(ChatFormat::kGuard, first(5)),
            prompt_head + opening + calls + results + prompt_tail);
  EXPECT_EQ(render(ChatFormat::kGuard, kAgentTurns),
            response_head + opening + calls + results +
                "\n\nASSISTANT: It is 18 C and sunny; the time is 14:05." + response_tail);
}

TEST(GuardTools, AssistantTextComesBeforeItsCallsOnItsOwnLine) {
  const std::vector<Message> messages = {
      {"user", "Wetter in Paris?"},
      {"assistant", "Ich sehe nach.", {{"get_weather", "{\"city\": \"Paris\"}"}}},
      {"tool", ""},
      {"user", "Und?"},
  };
  EXPECT_EQ(render(ChatFormat::kGuard, messages),
            std::string(guard_head(GuardTask::kPrompt)) +
                "USER: Wetter in Paris?\n\nASSISTANT: Ich sehe nach.\n" + kWeatherCall +
                "\n\nUSER: <tool_response>\n\n</tool_response>\n\nUSER: Und?" +
                std::string(guard_tail(GuardTask::kPrompt)));
}

TEST(Qwen3Tools, RendersCallsAndGroupsResultsAsTheTemplateDoes) {
  // messages[1] is the last query, so only the final turn gets a think block; the calling turn is
  // after it too but has no reasoning and is not last.
  EXPECT_EQ(render(ChatFormat::kQwen3, kAgentTurns),
            "<|im_start|>system\nYou are a travel agent.<|im_end|>\n"
            "<|im_start|>user\nWeather and time in Paris?<|im_end|>\n"
            "<|im_start|>assistant\n" +
                kWeatherCall + "\n" + kTimeCall +
                "<|im_end|>\n"
                "<|im_start|>user\n<tool_response>\n18 C, sunny\n</tool_response>\n"
                "<tool_response>\n14:05\n</tool_response><|im_end|>\n"
                "<|im_start|>assistant\n<think>\n\n</think>\n\n"
                "It is 18 C and sunny; the time is 14:05.<|im_end|>\n");
}

TEST(Qwen3Tools, TheNewlineBeforeTheFirstCallFollowsTheAnswerLeftAfterTheThinkSplit) {
  // The reasoning is kept (after the last query), the answer after </think> is empty: no "\n".
  EXPECT_EQ(render(ChatFormat::kQwen3, {{"user", "q"},
                                        {"assistant",
                                         "<think>\nlook it up\n</think>\n\n",
                                         {{"get_weather", "{\"city\": \"Paris\"}"}}}}),
            "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n<think>\nlook it up\n"
            "</think>\n\n" +
                kWeatherCall + "<|im_end|>\n");
  // An answer after the think block: "\n" before the call.
  EXPECT_EQ(
      render(ChatFormat::kQwen3,
             {{"user", "q"},
              {"assistant", "<think>r</think>On it.", {{"get_weather", "{\"city\": \"Paris\"}"}}}}),
      "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n<think>\nr\n</think>\n\nOn it.\n" +
          kWeatherCall + "<|im_end|>\n");
}

TEST(ChatmlTools, RendersToolTurnsAsQwen3InsideItsOwnTurns) {
  EXPECT_EQ(render(ChatFormat::kChatml, first(4)),
            "<|im_start|>system\nYou are a travel agent.<|im_end|>\n"
            "<|im_start|>user\nWeather and time in Paris?<|im_end|>\n"
            "<|im_start|>assistant\n" +
                kWeatherCall + "\n" + kTimeCall +
                "<|im_end|>\n"
                "<|im_start|>user\n<tool_response>\n18 C, sunny\n</tool_response><|im_end|>\n");
  EXPECT_EQ(render(ChatFormat::kChatml,
                   {{"user", "q"}, {"assistant", "On it.", {{"get_time", "{\"tz\": \"CET\"}"}}}}),
            "<|im_start|>system\n<|im_end|>\n<|im_start|>user\nq<|im_end|>\n"
            "<|im_start|>assistant\nOn it.\n" +
                kTimeCall + "<|im_end|>\n");
}

TEST(ToolTurnsSetting, RefuseNamesTheFirstToolCallInEveryFormatAndKeepsPlainTurns) {
  RenderOptions refuse;
  refuse.tool_turns = ToolTurns::kRefuse;
  for (ChatFormat format : {ChatFormat::kGuard, ChatFormat::kQwen3, ChatFormat::kChatml}) {
    SCOPED_TRACE(std::string(chat_format_name(format)));
    EXPECT_EQ(render_error(format, kAgentTurns, refuse),
              "messages[2] is a tool call; guard.tool_turns is refuse (set it to qwen3 to judge "
              "conversations with tools)");
    EXPECT_EQ(render_error(format, {{"user", "q"}, {"assistant", "a"}}, refuse), "no error");
  }
}

TEST(ToolTurnsSetting, ParsesItsTwoNames) {
  EXPECT_EQ(parse_tool_turns("qwen3"), ToolTurns::kQwen3);
  EXPECT_EQ(parse_tool_turns("refuse"), ToolTurns::kRefuse);
  EXPECT_EQ(tool_turns_name(ToolTurns::kQwen3), "qwen3");
  EXPECT_EQ(tool_turns_name(ToolTurns::kRefuse), "refuse");
  try {
    parse_tool_turns("ignore");
    FAIL() << "no error";
  } catch (const util::InputError& e) {
    EXPECT_STREQ(e.what(), "unknown tool_turns value \"ignore\"; valid values: qwen3, refuse");
  }
}

}  // namespace
}  // namespace safrl::chat
