#include "chat/message.h"

#include <nlohmann/json.hpp>

#include "chat/internal.h"
#include "util/error.h"

namespace safrl::chat {
namespace {

// Why a field beyond role and content is refused, with a hint for the common ones.
std::string unsupported_field(size_t index, const std::string& key) {
  std::string hint = "only \"role\" and \"content\" are accepted";
  if (key == "tool_calls" || key == "tool_call_id") {
    hint = "tool calls are not supported";
  } else if (key == "reasoning_content") {
    hint = "put the reasoning into \"content\" as <think>...</think> instead";
  }
  return util::cat("messages[", index, "] has an unsupported field \"", key, "\" (", hint, ")");
}

}  // namespace

void check_role(size_t index, std::string_view role) {
  if (role == "system" || role == "user" || role == "assistant") return;
  if (role == "tool") {
    throw util::InputError(
        util::cat("messages[", index, "].role is \"tool\"; tool messages are not supported"));
  }
  throw util::InputError(
      util::cat("messages[", index, "].role is \"", role, "\"; valid roles: ", kValidRoles));
}

std::vector<Message> messages_from_json(const nlohmann::json& messages) {
  if (!messages.is_array()) {
    throw util::InputError(
        util::cat("messages must be an array of {\"role\", \"content\"} objects, got ",
                  messages.type_name()));
  }
  if (messages.empty()) throw util::InputError(std::string(internal::kEmptyConversation));
  std::vector<Message> result;
  result.reserve(messages.size());
  for (size_t i = 0; i < messages.size(); ++i) {
    const nlohmann::json& m = messages[i];
    if (!m.is_object()) {
      throw util::InputError(util::cat("messages[", i, "] must be an object, got ", m.type_name()));
    }
    for (const auto& item : m.items()) {
      if (item.key() != "role" && item.key() != "content") {
        throw util::InputError(unsupported_field(i, item.key()));
      }
    }
    auto role = m.find("role");
    if (role == m.end()) throw util::InputError(util::cat("messages[", i, "] has no \"role\""));
    if (!role->is_string()) {
      throw util::InputError(
          util::cat("messages[", i, "].role must be a string, got ", role->type_name()));
    }
    const std::string& role_name = role->get_ref<const std::string&>();
    check_role(i, role_name);
    auto content = m.find("content");
    if (content == m.end()) {
      throw util::InputError(util::cat("messages[", i, "] has no \"content\""));
    }
    if (!content->is_string()) {
      throw util::InputError(
          util::cat("messages[", i, "].content must be a string, got ", content->type_name()));
    }
    result.push_back(Message{role_name, content->get<std::string>()});
  }
  return result;
}

}  // namespace safrl::chat
