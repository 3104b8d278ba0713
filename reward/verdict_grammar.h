// The Qwen3Guard-Gen output format as a token-level automaton, for constrained decoding.
//
// Prompt moderation:   "Safety: <Safe|Unsafe|Controversial>\nCategories: <None | c1, c2, ...>"
// Response moderation: the same, then "\nRefusal: <Yes|No>"; both end with <|im_end|>.
// Categories are the task's names from the guard prompt, each at most once. Every piece is
// tokenized on its own with the real tokenizer; the pieces meet at pre-tokenizer boundaries
// (":" / " Word" / "," / "\n"), so the concatenated token sequence is exactly what the tokenizer
// gives for the whole text, and a constrained output always decodes to a parseable verdict.
//
// A Cursor is a decoding position (a small set of live hypotheses, as the pieces of several
// alternatives can share first tokens). The grammar is immutable and shared; cursors are values.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "reward/verdict.h"
#include "tokenizer/tokenizer.h"

namespace safrl::reward {

class VerdictGrammar {
 public:
  VerdictGrammar(const tokenizer::Tokenizer& tokenizer, GuardTask task);

  struct Hypothesis {
    int state = 0;
    int alternative = 0;
    int position = 0;  // next token inside the alternative's tokens
    uint32_t used_categories = 0;
    bool operator==(const Hypothesis& other) const;
  };
  using Cursor = std::vector<Hypothesis>;

  Cursor start() const;
  // The tokens allowed next, sorted and unique; empty once done.
  std::vector<int32_t> allowed(const Cursor& cursor) const;
  // The cursor after `token`; throws util::Error when `token` is not allowed.
  Cursor advance(const Cursor& cursor, int32_t token) const;
  // True after the final <|im_end|>.
  bool done(const Cursor& cursor) const;
  // True where the next token picks the safety class / the refusal answer.
  bool at_safety_choice(const Cursor& cursor) const;
  bool at_refusal_choice(const Cursor& cursor) const;

  // First tokens of " Safe", " Unsafe", " Controversial" (they differ, so one softmax over them
  // gives the class probabilities) and of " Yes", " No".
  const std::array<int32_t, 3>& safety_tokens() const { return safety_tokens_; }
  const std::array<int32_t, 2>& refusal_tokens() const { return refusal_tokens_; }
  // The tokens of "Safety:" and of "\nRefusal:", after which free decoding reaches the verdict
  // and the refusal answer.
  const std::vector<int32_t>& safety_prefix() const { return safety_head_; }
  const std::vector<int32_t>& refusal_prefix() const { return refusal_head_; }

 private:
  struct Alternative {
    std::vector<int32_t> tokens;
    int next_state;
    int category;  // index of the category it names, or -1
  };
  std::vector<Alternative> alternatives(int state, uint32_t used) const;
  void enter(int state, uint32_t used, Cursor& out) const;

  GuardTask task_;
  std::vector<int32_t> safety_head_, categories_head_, refusal_head_, none_, comma_, im_end_;
  std::array<std::vector<int32_t>, 3> safety_values_;
  std::array<std::vector<int32_t>, 2> refusal_values_;
  std::vector<std::vector<int32_t>> categories_;
  std::array<int32_t, 3> safety_tokens_{};
  std::array<int32_t, 2> refusal_tokens_{};
};

}  // namespace safrl::reward
