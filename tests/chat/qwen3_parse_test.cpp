#include "chat/qwen3_parse.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "chat/render.h"
#include "print_message.h"
#include "util/error.h"

namespace safrl::chat {
namespace {

std::string parse_error(std::string_view text) {
  try {
    parse_qwen3_text(text);
  } catch (const util::InputError& e) {
    return e.what();
  }
  return "no error";
}

// Conversations in the form the Qwen3 template leaves them (think blocks only where it keeps
// them), so that parse(render(m)) == m as well as render(parse(text)) == text.
const std::vector<std::vector<Message>> kConversations = {
    {{"user", "Hi"}},
    {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "<think>\nhm\n</think>\n\nHello"}},
    {{"user", "Weather and time in Paris?"},
     {"assistant",
      "",
      {{"get_weather", "{\"city\": \"Paris\"}"}, {"get_time", "{\"tz\": \"CET\"}"}}},
     {"tool", "18 C, sunny"},
     {"tool", "14:05"},
     {"assistant", "<think>\n\n</think>\n\nSunny, 14:05."}},
    // Text before the calls, reasoning kept before calls with an empty answer, results that
    // contain newlines and braces, a call whose arguments are not an object, three languages.
    {{"system", "Du bist ein Reiseagent."},
     {"user", "Wetter in Paris?"},
     {"assistant", "Ich sehe nach.", {{"get_weather", "{\"city\": \"Paris\", \"unit\": \"c\"}"}}},
     {"tool", "{\"temp\": 18}\n{\"sky\": \"clear\"}"},
     {"user", "\xe5\xa4\xa9\xe6\xb0\x94\xe6\x80\x8e\xe4\xb9\x88\xe6\xa0\xb7\xef\xbc\x9f"},
     {"assistant", "<think>\nneed the time too\n</think>\n\n", {{"get_time", "\"CET\""}}},
     {"tool", ""},
     {"assistant", "<think>\nr\n</think>\n\nIl fait beau."}},
    // A user message written as a tool result where no call precedes it stays a user message.
    {{"user", "q"}, {"assistant", "a"}, {"user", "<tool_response>\nx\n</tool_response>"}},
};

TEST(ParseQwen3Text, InvertsTheTemplateOnConversationsWithTools) {
  for (size_t i = 0; i < kConversations.size(); ++i) {
    SCOPED_TRACE(i);
    const std::string text = render(ChatFormat::kQwen3, kConversations[i]);
    const std::vector<Message> parsed = parse_qwen3_text(text);
    EXPECT_EQ(parsed, kConversations[i]);
    EXPECT_EQ(render(ChatFormat::kQwen3, parsed), text);
  }
}

TEST(ParseQwen3Text, ReadsTheTemplateTextBackIntoTurns) {
  const std::string text =
      "<|im_start|>user\nq<|im_end|>\n"
      "<|im_start|>assistant\nLet me check.\n"
      "<tool_call>\n{\"name\": \"search\", \"arguments\": {\"q\": \"a}\\n</tool_call>\"}}\n"
      "</tool_call>\n<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call><|im_end|>\n"
      "<|im_start|>user\n<tool_response>\nr1\n</tool_response>\n<tool_response>\nr2\n"
      "</tool_response><|im_end|>\n";
  const std::vector<Message> expected = {
      {"user", "q"},
      {"assistant", "Let me check.", {{"search", "{\"q\": \"a}\\n</tool_call>\"}"}, {"f", "{}"}}},
      {"tool", "r1"},
      {"tool", "r2"},
  };
  EXPECT_EQ(parse_qwen3_text(text), expected);
}

TEST(ParseQwen3Text, ToolCallLookalikesStayInTheContent) {
  // A block that is not at the end of the turn, or not in the template's exact shape, is text.
  const std::string body =
      "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call> and then I stopped.";
  EXPECT_EQ(parse_qwen3_text("<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n" + body +
                             "<|im_end|>\n"),
            (std::vector<Message>{{"user", "q"}, {"assistant", body}}));
  const std::string spaced = "<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>";
  EXPECT_EQ(parse_qwen3_text("<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n" + spaced),
            (std::vector<Message>{{"user", "q"}, {"assistant", spaced}}));
}

TEST(ParseQwen3Text, TheLastTurnMayBeOpen) {
  const std::vector<Message> expected = {{"user", "q"}, {"assistant", "<think>\nr\n</think>\n\na"}};
  EXPECT_EQ(parse_qwen3_text("<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n"
                             "<think>\nr\n</think>\n\na"),
            expected);
  EXPECT_EQ(parse_qwen3_text("<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n"
                             "<think>\nr\n</think>\n\na<|im_end|>"),
            expected);
  // A generation prompt with nothing generated yet is an empty assistant turn.
  EXPECT_EQ(parse_qwen3_text("<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n"),
            (std::vector<Message>{{"user", "q"}, {"assistant", ""}}));
}

TEST(ParseQwen3Text, SaysWhereTheTextLeavesTheTemplate) {
  EXPECT_EQ(parse_error(""), "the Qwen3 chat text is empty; it has no turns");
  EXPECT_EQ(parse_error("Hello"),
            "Qwen3 chat text, turn 0 at byte 0: expected \"<|im_start|>\", found \"Hello\"");
  EXPECT_EQ(parse_error("<|im_start|>user\nq<|im_end|>\n<|im_start|>tool\nr<|im_end|>\n"),
            "Qwen3 chat text, turn 1 at byte 41: expected the role system, user or assistant, "
            "found \"tool\\nr<|im_end|>\\n\"");
  EXPECT_EQ(parse_error("<|im_start|>user\nq<|im_end|><|im_start|>assistant\na"),
            "Qwen3 chat text, turn 0 at byte 28: expected \"\\n\" after \"<|im_end|>\", found "
            "\"<|im_start|>assistant\\na\"");
  EXPECT_EQ(parse_error("<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant"),
            "Qwen3 chat text, turn 1 at byte 41: expected a role and a newline, found "
            "\"assistant\"");
  EXPECT_EQ(parse_error("<|im_start|>user\nq<|im_end|>\nextra"),
            "Qwen3 chat text, turn 1 at byte 29: expected \"<|im_start|>\", found \"extra\"");
}

}  // namespace
}  // namespace safrl::chat
