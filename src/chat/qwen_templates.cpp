// The Qwen3 and Qwen2.5 (ChatML) chat templates, restricted to conversations without tools.
// Each step names the line of the Jinja template it reproduces; the references in
// tests/data/chat were rendered from the real templates by scripts/reference/render_reference.py.
#include "chat/internal.h"

namespace safrl::chat::internal {
namespace {

constexpr std::string_view kToolResponseOpen = "<tool_response>";
constexpr std::string_view kToolResponseClose = "</tool_response>";

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// '<|im_start|>' + role + '\n' + content + '<|im_end|>' + '\n'
void append_turn(std::string& text, std::string_view role, std::string_view content) {
  text += "<|im_start|>";
  text += role;
  text += '\n';
  text += content;
  text += "<|im_end|>\n";
}

// The Qwen3 template's "last query": the last user message that is not a tool result wrapped in
// <tool_response> tags (the template applies this test to user messages, so it applies here even
// though tool messages are refused). With no such message it is the last index.
size_t last_query_index(const std::vector<Message>& messages) {
  for (size_t i = messages.size(); i-- > 0;) {
    const Message& m = messages[i];
    if (m.role == "user" &&
        !(starts_with(m.content, kToolResponseOpen) && ends_with(m.content, kToolResponseClose))) {
      return i;
    }
  }
  return messages.size() - 1;
}

void append_qwen3_assistant(std::string& text, std::string_view content, bool after_last_query,
                            bool is_last) {
  std::string_view reasoning;
  if (size_t first_close = content.find(kThinkClose); first_close != std::string_view::npos) {
    // content = content.split('</think>')[-1].lstrip('\n')
    // reasoning = content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n')
    reasoning = rstrip_newlines(content.substr(0, first_close));
    if (size_t open = reasoning.rfind(kThinkOpen); open != std::string_view::npos) {
      reasoning = reasoning.substr(open + kThinkOpen.size());
    }
    reasoning = lstrip_newlines(reasoning);
    content = lstrip_newlines(content.substr(content.rfind(kThinkClose) + kThinkClose.size()));
  }
  text += "<|im_start|>assistant\n";
  // Only turns after the last query keep their reasoning, and the final turn always gets a think
  // block, empty or not.
  if (after_last_query && (is_last || !reasoning.empty())) {
    text += "<think>\n";
    text += strip_newlines(reasoning);
    text += "\n</think>\n\n";
    text += lstrip_newlines(content);
  } else {
    text += content;
  }
  text += "<|im_end|>\n";
}

}  // namespace

std::string render_qwen3(const std::vector<Message>& messages, const RenderOptions& options) {
  const size_t last_query = last_query_index(messages);
  std::string text;
  for (size_t i = 0; i < messages.size(); ++i) {
    const Message& m = messages[i];
    // A leading system message is emitted before the template's loop and any later one inside
    // it, with the same bytes, so every non-assistant message is a plain turn.
    if (m.role == "assistant") {
      append_qwen3_assistant(text, m.content, i > last_query, i + 1 == messages.size());
    } else {
      append_turn(text, m.role, m.content);
    }
  }
  if (options.add_generation_prompt) {
    text += "<|im_start|>assistant\n";
    if (!options.enable_thinking) text += "<think>\n\n</think>\n\n";
  }
  return text;
}

std::string render_chatml(const std::vector<Message>& messages, const RenderOptions& options) {
  std::string text;
  // WorldPM was trained with an explicit empty system turn; without it the Qwen2.5 template
  // would insert its default "You are Qwen, created by Alibaba Cloud..." system prompt.
  if (messages.front().role != "system") append_turn(text, "system", "");
  for (const Message& m : messages) append_turn(text, m.role, m.content);
  if (options.add_generation_prompt) text += "<|im_start|>assistant\n";
  return text;
}

}  // namespace safrl::chat::internal
