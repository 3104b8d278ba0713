#include "chat/thinking.h"

#include "chat/internal.h"

namespace safrl::chat {
namespace {

constexpr std::string_view kWhitespace = " \t\n\r\f\v";

// The text after a "<think>" that opens `s` (after optional whitespace), or nullopt.
std::optional<std::string_view> after_opening_tag(std::string_view s) {
  size_t first = s.find_first_not_of(kWhitespace);
  if (first == std::string_view::npos) return std::nullopt;
  if (s.substr(first, internal::kThinkOpen.size()) != internal::kThinkOpen) return std::nullopt;
  return s.substr(first + internal::kThinkOpen.size());
}

// A blank trace holds nothing to judge.
std::optional<std::string> trace_or_nullopt(std::string_view trace) {
  trace = internal::strip_newlines(trace);
  if (trace.find_first_not_of(kWhitespace) == std::string_view::npos) return std::nullopt;
  return std::string(trace);
}

}  // namespace

SplitResponse split_thinking(std::string_view response) {
  SplitResponse split;
  const size_t close = response.find(internal::kThinkClose);
  if (close != std::string_view::npos) {
    std::string_view trace = response.substr(0, close);
    if (std::optional<std::string_view> inner = after_opening_tag(trace)) trace = *inner;
    split.thinking = trace_or_nullopt(trace);
    split.answer = std::string(
        internal::lstrip_newlines(response.substr(close + internal::kThinkClose.size())));
  } else if (std::optional<std::string_view> inner = after_opening_tag(response)) {
    split.thinking = trace_or_nullopt(*inner);
    split.truncated = true;
  } else {
    split.answer = std::string(response);
  }
  return split;
}

}  // namespace safrl::chat
