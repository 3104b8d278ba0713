// Splitting a generated response into its thinking trace and its final answer.
//
// Qwen3 thinking-mode output looks like "<think>\n...\n</think>\n\nanswer"; when the prompt
// already ends in "<think>" (Qwen3-2507 thinking models) the output starts inside the trace and
// only "</think>" appears. SafeRL judges the trace and the answer separately, so this split must
// never lose text: everything up to the FIRST "</think>" is thinking and everything after it is
// the answer, verbatim apart from the newlines the Qwen3 template strips. Rules, in order:
//   1. "</think>" present: thinking = the text before the first "</think>", minus one opening
//      "<think>" if the response starts with it (after optional whitespace), with leading and
//      trailing '\n' removed; answer = the text after the first "</think>" with leading '\n'
//      removed. Later "<think>"/"</think>" tags stay in the answer as text.
//   2. No "</think>", but the response starts with "<think>" (after optional whitespace): the
//      generation was cut off inside the trace. thinking = the rest, '\n'-stripped; answer = "";
//      truncated = true.
//   3. Otherwise: no thinking; answer = the whole response, unchanged.
// A trace that is empty or only whitespace (the "<think>\n\n</think>\n\n" of non-thinking Qwen3
// output) gives thinking = nullopt: there is nothing for the guard to judge.
// Pure function; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace safrl::chat {

struct SplitResponse {
  std::optional<std::string> thinking;  // the trace; nullopt when absent or blank
  std::string answer;                   // the final answer; empty when truncated
  bool truncated = false;               // "<think>" opened and never closed
};

SplitResponse split_thinking(std::string_view response);

}  // namespace safrl::chat
