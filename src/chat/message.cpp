#include "chat/message.h"

#include <nlohmann/json.hpp>

#include "chat/internal.h"
#include "chat/python_json.h"
#include "io/json_reader.h"
#include "util/error.h"

namespace safrl::chat {
namespace {

bool is_valid_role(std::string_view role) {
  return role == "system" || role == "user" || role == "assistant" || role == "tool";
}

// Why a message field is refused, with a hint for the common ones.
std::string unsupported_field(const std::string& role, const std::string& key) {
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
  return util::cat("unsupported field for role \"", role, "\" (", hint, ")");
}

bool field_allowed(const std::string& role, const std::string& key) {
  if (key == "role" || key == "content") return true;
  if (key == "tool_calls") return role == "assistant";
  if (key == "tool_call_id" || key == "name") return role == "tool";
  return false;
}

// One call, in the OpenAI form {"type": "function", "function": {"name", "arguments"}, "id"} or
// the flat {"name", "arguments"} form; the Qwen3 template reads both.
ToolCall tool_call_from_json(const io::JsonReader& call) {
  const bool nested = call.has("function");
  if (nested) {
    call.allow_keys({"type", "function", "id"});
  } else {
    call.allow_keys({"type", "name", "arguments", "id"});
  }
  // Present means a string: an explicit null is refused like any other non-string.
  if (call.has("type") && call.at("type").as_string() != "function") {
    call.at("type").fail(util::cat("is \"", call.at("type").as_string(),
                                   "\"; only \"function\" tool calls are supported"));
  }
  if (call.has("id")) call.at("id").as_string();
  const io::JsonReader function = nested ? call.at("function") : call;
  if (nested) function.allow_keys({"name", "arguments"});
  ToolCall result;
  const io::JsonReader name = function.at("name");
  result.name = name.as_string();
  if (result.name.empty()) name.fail("is empty; a tool call needs a name");
  const io::JsonReader arguments = function.at("arguments", "send {} for none");
  if (arguments.value().is_string()) {
    result.arguments = arguments.as_string();
  } else if (arguments.value().is_object()) {
    result.arguments = python_json_dumps(arguments.value());
  } else {
    arguments.fail(
        util::cat("must be a string (JSON text) or an object, got ", arguments.describe()));
  }
  return result;
}

// check_messages with the conversation named `where` ("messages", "samples[3].messages").
void check_messages_at(const std::vector<Message>& messages, const std::string& where) {
  if (messages.empty()) throw util::InputError(std::string(internal::kEmptyConversation));
  for (size_t i = 0; i < messages.size(); ++i) {
    const Message& m = messages[i];
    const std::string at = util::cat(where, "[", i, "]");
    if (!is_valid_role(m.role)) {
      throw util::InputError(
          util::cat(at, ".role: unknown role \"", m.role, "\"; valid roles: ", kValidRoles));
    }
    if (!m.tool_calls.empty() && m.role != "assistant") {
      throw util::InputError(util::cat(at, " is a \"", m.role,
                                       "\" message with tool_calls; only assistant messages make "
                                       "tool calls"));
    }
    for (size_t c = 0; c < m.tool_calls.size(); ++c) {
      if (m.tool_calls[c].name.empty()) {
        throw util::InputError(
            util::cat(at, ".tool_calls[", c, "] has no name; a tool call needs one"));
      }
    }
    if (m.role == "tool") {
      const bool after_call =
          i > 0 && (messages[i - 1].role == "tool" ||
                    (messages[i - 1].role == "assistant" && !messages[i - 1].tool_calls.empty()));
      if (!after_call) {
        throw util::InputError(util::cat(
            at,
            " is a tool result without a tool call before it (a tool message must follow an "
            "assistant message with tool_calls, or another tool message)"));
      }
    }
  }
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
  if (is_valid_role(role)) return;
  throw util::InputError(util::cat("messages[", index, "].role: unknown role \"", role,
                                   "\"; valid roles: ", kValidRoles));
}

void check_messages(const std::vector<Message>& messages) {
  check_messages_at(messages, "messages");
}

std::vector<ToolCall> tool_calls_from_json(const nlohmann::json& calls, const std::string& where) {
  return read_tool_calls(io::JsonReader(calls, io::throw_as<util::InputError>(), where));
}

std::vector<ToolCall> read_tool_calls(const io::JsonReader& calls) {
  if (!calls.value().is_array()) {
    calls.fail(util::cat("must be an array of tool calls, got ", calls.describe()));
  }
  std::vector<ToolCall> result;
  for (const io::JsonReader& call : calls.items()) result.push_back(tool_call_from_json(call));
  return result;
}

std::vector<Message> messages_from_json(const nlohmann::json& messages) {
  return read_messages(io::JsonReader(messages, io::throw_as<util::InputError>(), "messages"));
}

std::vector<Message> read_messages(const io::JsonReader& messages) {
  if (!messages.value().is_array()) {
    messages.fail(util::cat("must be an array of {\"role\", \"content\"} objects, got ",
                            messages.describe()));
  }
  if (messages.value().empty()) {
    messages.fail("must not be empty; give at least one message");
  }
  std::vector<Message> result;
  result.reserve(messages.value().size());
  for (const io::JsonReader& m : messages.items()) {
    Message message;
    const io::JsonReader role = m.at("role");
    message.role = role.as_string();
    if (!is_valid_role(message.role)) {
      role.fail(util::cat("unknown role \"", message.role, "\"; valid roles: ", kValidRoles));
    }
    for (const auto& item : m.as_object().items()) {
      if (!field_allowed(message.role, item.key())) {
        m.child(item.key()).fail(unsupported_field(message.role, item.key()));
      }
    }
    if (const auto calls = m.optional("tool_calls")) message.tool_calls = read_tool_calls(*calls);
    for (const char* key : {"tool_call_id", "name"}) {
      if (m.has(key)) m.at(key).as_string();
    }
    const io::JsonReader content = m.child("content");
    if (content.value().is_string()) {
      message.content = content.as_string();
    } else if (message.tool_calls.empty()) {
      // OpenAI clients send a null content next to tool calls; anywhere else it is a mistake.
      if (!m.has("content")) content.fail("missing");
      content.fail(
          util::cat("must be a string, got ", content.describe(),
                    content.value().is_null() ? " (null is allowed only with tool_calls)" : ""));
    } else if (!content.value().is_null()) {
      content.fail(util::cat("must be a string or null, got ", content.describe()));
    }
    result.push_back(std::move(message));
  }
  check_messages_at(result, messages.path());
  return result;
}

}  // namespace safrl::chat
