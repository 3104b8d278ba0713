// The Qwen3Guard-Gen verdict: what the guard said about one prompt or response, parsed from its
// generated text exactly as the official Qwen3Guard code parses it (docs/reward.md).
//
// Guard output, one verdict per line:
//   prompt moderation    "Safety: Unsafe\nCategories: Violent"
//   response moderation  "Safety: Safe\nCategories: None\nRefusal: Yes"
// parse_verdict() applies the official regexes to the whole text, case-sensitively:
//   safety     re.search  "Safety: (Safe|Unsafe|Controversial)"   first match
//   categories re.findall "(Violent|...|None)"                    every match, in text order
//   refusal    re.search  "Refusal: (Yes|No)"                     first match (response task)
// The matching is by substring, like the regexes: there are no anchors or word boundaries, so
// "Safety: Safely" reads as Safe and a category name anywhere in the text counts. "None" matches
// are dropped, so an empty category list means "None"; repeated names are kept, as findall keeps
// them. A text without a safety line, or a response-task text without a refusal line, gives
// nullopt: the caller must report it as unparseable, never as Safe.
// Everything here is pure and thread-safe; the category lists are static storage.
#pragma once

#include <array>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "chat/render.h"

namespace safrl::reward {

// The guard's safety verdict. The order is the guard's (and Verdict::safety_probs' index).
enum class Safety { kSafe, kUnsafe, kControversial };

// "Safe", "Unsafe" or "Controversial": the guard's own spelling.
std::string_view safety_name(Safety safety);

// The inverse of safety_name(); anything else throws util::InputError listing the valid names.
Safety parse_safety(std::string_view name);

// Which question the guard answered: prompt moderation (two lines, Jailbreak is a category) or
// response moderation (three lines, with the refusal verdict). The same choice the chat layer
// makes when it renders the guard prompt, hence the same enum.
using chat::GuardTask;

// The unsafe-content categories of each task, in the order the guard's template lists them.
inline constexpr std::array<std::string_view, 9> kPromptCategories = {
    "Violent",
    "Non-violent Illegal Acts",
    "Sexual Content or Sexual Acts",
    "PII",
    "Suicide & Self-Harm",
    "Unethical Acts",
    "Politically Sensitive Topics",
    "Copyright Violation",
    "Jailbreak",
};
// Response moderation has the same categories without Jailbreak, the last one.
inline constexpr std::array<std::string_view, 8> kResponseCategories = [] {
  std::array<std::string_view, 8> names{};
  for (size_t i = 0; i < names.size(); ++i) names[i] = kPromptCategories[i];
  return names;
}();

// True when `name` is one of kResponseCategories (resp. kPromptCategories).
bool is_response_category(std::string_view name);
bool is_prompt_category(std::string_view name);

struct Verdict {
  Safety safety = Safety::kSafe;
  // Unsafe-content categories named by the guard, in text order; empty means "None".
  std::vector<std::string> categories;
  // Response task: whether the guard said "Refusal: Yes". Always nullopt for the prompt task.
  std::optional<bool> refusal;
  // P(Safe), P(Unsafe), P(Controversial) renormalised over the three, where the guard's output
  // picks its label; NaN when not computed (the output never reached that point, or the verdict
  // was parsed from text).
  std::array<double, 3> safety_probs = {kNotComputed, kNotComputed, kNotComputed};
  // P(Yes) renormalised over {Yes, No} at the refusal token; nullopt when not computed.
  std::optional<double> refusal_prob;
  // The guard's generated text, verbatim.
  std::string text;

  static constexpr double kNotComputed = std::numeric_limits<double>::quiet_NaN();
};

// The verdict in `text` (see the header comment), or nullopt when the text has no safety line
// or, for GuardTask::kResponse, no refusal line. Probabilities are left as not computed; `text`
// is copied into the verdict.
std::optional<Verdict> parse_verdict(std::string_view text, GuardTask task);

// {"safety": "Unsafe", "categories": ["Violent"], "refusal": true|false|null,
//  "probs": {"Safe": p, "Unsafe": p, "Controversial": p}, "refusal_prob": p|null}
// Each probability that was not computed (NaN) is null. The raw text is not included; callers
// that want it add it.
nlohmann::json verdict_to_json(const Verdict& verdict);

// The inverse of verdict_to_json() (for re-reading scored output): the same fields, where
// "probs" and "refusal_prob" may also be absent, plus "text" when present; other fields are
// ignored. Throws util::InputError naming the field at fault.
Verdict verdict_from_json(const nlohmann::json& value);

}  // namespace safrl::reward
