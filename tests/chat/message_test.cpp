#include "chat/message.h"

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "util/error.h"

namespace safrl::chat {
namespace {

std::string error_of(const char* json_text) {
  try {
    messages_from_json(nlohmann::json::parse(json_text));
  } catch (const util::InputError& e) {
    return e.what();
  }
  return "no error";
}

TEST(MessagesFromJson, ReadsRolesAndContentInOrder) {
  std::vector<Message> messages = messages_from_json(nlohmann::json::parse(
      R"([{"role": "system", "content": ""}, {"content": "caf\u00e9 \n", "role": "user"},
          {"role": "assistant", "content": "<think>x</think>y"}])"));
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages[0].role, "system");
  EXPECT_EQ(messages[0].content, "");
  EXPECT_EQ(messages[1].role, "user");
  EXPECT_EQ(messages[1].content, "caf\xc3\xa9 \n");
  EXPECT_EQ(messages[2].role, "assistant");
  EXPECT_EQ(messages[2].content, "<think>x</think>y");
}

TEST(MessagesFromJson, NamesTheIndexAndFieldAtFault) {
  EXPECT_EQ(error_of(R"({"role": "user"})"),
            "messages must be an array of {\"role\", \"content\"} objects, got object");
  EXPECT_EQ(error_of("[]"), "messages is empty; give at least one message");
  EXPECT_EQ(error_of(R"([{"role": "user", "content": "a"}, "b"])"),
            "messages[1] must be an object, got string");
  EXPECT_EQ(error_of(R"([{"content": "a"}])"), "messages[0] has no \"role\"");
  EXPECT_EQ(error_of(R"([{"role": 1, "content": "a"}])"),
            "messages[0].role must be a string, got number");
  EXPECT_EQ(error_of(R"([{"role": "user", "content": "a"}, {"role": "bot", "content": "b"}])"),
            "messages[1].role is \"bot\"; valid roles: system, user, assistant");
  EXPECT_EQ(error_of(R"([{"role": "User", "content": "a"}])"),
            "messages[0].role is \"User\"; valid roles: system, user, assistant");
  EXPECT_EQ(error_of(R"([{"role": "user"}])"), "messages[0] has no \"content\"");
  EXPECT_EQ(error_of(R"([{"role": "assistant", "content": null}])"),
            "messages[0].content must be a string, got null");
  EXPECT_EQ(error_of(R"([{"role": "user", "content": ["a"]}])"),
            "messages[0].content must be a string, got array");
}

TEST(MessagesFromJson, RefusesToolsAndExtraFields) {
  EXPECT_EQ(error_of(R"([{"role": "tool", "content": "42"}])"),
            "messages[0].role is \"tool\"; tool messages are not supported");
  EXPECT_EQ(error_of(R"([{"role": "assistant", "content": "", "tool_calls": []}])"),
            "messages[0] has an unsupported field \"tool_calls\" (tool calls are not supported)");
  EXPECT_EQ(error_of(R"([{"role": "assistant", "content": "a", "reasoning_content": "r"}])"),
            "messages[0] has an unsupported field \"reasoning_content\" (put the reasoning into "
            "\"content\" as <think>...</think> instead)");
  EXPECT_EQ(error_of(R"([{"role": "user", "content": "a", "weight": 1}])"),
            "messages[0] has an unsupported field \"weight\" (only \"role\" and \"content\" are "
            "accepted)");
}

}  // namespace
}  // namespace safrl::chat
