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

}  // namespace

ChatFormat parse_chat_format(std::string_view name) {
  return util::parse_name(kFormatNames, name, "chat format");
}

std::string_view chat_format_name(ChatFormat format) {
  return util::name_of(kFormatNames, format);
}

std::string render(ChatFormat format, const std::vector<Message>& messages,
                   const RenderOptions& options) {
  // Messages built in C++ bypass messages_from_json(), so the checks every format needs live here.
  if (messages.empty()) throw util::InputError(std::string(internal::kEmptyConversation));
  for (size_t i = 0; i < messages.size(); ++i) check_role(i, messages[i].role);
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
