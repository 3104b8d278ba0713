#include "chat/message.h"

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "io/json_reader.h"
#include "print_message.h"
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
            "messages: must be an array of {\"role\", \"content\"} objects, got an object");
  EXPECT_EQ(error_of("[]"), "messages: must not be empty; give at least one message");
  EXPECT_EQ(error_of(R"([{"role": "user", "content": "a"}, "b"])"),
            "messages[1]: must be an object, got a string (\"b\")");
  EXPECT_EQ(error_of(R"([{"content": "a"}])"), "messages[0].role: missing");
  EXPECT_EQ(error_of(R"([{"role": 1, "content": "a"}])"),
            "messages[0].role: must be a string, got a number (1)");
  EXPECT_EQ(error_of(R"([{"role": "user", "content": "a"}, {"role": "bot", "content": "b"}])"),
            "messages[1].role: unknown role \"bot\"; valid roles: system, user, assistant, tool");
  EXPECT_EQ(error_of(R"([{"role": "User", "content": "a"}])"),
            "messages[0].role: unknown role \"User\"; valid roles: system, user, assistant, tool");
  EXPECT_EQ(error_of(R"([{"role": "user"}])"), "messages[0].content: missing");
  EXPECT_EQ(error_of(R"([{"role": "assistant", "content": null}])"),
            "messages[0].content: must be a string, got null (null is allowed only with "
            "tool_calls)");
  EXPECT_EQ(error_of(R"([{"role": "user", "content": ["a"]}])"),
            "messages[0].content: must be a string, got an array");
}

TEST(MessagesFromJson, ReadsToolCallsInBothFormsAndToolResults) {
  std::vector<Message> messages = messages_from_json(nlohmann::json::parse(R"([
      {"role": "user", "content": "Weather in Paris and Oslo?"},
      {"role": "assistant", "content": null, "tool_calls": [
          {"type": "function", "id": "call_1",
           "function": {"name": "get_weather", "arguments": "{\"city\":  \"Paris\"}"}},
          {"name": "get_weather", "arguments": {"unit": "c", "city": "Oslo"}}]},
      {"role": "tool", "content": "18 C", "tool_call_id": "call_1", "name": "get_weather"},
      {"role": "tool", "content": "9 C"},
      {"role": "assistant", "content": "Paris 18 C, Oslo 9 C.", "tool_calls": []}])"));
  const std::vector<Message> expected = {
      {"user", "Weather in Paris and Oslo?"},
      // A string is kept byte for byte; an object is written as json.dumps writes it, keys sorted.
      {"assistant",
       "",
       {{"get_weather", "{\"city\":  \"Paris\"}"},
        {"get_weather", "{\"city\": \"Oslo\", \"unit\": \"c\"}"}}},
      {"tool", "18 C"},
      {"tool", "9 C"},
      {"assistant", "Paris 18 C, Oslo 9 C."}};
  EXPECT_EQ(messages, expected);
}

TEST(MessagesFromJson, ContentMayBeNullOrAbsentOnlyBesideToolCalls) {
  std::vector<Message> messages = messages_from_json(nlohmann::json::parse(
      R"([{"role": "user", "content": "q"},
          {"role": "assistant", "tool_calls": [{"name": "f", "arguments": {}}]}])"));
  EXPECT_EQ(messages[1], (Message{"assistant", "", {{"f", "{}"}}}));
  EXPECT_EQ(error_of(R"([{"role": "user", "content": "q"}, {"role": "assistant"}])"),
            "messages[1].content: missing");
  EXPECT_EQ(error_of(R"([{"role": "user", "content": null}])"),
            "messages[0].content: must be a string, got null (null is allowed only with "
            "tool_calls)");
  EXPECT_EQ(error_of(R"([{"role": "user", "content": "q"},
      {"role": "assistant", "content": 3, "tool_calls": [{"name": "f", "arguments": "{}"}]}])"),
            "messages[1].content: must be a string or null, got a number (3)");
}

TEST(MessagesFromJson, RefusesMisplacedToolTurns) {
  EXPECT_EQ(error_of(R"([{"role": "tool", "content": "42"}])"),
            "messages[0] is a tool result without a tool call before it (a tool message must "
            "follow an assistant message with tool_calls, or another tool message)");
  EXPECT_EQ(error_of(R"([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"},
                         {"role": "user", "content": "q2"}, {"role": "tool", "content": "42"}])"),
            "messages[3] is a tool result without a tool call before it (a tool message must "
            "follow an assistant message with tool_calls, or another tool message)");
  EXPECT_EQ(error_of(R"([{"role": "user", "content": "q", "tool_calls": []}])"),
            "messages[0].tool_calls: unsupported field for role \"user\" (only assistant messages "
            "make tool calls)");
  EXPECT_EQ(error_of(R"([{"role": "user", "content": "q", "name": "bob"}])"),
            "messages[0].name: unsupported field for role \"user\" (only tool messages carry it)");
}

TEST(MessagesFromJson, NamesTheToolCallAtFault) {
  const auto with_calls = [](const std::string& calls) {
    return error_of(("[{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"assistant\", "
                     "\"content\": \"\", \"tool_calls\": " +
                     calls + "}]")
                        .c_str());
  };
  EXPECT_EQ(with_calls(R"({"name": "f"})"),
            "messages[1].tool_calls: must be an array of tool calls, got an object");
  EXPECT_EQ(with_calls(R"(["f"])"),
            "messages[1].tool_calls[0]: must be an object, got a string (\"f\")");
  EXPECT_EQ(with_calls(R"([{"name": "f", "arguments": "{}"}, {"arguments": "{}"}])"),
            "messages[1].tool_calls[1].name: missing");
  EXPECT_EQ(with_calls(R"([{"function": {"name": "", "arguments": "{}"}}])"),
            "messages[1].tool_calls[0].function.name: is empty; a tool call needs a name");
  EXPECT_EQ(with_calls(R"([{"function": {"name": 7, "arguments": "{}"}}])"),
            "messages[1].tool_calls[0].function.name: must be a string, got a number (7)");
  EXPECT_EQ(with_calls(R"([{"function": {"name": "f"}}])"),
            "messages[1].tool_calls[0].function.arguments: missing; send {} for none");
  EXPECT_EQ(with_calls(R"([{"name": "f", "arguments": [1]}])"),
            "messages[1].tool_calls[0].arguments: must be a string (JSON text) or an object, got "
            "an array");
  EXPECT_EQ(with_calls(R"([{"type": "code", "function": {"name": "f", "arguments": "{}"}}])"),
            "messages[1].tool_calls[0].type: is \"code\"; only \"function\" tool calls are "
            "supported");
  EXPECT_EQ(with_calls(R"([{"function": "f"}])"),
            "messages[1].tool_calls[0].function: must be an object, got a string (\"f\")");
  EXPECT_EQ(
      with_calls(R"([{"function": {"name": "f", "arguments": "{}", "strict": true}}])"),
      "messages[1].tool_calls[0].function.strict: unknown key; allowed here: name, arguments");
  EXPECT_EQ(
      with_calls(R"([{"name": "f", "arguments": "{}", "index": 0}])"),
      "messages[1].tool_calls[0].index: unknown key; allowed here: type, name, arguments, id");
}

TEST(MessagesFromJson, RefusesOtherFields) {
  EXPECT_EQ(error_of(R"([{"role": "user", "content": "q"},
                         {"role": "assistant", "content": "a", "reasoning_content": "r"}])"),
            "messages[1].reasoning_content: unsupported field for role \"assistant\" (put the "
            "trace in a <think>...</think> block at the start of \"content\", or leave it out)");
  EXPECT_EQ(error_of(R"([{"role": "user", "content": "a", "weight": 1}])"),
            "messages[0].weight: unsupported field for role \"user\" (accepted fields: role, "
            "content, tool_calls (assistant), tool_call_id and name (tool))");
}

TEST(ToolCallsFromJson, NamesTheFieldItWasGiven) {
  EXPECT_EQ(tool_calls_from_json(nlohmann::json::parse(R"([{"name": "f", "arguments": "x"}])"),
                                 "tool_calls"),
            (std::vector<ToolCall>{{"f", "x"}}));
  try {
    tool_calls_from_json(nlohmann::json::parse(R"([{"name": "f"}])"), "tool_calls");
    FAIL() << "no error";
  } catch (const util::InputError& e) {
    EXPECT_STREQ(e.what(), "tool_calls[0].arguments: missing; send {} for none");
  }
}

TEST(ReadMessages, NamesThePathBelowTheReadersPath) {
  // The conversation of the fourth sample of a request: every message names that path.
  const auto error = [](const char* json_text) -> std::string {
    const nlohmann::json messages = nlohmann::json::parse(json_text);
    try {
      read_messages(
          io::JsonReader(messages, io::throw_as<util::InputError>(), "samples[3].messages"));
    } catch (const util::InputError& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_EQ(error(R"([{"role": "user", "content": "q"}, {"role": "assistant", "content": 5}])"),
            "samples[3].messages[1].content: must be a string, got a number (5)");
  EXPECT_EQ(error(R"([{"role": "user", "content": "q"},
                      {"role": "assistant", "content": "", "tool_calls": [{"name": "f"}]}])"),
            "samples[3].messages[1].tool_calls[0].arguments: missing; send {} for none");
  EXPECT_EQ(error(R"([{"role": "tool", "content": "42"}])"),
            "samples[3].messages[0] is a tool result without a tool call before it (a tool "
            "message must follow an assistant message with tool_calls, or another tool message)");
}

TEST(CheckMessages, HoldsConversationsBuiltInCxxToTheSameRules) {
  const auto error = [](const std::vector<Message>& messages) -> std::string {
    try {
      check_messages(messages);
    } catch (const util::InputError& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_EQ(error({{"user", "q"}, {"assistant", "", {{"f", "{}"}}}, {"tool", "r"}, {"tool", "s"}}),
            "no error");
  EXPECT_EQ(error({{"user", "q", {{"f", "{}"}}}}),
            "messages[0] is a \"user\" message with tool_calls; only assistant messages make tool "
            "calls");
  EXPECT_EQ(error({{"user", "q"}, {"assistant", "", {{"f", "{}"}, {"", "{}"}}}}),
            "messages[1].tool_calls[1] has no name; a tool call needs one");
  EXPECT_EQ(error({{"user", "q"}, {"tool", "r"}}),
            "messages[1] is a tool result without a tool call before it (a tool message must "
            "follow an assistant message with tool_calls, or another tool message)");
  EXPECT_EQ(error({}), "messages is empty; give at least one message");
}

}  // namespace
}  // namespace safrl::chat
