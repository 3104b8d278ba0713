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

// One renderer per format; render() has already checked that `messages` is non-empty and that
// every role is valid.
std::string render_guard(const std::vector<Message>& messages);
std::string render_qwen3(const std::vector<Message>& messages, const RenderOptions& options);
std::string render_chatml(const std::vector<Message>& messages, const RenderOptions& options);

}  // namespace safrl::chat::internal
