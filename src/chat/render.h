// Rendering a conversation into the exact text a model was trained on.
//
// Three formats, each byte-exact with its reference (docs/chat-formats.md has examples):
//   kGuard   Qwen3Guard-Gen moderation prompt: HEAD + body + TAIL, one user turn ending in the
//            assistant header and an empty think block. The last message's role picks prompt
//            moderation (user) or response moderation (assistant).
//   kQwen3   The Qwen3 chat template as apply_chat_template(messages, tokenize=False,
//            add_generation_prompt=..., enable_thinking=...) renders it, including the think
//            block of assistant turns after the last user query. Reward models (Skywork-Reward-V2-
//            Qwen3) read it with no generation prompt, the default.
//   kChatml  The Qwen2.5 chat format WorldPM expects; an empty system message is inserted when
//            the conversation does not start with one.
// Tool calls and tool results render as Qwen3's chat template writes them (<tool_call> and
// <tool_response> blocks), in every format; for kGuard this is our extension, since Qwen3Guard's
// sources say nothing of tools (docs/chat-formats.md). RenderOptions::tool_turns = kRefuse
// refuses them instead.
// render() validates first (check_messages(), the guard's ordering rules) and throws
// util::InputError naming the message at fault; it never drops or rewrites a message silently.
// All functions are pure and thread-safe; returned string_views point at static storage.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "chat/message.h"

namespace safrl::chat {

enum class ChatFormat { kGuard, kQwen3, kChatml };

// Maps "guard", "qwen3" and "chatml" to a format; anything else throws util::InputError listing
// the valid names.
ChatFormat parse_chat_format(std::string_view name);

// The name parse_chat_format() accepts for `format`.
std::string_view chat_format_name(ChatFormat format);

// What render() does with tool calls and tool messages.
enum class ToolTurns {
  kQwen3,   // render them as Qwen3's chat template does (the default)
  kRefuse,  // throw util::InputError naming the first tool call (every tool result follows one)
};

// Maps "qwen3" and "refuse" to a value; anything else throws util::InputError listing them.
ToolTurns parse_tool_turns(std::string_view name);

// The name parse_tool_turns() accepts for `value`.
std::string_view tool_turns_name(ToolTurns value);

// apply_chat_template's switches, for the chat formats (kQwen3, kChatml). The guard prompt has
// its own fixed ending, so kGuard accepts only the defaults.
struct RenderOptions {
  // Ends the text with the assistant header, ready for the model to answer.
  bool add_generation_prompt = false;
  // Qwen3 only: false adds an empty think block after the generation prompt (Qwen3's
  // non-thinking mode); without a generation prompt it changes nothing, as in the template.
  bool enable_thinking = true;
  // Every format: whether tool turns are rendered or refused (config guard.tool_turns).
  ToolTurns tool_turns = ToolTurns::kQwen3;
};

// The rendered text of `messages` in `format`. Throws util::InputError on an invalid conversation
// or options the format does not have.
std::string render(ChatFormat format, const std::vector<Message>& messages,
                   const RenderOptions& options = {});

// Which question the guard is asked.
enum class GuardTask {
  kPrompt,    // is THE LAST USER's query safe (two output lines)
  kResponse,  // is THE LAST ASSISTANT's response safe, and is it a refusal (three output lines)
};

// The guard task of a conversation: kPrompt when the last message is from the user or a tool
// (a tool result is judged as input, like a prompt), kResponse when it is from the assistant.
// Throws util::InputError for an empty conversation or a final system message.
GuardTask guard_task(const std::vector<Message>& messages);

// The fixed text before and after the conversation body in the guard prompt of `task`. The head
// is the same for every request of a task, so it is the natural prefix to cache.
std::string_view guard_head(GuardTask task);
std::string_view guard_tail(GuardTask task);

}  // namespace safrl::chat
