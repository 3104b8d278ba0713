// Chat messages: the input every chat format renders.
//
// A Message is a role ("system", "user" or "assistant") and its content, both UTF-8, owned by
// value. messages_from_json() turns a JSON array of {"role", "content"} objects into Messages and
// is the one place where user-sent conversations are validated: it throws util::InputError naming
// the index and field at fault. Tools are out of scope, so "tool" messages and fields such as
// "tool_calls" or "reasoning_content" are refused rather than ignored. Pure functions; safe to
// call from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace safrl::chat {

struct Message {
  std::string role;     // "system", "user" or "assistant"
  std::string content;  // may be empty
};

// The roles every format accepts, for error messages: "system, user, assistant".
inline constexpr std::string_view kValidRoles = "system, user, assistant";

// Throws util::InputError naming messages[index] unless `role` is one of kValidRoles.
void check_role(size_t index, std::string_view role);

// Parses and validates `messages`: a non-empty array of objects, each with exactly a string
// "role" (one of kValidRoles) and a string "content". Throws util::InputError otherwise.
std::vector<Message> messages_from_json(const nlohmann::json& messages);

}  // namespace safrl::chat
