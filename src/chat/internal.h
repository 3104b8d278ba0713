// Pieces shared by the chat sources; not part of the public API.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "chat/message.h"
#include "chat/render.h"

namespace safrl::chat::internal {

inline constexpr std::string_view kEmptyConversation =
    "messages is empty; give at least one message";

inline constexpr std::string_view kThinkOpen = "<think>";
inline constexpr std::string_view kThinkClose = "</think>";

// Python's s.lstrip('\n'), s.rstrip('\n') and s.strip('\n'): the Qwen3 template strips only
// newlines, never other whitespace, and the renderings must match it byte for byte.
inline std::string_view lstrip_newlines(std::string_view s) {
  size_t first = s.find_first_not_of('\n');
  return first == std::string_view::npos ? std::string_view() : s.substr(first);
}
inline std::string_view rstrip_newlines(std::string_view s) {
  size_t last = s.find_last_not_of('\n');
  return last == std::string_view::npos ? std::string_view() : s.substr(0, last + 1);
}
inline std::string_view strip_newlines(std::string_view s) {
  return lstrip_newlines(rstrip_newlines(s));
}

inline bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}
inline bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

inline constexpr std::string_view kToolResponseOpen = "<tool_response>";
inline constexpr std::string_view kToolResponseClose = "</tool_response>";

// Qwen3's chat template writes an assistant message's tool calls after its content: "\n" before
// a call unless it is the first and the content is empty, then
// '<tool_call>\n{"name": "' + name + '", "arguments": ' + arguments + '}\n</tool_call>'.
void append_tool_calls(std::string& text, std::string_view content,
                       const std::vector<ToolCall>& calls);

// '<tool_response>\n' + content + '\n</tool_response>': one tool result inside the user turn
// that holds a run of consecutive tool messages.
void append_tool_response(std::string& text, std::string_view content);

// One renderer per format; render() has already applied check_messages() and the tool_turns
// setting.
std::string render_guard(const std::vector<Message>& messages);
std::string render_qwen3(const std::vector<Message>& messages, const RenderOptions& options);
std::string render_chatml(const std::vector<Message>& messages, const RenderOptions& options);

}  // namespace safrl::chat::internal
