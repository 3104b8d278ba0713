// The Qwen3 and Qwen2.5 (ChatML) chat templates, without the `tools` definitions block (a
// conversation's tool calls and tool results are rendered; the tool signatures of a system prompt
// are not). Each step names the line of the Jinja template it reproduces; the references in
// tests/data/chat were rendered from the real templates by scripts/reference/render_reference.py,
// and tests/oracle compares conversations with tools against transformers.
#include "chat/internal.h"

namespace safrl::chat::internal {

void append_tool_calls(std::string& text, std::string_view content,
                       const std::vector<ToolCall>& calls) {
  for (size_t i = 0; i < calls.size(); ++i) {
    // {%- if (loop.first and content) or (not loop.first) %}{{- '\n' }}
    if (i > 0 || !content.empty()) text += '\n';
    text += "<tool_call>\n{\"name\": \"";
    text += calls[i].name;
    text += "\", \"arguments\": ";
    text += calls[i].arguments;
    text += "}\n</tool_call>";
  }
}

void append_tool_response(std::string& text, std::string_view content) {
  text += kToolResponseOpen;
  text += '\n';
  text += content;
  text += '\n';
  text += kToolResponseClose;
}

namespace {

// '<|im_start|>' + role + '\n' + content + '<|im_end|>' + '\n'
void append_turn(std::string& text, std::string_view role, std::string_view content) {
  text += "<|im_start|>";
  text += role;
  text += '\n';
  text += content;
  text += "<|im_end|>\n";
}

// The Qwen3 template's "last query": the last user message that is not a tool result wrapped in
// <tool_response> tags (tool messages are never queries). With no such message it is the last
// index.
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

// A tool message: the first of a run opens a user turn, the last of the run closes it.
void append_tool_message(std::string& text, const std::vector<Message>& messages, size_t i) {
  if (i == 0 || messages[i - 1].role != "tool") text += "<|im_start|>user";
  text += '\n';
  append_tool_response(text, messages[i].content);
  if (i + 1 == messages.size() || messages[i + 1].role != "tool") text += "<|im_end|>\n";
}

void append_qwen3_assistant(std::string& text, const Message& message, bool after_last_query,
                            bool is_last) {
  std::string_view content = message.content;
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
  // The template tests the answer left after the think split, not what was written.
  append_tool_calls(text, content, message.tool_calls);
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
      append_qwen3_assistant(text, m, i > last_query, i + 1 == messages.size());
    } else if (m.role == "tool") {
      append_tool_message(text, messages, i);
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
  for (size_t i = 0; i < messages.size(); ++i) {
    const Message& m = messages[i];
    if (m.role == "tool") {
      append_tool_message(text, messages, i);
    } else if (m.tool_calls.empty()) {
      append_turn(text, m.role, m.content);
    } else {
      // The Qwen2.5 template's bytes for calls whose arguments it would write with tojson; it
      // would JSON-quote string arguments, which we write as the Qwen3 template does (verbatim).
      text += "<|im_start|>assistant\n";
      text += m.content;
      append_tool_calls(text, m.content, m.tool_calls);
      text += "<|im_end|>\n";
    }
  }
  if (options.add_generation_prompt) text += "<|im_start|>assistant\n";
  return text;
}

}  // namespace safrl::chat::internal
