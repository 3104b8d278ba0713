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
  // [begin, end) of each position's text: bytes of the judged answer as the guard produces them
  // (chat::StreamInput), code points of the sample's response as sent once the scorer has moved
  // them there (with_code_point_offsets).
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

// The inverse of token_safety_json; throws util::InputError for a category that is not one of
// kStreamResponseCategories (other malformed values throw nlohmann::json's exceptions).
TokenSafety token_safety_from_json(const nlohmann::json& value);

// `safety` with its byte offsets into `text` turned into code points (Python's str indices) of a
// string in which `base` code points come before `text` (the think block split off a response).
// An offset inside a multi-byte character widens the token to the whole character: a begin moves
// back to its first byte, an end forward past its last, so two tokens sharing a character both
// cover it.
TokenSafety with_code_point_offsets(TokenSafety safety, std::string_view text, int64_t base);

// The code points of UTF-8 `text` (its bytes that are not continuation bytes).
int64_t code_points(std::string_view text);

}  // namespace safrl::reward
