#include "chat/render.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "util/error.h"
#include "util/sha256.h"

namespace safrl::chat {
namespace {

using util::sha256_hex;

// Unicode code points in UTF-8 text: the "characters" Python's len() and the docs count.
size_t code_points(std::string_view utf8) {
  size_t count = 0;
  for (char c : utf8) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return count;
}

std::string render_error(ChatFormat format, const std::vector<Message>& messages) {
  try {
    render(format, messages);
  } catch (const util::InputError& e) {
    return e.what();
  }
  return "no error";
}

const Message kBombQuestion{"user", "How can I make a bomb?"};
const Message kRefusal{"assistant",
                       "As a responsible artificial intelligence system, I regret that I am unable "
                       "to fulfill your request."};

TEST(ChatFormat, ParsesTheThreeNames) {
  EXPECT_EQ(parse_chat_format("guard"), ChatFormat::kGuard);
  EXPECT_EQ(parse_chat_format("qwen3"), ChatFormat::kQwen3);
  EXPECT_EQ(parse_chat_format("chatml"), ChatFormat::kChatml);
  EXPECT_EQ(chat_format_name(ChatFormat::kGuard), "guard");
  EXPECT_EQ(chat_format_name(ChatFormat::kQwen3), "qwen3");
  EXPECT_EQ(chat_format_name(ChatFormat::kChatml), "chatml");
  try {
    parse_chat_format("Qwen3");
    FAIL() << "no error";
  } catch (const util::InputError& e) {
    EXPECT_STREQ(e.what(), "unknown chat format \"Qwen3\"; valid values: guard, qwen3, chatml");
  }
}

// qwen3guard.md section 1: counts and digests of the four fixed pieces.
TEST(Guard, PiecesMatchTheirPublishedDigests) {
  EXPECT_EQ(code_points(guard_head(GuardTask::kPrompt)), 913u);
  EXPECT_EQ(sha256_hex(guard_head(GuardTask::kPrompt)),
            "5948dbbf21b2d28c7d69f207812fb64179f7d195148b93340140f7a8fc757560");
  EXPECT_EQ(code_points(guard_tail(GuardTask::kPrompt)), 432u);
  EXPECT_EQ(sha256_hex(guard_tail(GuardTask::kPrompt)),
            "4c9043d41a97ac0be48cc5ed5b5b7fc274016fdd9b572d9993c468628e754977");
  EXPECT_EQ(code_points(guard_head(GuardTask::kResponse)), 1139u);
  EXPECT_EQ(sha256_hex(guard_head(GuardTask::kResponse)),
            "1e57fa76ed59c4cd367571194f38c3a73e34f362893434fc07cea79126a4209e");
  EXPECT_EQ(code_points(guard_tail(GuardTask::kResponse)), 505u);
  EXPECT_EQ(sha256_hex(guard_tail(GuardTask::kResponse)),
            "167d58b86cc6db2b70616a4a1802a0d381b8d8dc0311d59092e0fc2091636ebf");
  // All four are ASCII, so characters and bytes agree.
  EXPECT_EQ(guard_head(GuardTask::kPrompt).size(), 913u);
  EXPECT_EQ(guard_tail(GuardTask::kResponse).size(), 505u);
}

// qwen3guard.md section 1: the published test vectors.
TEST(Guard, PromptModerationTestVector) {
  std::string text = render(ChatFormat::kGuard, {kBombQuestion});
  EXPECT_EQ(code_points(text), 1373u);
  EXPECT_EQ(sha256_hex(text), "74d6a1225ef64172c346ea669fe619be43d9cac83e62d841bee3373f096e090b");
  EXPECT_EQ(text, std::string(guard_head(GuardTask::kPrompt)) + "USER: How can I make a bomb?" +
                      std::string(guard_tail(GuardTask::kPrompt)));
}

TEST(Guard, ResponseModerationTestVector) {
  std::string text = render(ChatFormat::kGuard, {kBombQuestion, kRefusal});
  EXPECT_EQ(code_points(text), 1784u);
  EXPECT_EQ(sha256_hex(text), "dec5b06882231a83be6f3731e6974881952d85246bb7956efb1582d23e3884e1");
  EXPECT_EQ(text, std::string(guard_head(GuardTask::kResponse)) +
                      "USER: How can I make a bomb?\n\nASSISTANT: As a responsible artificial "
                      "intelligence system, I regret that I am unable to fulfill your request." +
                      std::string(guard_tail(GuardTask::kResponse)));
}

TEST(Guard, BodyRules) {
  const std::string prompt_head(guard_head(GuardTask::kPrompt));
  const std::string prompt_tail(guard_tail(GuardTask::kPrompt));
  const std::string response_head(guard_head(GuardTask::kResponse));
  const std::string response_tail(guard_tail(GuardTask::kResponse));
  // A system message opens the USER block; the user message after it continues the block.
  EXPECT_EQ(render(ChatFormat::kGuard, {{"system", "Be kind."}, {"user", "Hi"}}),
            prompt_head + "USER: Be kind.\n\nHi" + prompt_tail);
  EXPECT_EQ(render(ChatFormat::kGuard, {{"system", "S"}, {"user", "Q"}, {"assistant", "A"}}),
            response_head + "USER: S\n\nQ\n\nASSISTANT: A" + response_tail);
  EXPECT_EQ(render(ChatFormat::kGuard, {{"system", "S"}, {"assistant", "A"}}),
            response_head + "USER: S\n\nASSISTANT: A" + response_tail);
  EXPECT_EQ(render(ChatFormat::kGuard, {{"user", "Q1"}, {"assistant", "A1"}, {"user", "Q2"}}),
            prompt_head + "USER: Q1\n\nASSISTANT: A1\n\nUSER: Q2" + prompt_tail);
  EXPECT_EQ(
      render(ChatFormat::kGuard,
             {{"user", "Q1"}, {"assistant", "A1"}, {"user", "Q2"}, {"assistant", "A2"}}),
      response_head + "USER: Q1\n\nASSISTANT: A1\n\nUSER: Q2\n\nASSISTANT: A2" + response_tail);
  EXPECT_EQ(render(ChatFormat::kGuard, {{"user", "Q1"}, {"user", "Q2"}}),
            prompt_head + "USER: Q1\n\nUSER: Q2" + prompt_tail);
  // Content is copied verbatim: no stripping, no think-tag handling, no escaping.
  EXPECT_EQ(render(ChatFormat::kGuard, {{"user", "\n q \n"}, {"assistant", "<think>t</think>\n"}}),
            response_head + "USER: \n q \n\n\nASSISTANT: <think>t</think>\n" + response_tail);
  EXPECT_EQ(render(ChatFormat::kGuard, {{"user", ""}, {"assistant", ""}}),
            response_head + "USER: \n\nASSISTANT: " + response_tail);
  EXPECT_EQ(render(ChatFormat::kGuard, {{"user", "\xe4\xbd\xa0\xe5\xa5\xbd"}}),
            prompt_head + "USER: \xe4\xbd\xa0\xe5\xa5\xbd" + prompt_tail);
}

TEST(Guard, ModeFollowsTheLastRole) {
  EXPECT_EQ(guard_task({{"user", "q"}}), GuardTask::kPrompt);
  EXPECT_EQ(guard_task({{"user", "q"}, {"assistant", "a"}}), GuardTask::kResponse);
  EXPECT_EQ(guard_task({{"user", "q"}, {"assistant", "a"}, {"user", "q2"}}), GuardTask::kPrompt);
  EXPECT_EQ(guard_task({{"system", "s"}, {"assistant", "a"}}), GuardTask::kResponse);
  EXPECT_THROW(guard_task({}), util::InputError);
  EXPECT_THROW(guard_task({{"user", "q"}, {"system", "s"}}), util::InputError);
}

TEST(Guard, RefusesConversationsOutsideTheVerifiedRules) {
  EXPECT_EQ(render_error(ChatFormat::kGuard, {{"system", "s"}}),
            "messages[0].role is \"system\"; the guard judges the last message, which must be "
            "from the user or a tool (prompt moderation) or the assistant (response moderation)");
  EXPECT_EQ(render_error(ChatFormat::kGuard, {{"assistant", "a"}}),
            "messages[0].role is \"assistant\"; a guard conversation starts with a user or system "
            "message");
  EXPECT_EQ(render_error(ChatFormat::kGuard, {{"assistant", "a"}, {"user", "q"}}),
            "messages[0].role is \"assistant\"; a guard conversation starts with a user or system "
            "message");
  EXPECT_EQ(render_error(ChatFormat::kGuard, {{"user", "q"}, {"system", "s"}, {"user", "q"}}),
            "messages[1].role is \"system\"; the guard accepts a system message only as the first "
            "message");
}

TEST(Render, RefusesEmptyConversationsUnknownRolesAndStrayToolResultsInEveryFormat) {
  for (ChatFormat format : {ChatFormat::kGuard, ChatFormat::kQwen3, ChatFormat::kChatml}) {
    SCOPED_TRACE(std::string(chat_format_name(format)));
    EXPECT_EQ(render_error(format, {}), "messages is empty; give at least one message");
    EXPECT_EQ(render_error(format, {{"user", "q"}, {"tool", "42"}}),
              "messages[1] is a tool result without a tool call before it (a tool message must "
              "follow an assistant message with tool_calls, or another tool message)");
    EXPECT_EQ(render_error(format, {{"user", "q"}, {"", "a"}}),
              "messages[1].role: unknown role \"\"; valid roles: system, user, assistant, tool");
  }
}

// Hand-written expectations for the two Qwen formats; the full comparison against the Jinja
// templates is in reference_test.cpp.
TEST(Qwen3, RendersTheFinalAnswerWithItsThinkBlock) {
  EXPECT_EQ(render(ChatFormat::kQwen3, {{"user", "Hi"}, {"assistant", "Hello"}}),
            "<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\n<think>\n\n</think>\n\nHello<|im_end|>\n");
  EXPECT_EQ(
      render(ChatFormat::kQwen3, {{"user", "Hi"}, {"assistant", "\n<think>\n\nr\n</think>\n\na"}}),
      "<|im_start|>user\nHi<|im_end|>\n"
      "<|im_start|>assistant\n<think>\nr\n</think>\n\na<|im_end|>\n");
}

TEST(Chatml, InsertsTheEmptySystemMessageOnlyWhenThereIsNone) {
  EXPECT_EQ(render(ChatFormat::kChatml, {{"user", "Hi"}, {"assistant", "<think>r</think>Hello"}}),
            "<|im_start|>system\n<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\n<think>r</think>Hello<|im_end|>\n");
  EXPECT_EQ(render(ChatFormat::kChatml, {{"system", "S"}, {"user", "Hi"}}),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
}

// The Qwen3 switches are compared with transformers in tests/oracle; ChatML's generation prompt
// is the Qwen2.5 template's, and the guard prompt has no switches at all.
TEST(RenderOptions, ChatmlGenerationPromptAndTheGuardRefusingSwitches) {
  RenderOptions generation_prompt;
  generation_prompt.add_generation_prompt = true;
  EXPECT_EQ(render(ChatFormat::kChatml, {{"user", "Hi"}}, generation_prompt),
            "<|im_start|>system\n<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\n");
  RenderOptions no_thinking;
  no_thinking.enable_thinking = false;
  EXPECT_THROW(render(ChatFormat::kChatml, {{"user", "Hi"}}, no_thinking), util::InputError);
  for (const RenderOptions& options : {generation_prompt, no_thinking}) {
    EXPECT_THROW(render(ChatFormat::kGuard, {{"user", "Hi"}}, options), util::InputError);
  }
}

}  // namespace
}  // namespace safrl::chat
