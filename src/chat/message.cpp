#include "chat/message.h"

#include <nlohmann/json.hpp>

#include "chat/internal.h"
#include "chat/python_json.h"
#include "util/error.h"

namespace safrl::chat {
namespace {

// Why a message field is refused, with a hint for the common ones.
std::string unsupported_field(size_t index, const std::string& role, const std::string& key) {
  std::string hint;
  if (key == "reasoning_content") {
    hint =
        "put the trace in a <think>...</think> block at the start of \"content\", or leave it out";
  } else if (key == "tool_calls") {
    hint = "only assistant messages make tool calls";
  } else if (key == "tool_call_id" || key == "name") {
    hint = "only tool messages carry it";
  } else {
    hint = "accepted fields: role, content, tool_calls (assistant), tool_call_id and name (tool)";
  }
  return util::cat("messages[", index, "] (role \"", role, "\") has an unsupported field \"", key,
                   "\" (", hint, ")");
}

bool field_allowed(const std::string& role, const std::string& key) {
  if (key == "role" || key == "content") return true;
  if (key == "tool_calls") return role == "assistant";
  if (key == "tool_call_id" || key == "name") return role == "tool";
  return false;
}

const std::string& string_field(const nlohmann::json& object, const char* key,
                                const std::string& where) {
  auto it = object.find(key);
  if (it == object.end()) throw util::InputError(util::cat(where, " has no \"", key, "\""));
  if (!it->is_string()) {
    throw util::InputError(util::cat(where, ".", key, " must be a string, got ", it->type_name()));
  }
  return it->get_ref<const std::string&>();
}

// One call, in the OpenAI form {"type": "function", "function": {"name", "arguments"}, "id"} or
// the flat {"name", "arguments"} form; the Qwen3 template reads both.
ToolCall tool_call_from_json(const nlohmann::json& call, const std::string& where) {
  if (!call.is_object()) {
    throw util::InputError(util::cat(where, " must be an object, got ", call.type_name()));
  }
  const bool nested = call.contains("function");
  for (const auto& item : call.items()) {
    const std::string& key = item.key();
    const bool known = nested
                           ? (key == "function" || key == "type" || key == "id")
                           : (key == "name" || key == "arguments" || key == "type" || key == "id");
    if (!known) {
      throw util::InputError(util::cat(
          where, " has an unsupported field \"", key, "\" (give {\"type\": \"function\", ",
          "\"function\": {\"name\", \"arguments\"}, \"id\"} or {\"name\", \"arguments\"})"));
    }
  }
  if (call.contains("type") && string_field(call, "type", where) != "function") {
    throw util::InputError(util::cat(where, ".type is \"", call.at("type").get<std::string>(),
                                     "\"; only \"function\" tool calls are supported"));
  }
  if (call.contains("id")) string_field(call, "id", where);
  const nlohmann::json* function = &call;
  std::string function_where = where;
  if (nested) {
    function = &call.at("function");
    function_where += ".function";
    if (!function->is_object()) {
      throw util::InputError(
          util::cat(function_where, " must be an object, got ", function->type_name()));
    }
    for (const auto& item : function->items()) {
      if (item.key() != "name" && item.key() != "arguments") {
        throw util::InputError(util::cat(function_where, " has an unsupported field \"", item.key(),
                                         "\" (accepted: name, arguments)"));
      }
    }
  }
  ToolCall result;
  result.name = string_field(*function, "name", function_where);
  if (result.name.empty()) {
    throw util::InputError(util::cat(function_where, ".name is empty; a tool call needs a name"));
  }
  auto arguments = function->find("arguments");
  if (arguments == function->end()) {
    throw util::InputError(util::cat(function_where, " has no \"arguments\" (send {} for none)"));
  }
  if (arguments->is_string()) {
    result.arguments = arguments->get<std::string>();
  } else if (arguments->is_object()) {
    result.arguments = python_json_dumps(*arguments);
  } else {
    throw util::InputError(util::cat(function_where,
                                     ".arguments must be a string (JSON text) or an object, got ",
                                     arguments->type_name()));
  }
  return result;
}

}  // namespace

bool operator==(const ToolCall& a, const ToolCall& b) {
  return a.name == b.name && a.arguments == b.arguments;
}
bool operator!=(const ToolCall& a, const ToolCall& b) {
  return !(a == b);
}
bool operator==(const Message& a, const Message& b) {
  return a.role == b.role && a.content == b.content && a.tool_calls == b.tool_calls;
}
bool operator!=(const Message& a, const Message& b) {
  return !(a == b);
}

void check_role(size_t index, std::string_view role) {
  if (role == "system" || role == "user" || role == "assistant" || role == "tool") return;
  throw util::InputError(
      util::cat("messages[", index, "].role is \"", role, "\"; valid roles: ", kValidRoles));
}

void check_messages(const std::vector<Message>& messages) {
  if (messages.empty()) throw util::InputError(std::string(internal::kEmptyConversation));
  for (size_t i = 0; i < messages.size(); ++i) {
    const Message& m = messages[i];
    check_role(i, m.role);
    if (!m.tool_calls.empty() && m.role != "assistant") {
      throw util::InputError(util::cat("messages[", i, "] is a \"", m.role,
                                       "\" message with tool_calls; only assistant messages make "
                                       "tool calls"));
    }
    for (size_t c = 0; c < m.tool_calls.size(); ++c) {
      if (m.tool_calls[c].name.empty()) {
        throw util::InputError(
            util::cat("messages[", i, "].tool_calls[", c, "] has no name; a tool call needs one"));
      }
    }
    if (m.role == "tool") {
      const bool after_call =
          i > 0 && (messages[i - 1].role == "tool" ||
                    (messages[i - 1].role == "assistant" && !messages[i - 1].tool_calls.empty()));
      if (!after_call) {
        throw util::InputError(util::cat(
            "messages[", i,
            "] is a tool result without a tool call before it (a tool message must follow an "
            "assistant message with tool_calls, or another tool message)"));
      }
    }
  }
}

std::vector<ToolCall> tool_calls_from_json(const nlohmann::json& calls, const std::string& where) {
  if (!calls.is_array()) {
    throw util::InputError(
        util::cat(where, " must be an array of tool calls, got ", calls.type_name()));
  }
  std::vector<ToolCall> result;
  result.reserve(calls.size());
  for (size_t i = 0; i < calls.size(); ++i) {
    result.push_back(tool_call_from_json(calls[i], util::cat(where, "[", i, "]")));
  }
  return result;
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
    const std::string where = util::cat("messages[", i, "]");
    if (!m.is_object()) {
      throw util::InputError(util::cat(where, " must be an object, got ", m.type_name()));
    }
    Message message;
    message.role = string_field(m, "role", where);
    check_role(i, message.role);
    for (const auto& item : m.items()) {
      if (!field_allowed(message.role, item.key())) {
        throw util::InputError(unsupported_field(i, message.role, item.key()));
      }
    }
    if (auto calls = m.find("tool_calls"); calls != m.end() && !calls->is_null()) {
      message.tool_calls = tool_calls_from_json(*calls, where + ".tool_calls");
    }
    if (m.contains("tool_call_id")) string_field(m, "tool_call_id", where);
    if (m.contains("name")) string_field(m, "name", where);
    auto content = m.find("content");
    if (content != m.end() && content->is_string()) {
      message.content = content->get<std::string>();
    } else if (message.tool_calls.empty()) {
      // OpenAI clients send a null content next to tool calls; anywhere else it is a mistake.
      throw util::InputError(
          content == m.end()
              ? util::cat(where, " has no \"content\"")
              : util::cat(where, ".content must be a string, got ", content->type_name(),
                          content->is_null() ? " (null is allowed only with tool_calls)" : ""));
    } else if (content != m.end() && !content->is_null()) {
      throw util::InputError(
          util::cat(where, ".content must be a string or null, got ", content->type_name()));
    }
    result.push_back(std::move(message));
  }
  check_messages(result);
  return result;
}

}  // namespace safrl::chat
