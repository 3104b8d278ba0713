#include "chat/qwen3_parse.h"

#include <optional>

#include <nlohmann/json.hpp>

#include "chat/internal.h"
#include "util/error.h"

namespace safrl::chat {
namespace {

constexpr std::string_view kImStart = "<|im_start|>";
constexpr std::string_view kImEnd = "<|im_end|>";
constexpr std::string_view kCallOpen = "<tool_call>\n{\"name\": \"";
constexpr std::string_view kCallMiddle = "\", \"arguments\": ";
constexpr std::string_view kCallClose = "}\n</tool_call>";
constexpr std::string_view kResponseOpen = "<tool_response>\n";
constexpr std::string_view kResponseClose = "\n</tool_response>";
constexpr std::string_view kResponseSeparator = "\n</tool_response>\n<tool_response>\n";

// What the text holds at `pos`, quoted and cut short, for error messages.
std::string excerpt(std::string_view text, size_t pos) {
  constexpr size_t kMax = 24;
  std::string_view rest = text.substr(pos);
  if (rest.empty()) return "the end of the text";
  // As a JSON string, so that newlines show as \n; a UTF-8 sequence cut in two becomes U+FFFD.
  return nlohmann::json(std::string(rest.substr(0, kMax)))
             .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
         (rest.size() > kMax ? "..." : "");
}

// The answer the Qwen3 template tests before writing the first call's "\n": the text after the
// last "</think>", '\n'-lstripped, when there is one.
std::string_view template_answer(std::string_view content) {
  const size_t close = content.rfind(internal::kThinkClose);
  if (close == std::string_view::npos) return content;
  return internal::lstrip_newlines(content.substr(close + internal::kThinkClose.size()));
}

// `calls`, the whole rest of an assistant turn, as tool-call blocks joined by "\n"; nullopt when
// it is anything else.
std::optional<std::vector<ToolCall>> parse_calls(std::string_view calls) {
  std::vector<ToolCall> result;
  for (;;) {
    if (!internal::starts_with(calls, kCallOpen)) return std::nullopt;
    calls.remove_prefix(kCallOpen.size());
    const size_t middle = calls.find(kCallMiddle);
    if (middle == std::string_view::npos || middle == 0) return std::nullopt;
    ToolCall call{std::string(calls.substr(0, middle)), ""};
    if (call.name.find('\n') != std::string::npos) return std::nullopt;
    calls.remove_prefix(middle + kCallMiddle.size());
    // The arguments end at the first block end that closes the turn or opens the next call.
    size_t close = 0;
    for (;; ++close) {
      close = calls.find(kCallClose, close);
      if (close == std::string_view::npos) return std::nullopt;
      std::string_view after = calls.substr(close + kCallClose.size());
      if (after.empty() ||
          (after.front() == '\n' && internal::starts_with(after.substr(1), kCallOpen))) {
        break;
      }
    }
    call.arguments = std::string(calls.substr(0, close));
    result.push_back(std::move(call));
    calls.remove_prefix(close + kCallClose.size());
    if (calls.empty()) return result;
    calls.remove_prefix(1);
  }
}

// An assistant turn's body as content plus the tool-call blocks that end it. The template writes
// "\n" before the first call only when the answer is non-empty, so the split is the first call
// position where that rule gives back these exact bytes.
Message parse_assistant(std::string_view body) {
  for (size_t p = body.find(kCallOpen); p != std::string_view::npos;
       p = body.find(kCallOpen, p + 1)) {
    std::optional<std::string_view> content;
    if (p == 0) {
      content = std::string_view();
    } else if (body[p - 1] == '\n' && !template_answer(body.substr(0, p - 1)).empty()) {
      content = body.substr(0, p - 1);
    } else if (template_answer(body.substr(0, p)).empty()) {
      content = body.substr(0, p);
    }
    if (!content) continue;
    if (std::optional<std::vector<ToolCall>> calls = parse_calls(body.substr(p))) {
      return Message{"assistant", std::string(*content), std::move(*calls)};
    }
  }
  return Message{"assistant", std::string(body)};
}

// A user turn made only of "<tool_response>\nC\n</tool_response>" blocks joined by "\n": one tool
// message per block. nullopt when the body is anything else.
std::optional<std::vector<Message>> parse_tool_responses(std::string_view body) {
  if (body.size() < kResponseOpen.size() + kResponseClose.size() ||
      !internal::starts_with(body, kResponseOpen) || !internal::ends_with(body, kResponseClose)) {
    return std::nullopt;
  }
  std::string_view inner =
      body.substr(kResponseOpen.size(), body.size() - kResponseOpen.size() - kResponseClose.size());
  std::vector<Message> result;
  for (;;) {
    const size_t separator = inner.find(kResponseSeparator);
    result.push_back(Message{"tool", std::string(inner.substr(0, separator))});
    if (separator == std::string_view::npos) return result;
    inner.remove_prefix(separator + kResponseSeparator.size());
  }
}

}  // namespace

std::vector<Message> parse_qwen3_text(std::string_view text) {
  if (text.empty()) throw util::InputError("the Qwen3 chat text is empty; it has no turns");
  std::vector<Message> messages;
  size_t pos = 0;
  for (size_t turn = 0; pos < text.size(); ++turn) {
    const auto fail = [&](size_t at, std::string_view what) {
      throw util::InputError(util::cat("Qwen3 chat text, turn ", turn, " at byte ", at,
                                       ": expected ", what, ", found ", excerpt(text, at)));
    };
    if (!internal::starts_with(text.substr(pos), kImStart)) fail(pos, "\"<|im_start|>\"");
    const size_t role_start = pos + kImStart.size();
    const size_t role_end = text.find('\n', role_start);
    if (role_end == std::string_view::npos) fail(role_start, "a role and a newline");
    const std::string_view role = text.substr(role_start, role_end - role_start);
    if (role != "system" && role != "user" && role != "assistant") {
      fail(role_start, "the role system, user or assistant");
    }
    const size_t body_start = role_end + 1;
    size_t body_end = text.find(kImEnd, body_start);
    if (body_end == std::string_view::npos) {
      // Only the last turn may be unterminated (a generation cut off or without its stop token).
      body_end = pos = text.size();
    } else {
      pos = body_end + kImEnd.size();
      if (pos < text.size()) {
        if (text[pos] != '\n') fail(pos, "\"\\n\" after \"<|im_end|>\"");
        ++pos;
      }
    }
    const std::string_view body = text.substr(body_start, body_end - body_start);
    if (role == "assistant") {
      messages.push_back(parse_assistant(body));
      continue;
    }
    // A user turn of tool results becomes tool messages only right after the calls: after a tool
    // message they would join its run, which renders as one turn, and elsewhere they would fail
    // check_messages(). Kept as the user's text it renders to the same bytes.
    if (role == "user" && !messages.empty() && !messages.back().tool_calls.empty()) {
      if (std::optional<std::vector<Message>> tools = parse_tool_responses(body)) {
        messages.insert(messages.end(), tools->begin(), tools->end());
        continue;
      }
    }
    messages.push_back(Message{std::string(role), std::string(body)});
  }
  return messages;
}

}  // namespace safrl::chat
