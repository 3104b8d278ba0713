#include "chat/thinking.h"

#include <optional>
#include <string>

#include <gtest/gtest.h>

namespace safrl::chat {
namespace {

struct Case {
  const char* response;
  std::optional<std::string> thinking;
  std::string answer;
  bool truncated;
};

void expect_split(const Case& c) {
  SCOPED_TRACE(testing::Message() << "response: \"" << c.response << "\"");
  SplitResponse split = split_thinking(c.response);
  EXPECT_EQ(split.thinking, c.thinking);
  EXPECT_EQ(split.answer, c.answer);
  EXPECT_EQ(split.truncated, c.truncated);
}

TEST(SplitThinking, FullThinkBlock) {
  expect_split({"<think>\nLet me add.\n</think>\n\nThe answer is 4.", "Let me add.",
                "The answer is 4.", false});
  // Only newlines are stripped, as the Qwen3 template strips them; spaces and \r stay.
  expect_split(
      {"<think>\n\n\n reason \n\n</think>\n\n\n\n answer\n", " reason ", " answer\n", false});
  expect_split(
      {"<think>\r\nreason\r\n</think>\r\n\r\nanswer", "\r\nreason\r", "\r\n\r\nanswer", false});
  // Whitespace before the opening tag belongs to nothing.
  expect_split({" \n<think>reason</think>answer", "reason", "answer", false});
  expect_split({"<think>multi\nline\n\ntrace</think>", "multi\nline\n\ntrace", "", false});
}

TEST(SplitThinking, ClosingTagOnlyMeansThePromptOpenedTheTrace) {
  expect_split(
      {"Let me add.\n</think>\n\nThe answer is 4.", "Let me add.", "The answer is 4.", false});
  // Text before a later "<think>" is kept in the trace rather than dropped.
  expect_split(
      {"Preamble <think>\nreason\n</think>\nanswer", "Preamble <think>\nreason", "answer", false});
}

TEST(SplitThinking, UnclosedTraceIsTruncated) {
  expect_split({"<think>\nStill thinking about", "Still thinking about", "", true});
  expect_split({"\n<think>\n", std::nullopt, "", true});
  expect_split({"<think>", std::nullopt, "", true});
}

TEST(SplitThinking, NoTagsMeansNoThinking) {
  expect_split({"The answer is 4.", std::nullopt, "The answer is 4.", false});
  // Without tags the answer is the response verbatim, newlines included.
  expect_split({"\n\nThe answer\n\n", std::nullopt, "\n\nThe answer\n\n", false});
  expect_split({"", std::nullopt, "", false});
  // A "<think>" that does not open the response is text, not a tag.
  expect_split({"Use the <think> tag.", std::nullopt, "Use the <think> tag.", false});
}

TEST(SplitThinking, BlankTraceIsNotJudged) {
  expect_split({"<think>\n\n</think>\n\nHello.", std::nullopt, "Hello.", false});
  expect_split({"<think></think>Hello.", std::nullopt, "Hello.", false});
  expect_split({"<think> \t\n</think>Hello.", std::nullopt, "Hello.", false});
  expect_split({"</think>", std::nullopt, "", false});
}

TEST(SplitThinking, FirstClosingTagEndsTheTrace) {
  // Everything after the first "</think>" is what the user sees, so it all stays in the answer.
  expect_split({"<think>first</think>middle<think>second</think>end", "first",
                "middle<think>second</think>end", false});
  expect_split({"<think>a</think>\n\nb</think>c", "a", "b</think>c", false});
  expect_split({"<think><think>nested</think>x", "<think>nested", "x", false});
}

TEST(SplitThinking, KeepsUnicodeIntact) {
  expect_split({"<think>\n\xe6\x80\x9d\xe8\x80\x83 \xf0\x9f\xa4\x94\n</think>\n\n\xc3\xa9t\xc3\xa9",
                "\xe6\x80\x9d\xe8\x80\x83 \xf0\x9f\xa4\x94", "\xc3\xa9t\xc3\xa9", false});
}

}  // namespace
}  // namespace safrl::chat
