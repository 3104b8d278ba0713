// Qwen3Guard-Stream's labels read as a guard verdict: what the scorer and the reward formulas
// take from a Stream guard (reward/stream_guard.h computes the labels; docs/reward.md, "The
// Stream guard").
//
// Response moderation. The guard labels every response position (chat/stream_input.h); the
// labels are debounced exactly as the official code does (reward/stream_labels.h: two
// consecutive Unsafe, else two consecutive Controversial, else Safe). The verdict:
//   safety        the debounced outcome;
//   categories    [the category head's argmax at the flagging position] when not Safe, else [];
//   refusal       nullopt: Stream has no refusal output (config guard.refusal_source);
//   safety_probs  the three probabilities at the flagging position (the debounced index: the
//                 second of the two consecutive labels); for a Safe outcome, at the response
//                 position with the lowest P(Safe) (the first such), so that the expected safety
//                 signal reads the riskiest moment of a response that was never flagged, not an
//                 arbitrary token.
// Prompt moderation: the query head's label at the user turn's <|im_end|>, its category when not
// Safe, its probabilities.
// Pure functions; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "reward/stream_labels.h"
#include "reward/verdict.h"

namespace safrl::reward {

// The Stream guard's view of one response, position by position from the response's first label.
struct TokenSafety {
  std::vector<Safety> labels;                // argmax of each position's probabilities
  std::vector<std::array<double, 3>> probs;  // P(Safe), P(Unsafe), P(Controversial)
  std::vector<std::string_view> categories;  // the category head's argmax (static names)
  // [begin, end) bytes of each position's text in the answer (chat::StreamInput).
  std::vector<std::pair<int64_t, int64_t>> offsets;
  Debounced debounced;
};

// The response verdict of `safety` by the rule above (its labels already debounced).
Verdict stream_response_verdict(const TokenSafety& safety);

// The prompt verdict from the query head's probabilities and category at the query's end.
Verdict stream_query_verdict(const std::array<double, 3>& probs, std::string_view category);

// The label with the highest probability (the first on a tie, as argmax).
Safety most_likely(const std::array<double, 3>& probs);

// {"labels": [...], "probs": [[pS, pU, pC], ...], "categories": [...], "offsets": [[b, e], ...],
//  "first_unsafe": index | null, "first_unsafe_offset": b | null} (docs/protocol.md): the first
// debounced flag of either kind (Unsafe or Controversial), relative to the first response label.
nlohmann::json token_safety_json(const TokenSafety& safety);

}  // namespace safrl::reward
