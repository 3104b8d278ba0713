// Chat messages: the input every chat format renders.
//
// A Message is a role ("system", "user", "assistant" or "tool"), its content and, for assistant
// messages, the tool calls it makes; all UTF-8, owned by value. messages_from_json() reads the
// OpenAI chat format and is the one place where user-sent conversations are parsed: it throws
// util::InputError naming the index and field at fault. check_messages() holds the rules every
// conversation must follow, so conversations built in C++ are held to them too. Fields the
// formats cannot render (e.g. "reasoning_content") are refused rather than ignored. Pure
// functions; safe to call from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace safrl::io {
class JsonReader;
}

namespace safrl::chat {

// One function call of an assistant message.
struct ToolCall {
  std::string name;       // non-empty
  std::string arguments;  // the JSON text exactly as rendered (a string is kept verbatim)
};

struct Message {
  std::string role;     // "system", "user", "assistant" or "tool"
  std::string content;  // may be empty
  // Assistant messages only. The `{}` keeps Message{"user", text} free of missing-field warnings.
  std::vector<ToolCall> tool_calls{};
};

bool operator==(const ToolCall& a, const ToolCall& b);
bool operator!=(const ToolCall& a, const ToolCall& b);
bool operator==(const Message& a, const Message& b);
bool operator!=(const Message& a, const Message& b);

// The roles every format accepts, for error messages.
inline constexpr std::string_view kValidRoles = "system, user, assistant, tool";

// Throws util::InputError naming messages[index] unless `role` is one of kValidRoles.
void check_role(size_t index, std::string_view role);

// The rules of a conversation, whatever the format: non-empty; known roles; tool calls only on
// assistant messages, each with a name; a tool message only right after an assistant message
// with tool calls or another tool message (so never first). Throws util::InputError naming the
// index at fault.
void check_messages(const std::vector<Message>& messages);

// Parses `messages`, a non-empty array in the OpenAI chat format, and applies check_messages():
//   {"role": str, "content": str}; content may be null or absent only on an assistant message
//     with tool calls (read as "");
//   assistant "tool_calls": [{"type": "function", "function": {"name", "arguments"}, "id"?}] or
//     the flat [{"name", "arguments"}]; arguments a string (kept verbatim) or an object (written
//     as Python's json.dumps(obj, ensure_ascii=False) writes it, keys sorted);
//   tool messages may carry "tool_call_id" and "name" (accepted, not rendered).
// Any other field is refused. Throws util::InputError naming the field path
// ("messages[2].content: must be a string, got a number (5)").
std::vector<Message> messages_from_json(const nlohmann::json& messages);
// The same at the reader's path ("samples[3].messages"), throwing through the reader's JsonFail
// (check_messages' rules throw util::InputError).
std::vector<Message> read_messages(const io::JsonReader& messages);

// The "tool_calls" array `calls` as ToolCalls, `where` naming it in errors (e.g.
// "messages[2].tool_calls" or "tool_calls"). Throws util::InputError naming the call at fault.
std::vector<ToolCall> tool_calls_from_json(const nlohmann::json& calls, const std::string& where);
std::vector<ToolCall> read_tool_calls(const io::JsonReader& calls);

}  // namespace safrl::chat
