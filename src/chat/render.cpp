#include "chat/render.h"

#include "chat/internal.h"
#include "util/enum_names.h"
#include "util/error.h"

namespace safrl::chat {
namespace {

constexpr util::EnumName<ChatFormat> kFormatNames[] = {
    {ChatFormat::kGuard, "guard"},
    {ChatFormat::kQwen3, "qwen3"},
    {ChatFormat::kChatml, "chatml"},
};

constexpr util::EnumName<ToolTurns> kToolTurnsNames[] = {
    {ToolTurns::kQwen3, "qwen3"},
    {ToolTurns::kRefuse, "refuse"},
};

// check_messages() has run, so every tool result follows a call: the first call is the first
// tool turn.
void refuse_tool_turns(const std::vector<Message>& messages) {
  for (size_t i = 0; i < messages.size(); ++i) {
    if (!messages[i].tool_calls.empty()) {
      throw util::InputError(util::cat("messages[", i,
                                       "] is a tool call; guard.tool_turns is refuse (set it to "
                                       "qwen3 to judge conversations with tools)"));
    }
  }
}

}  // namespace

ToolTurns parse_tool_turns(std::string_view name) {
  return util::parse_name(kToolTurnsNames, name, "tool_turns value");
}

std::string_view tool_turns_name(ToolTurns value) {
  return util::name_of(kToolTurnsNames, value);
}

ChatFormat parse_chat_format(std::string_view name) {
  return util::parse_name(kFormatNames, name, "chat format");
}

std::string_view chat_format_name(ChatFormat format) {
  return util::name_of(kFormatNames, format);
}

std::string render(ChatFormat format, const std::vector<Message>& messages,
                   const RenderOptions& options) {
  // Messages built in C++ bypass messages_from_json(), so the checks every format needs live here.
  check_messages(messages);
  if (options.tool_turns == ToolTurns::kRefuse) refuse_tool_turns(messages);
  switch (format) {
    case ChatFormat::kGuard:
      if (options.add_generation_prompt || !options.enable_thinking) {
        throw util::InputError(
            "the guard prompt always ends with its own assistant header and empty think block; "
            "add_generation_prompt and enable_thinking apply to the qwen3 and chatml formats only");
      }
      return internal::render_guard(messages);
    case ChatFormat::kQwen3:
      return internal::render_qwen3(messages, options);
    case ChatFormat::kChatml:
      if (!options.enable_thinking) {
        throw util::InputError("enable_thinking applies to the qwen3 format only");
      }
      return internal::render_chatml(messages, options);
  }
  throw std::logic_error("render: ChatFormat value out of range");
}

}  // namespace safrl::chat
