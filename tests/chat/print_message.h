// gtest printers, so that a failed comparison of messages shows their text, not their bytes.
#pragma once

#include <ostream>

#include <nlohmann/json.hpp>

#include "chat/message.h"

namespace safrl::chat {

inline void PrintTo(const ToolCall& call, std::ostream* out) {
  *out << "ToolCall" << nlohmann::json{call.name, call.arguments}.dump();
}

inline void PrintTo(const Message& message, std::ostream* out) {
  nlohmann::json calls = nlohmann::json::array();
  for (const ToolCall& call : message.tool_calls) calls.push_back({call.name, call.arguments});
  *out << "Message" << nlohmann::json{message.role, message.content, calls}.dump();
}

}  // namespace safrl::chat
