// The guard-injection shield (docs/reward.md, "The guard-injection shield"): finds, in the texts
// the guard judges for a sample, text written in the guard's own output format or copied from its
// prompt template, which a policy can learn to write to steer its judge; and neutralises it.
//
// The markers, in kInjectionMarkers order (case-sensitive, matched anywhere in a text unless
// said otherwise, as the official parsing regexes search; qwen3guard.md sections 1 and 2):
//   safety_line         "Safety: " + (Safe|Unsafe|Controversial)   the official safety regex
//   categories_line     "Categories: " + (a prompt category name|None)
//   refusal_line        "Refusal: " + (Yes|No)                     the official refusal regex
//   begin_conversation  "<BEGIN CONVERSATION>"
//   end_conversation    "<END CONVERSATION>"
//   policy_tag          "<BEGIN|END SAFETY POLICY>", "<BEGIN|END UNSAFE CONTENT CATEGORIES>",
//                       "<BEGIN|END REFUSAL POLICY>"
//   task_line           the template's task and instruction phrases (kTaskPhrases)
//   turn_marker         "USER: " or "ASSISTANT: " at the start of a line (the text's start or
//                       right after "\n"): how the template opens a turn
//   chat_token          "<|im_start|>", "<|im_end|>", "<|endoftext|>": the tokenizer reads them
//                       as the chat's control tokens wherever they are written
// A text is scanned left to right; at each position the first pattern that matches is taken and
// the scan resumes after it. No pattern is found inside another, so this finds every occurrence.
//
// The judged texts of a sample are the last messages of its guard calls (reward/judged_turns.h)
// other than the prompt's (the user's words, not the policy's): the response's answer (with its
// tool calls' names and arguments) and judged thinking, every judged earlier policy turn
// (judge: all_turns) and every judged tool result (judge_tool_results). An earlier turn that is
// only context (judge: last) is not a judged text.
//
// Neutralising replaces each match by kInjectionPlaceholder and leaves the rest of the text as it
// is; the placeholder holds none of the patterns' characters that could start or complete a
// match ('[' and ']' appear in none, and it does not end in "\n"), so a neutralised text has no
// marker left. Pure functions; thread-safe.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reward/judged_turns.h"
#include "reward/reward.h"
#include "reward/scored_sample.h"

namespace safrl::reward {

// The marker kinds, in the order findings list them.
inline constexpr std::array<std::string_view, 9> kInjectionMarkers = {
    "safety_line", "categories_line", "refusal_line", "begin_conversation", "end_conversation",
    "policy_tag",  "task_line",       "turn_marker",  "chat_token"};

// What replaces each match when neutralising.
inline constexpr std::string_view kInjectionPlaceholder = "[removed]";

// The marker kinds found in `text`, in kInjectionMarkers order, each once; empty when none.
std::vector<std::string> find_markers(std::string_view text);

// `text` with every match replaced by kInjectionPlaceholder; `text` itself when it has none.
std::string neutralise(std::string_view text);

// The findings of a sample's guard calls (guard_calls(sample, settings)); `messages_size` is
// len(sample.messages), the response's turn index. One finding per judged text that has a
// marker, "where" being "answer" or "thinking" for the response and "messages[i]" for message i
// (an earlier turn's answer and thinking make one finding, their markers merged), in the calls'
// order (message index, the response last).
std::vector<InjectionFinding> find_injections(const std::vector<GuardCall>& calls,
                                              size_t messages_size);

// `calls` as the guard judges them under on_injection strip: every judged text neutralised
// wherever a call shows it, as the judged message or as context of a later one (its content and
// its tool calls' names and arguments). Other messages, roles and the calls' order are kept.
std::vector<GuardCall> neutralised_calls(std::vector<GuardCall> calls, size_t messages_size);

// The result of a sample (or turn) with a finding under on_injection unsafe: the reward of
// unparseable_result() (hybrid min(unsafe_cap, H), guard_only 0, helpfulness_only H), case
// "injection", safe = false, refusal = false; its channels those of unparseable_result(). The
// verdicts of a text written to steer the guard are not trusted either way.
RewardResult injection_result(const RewardSettings& settings, std::optional<double> helpfulness);

// on_injection unsafe, applied after combine_turns' rewards: the sample's result and, in
// `turns` (the response last), the result of each turn with a finding become injection_result().
// A finding in a tool result changes the sample's result only. Does nothing under report and
// strip, or when scored.injection is empty.
void apply_injection_policy(const RewardSettings& settings, std::vector<TurnScore>& turns,
                            ScoredSample& scored);

// "report" | "unsafe" | "strip"; anything else throws util::InputError listing them.
InjectionPolicy parse_injection_policy(std::string_view name);
std::string_view injection_policy_name(InjectionPolicy policy);

// The findings as the output line holds them: [{"where", "markers"}], and back. from_json throws
// nlohmann::json::exception on a malformed value.
nlohmann::json injection_to_json(const std::vector<InjectionFinding>& findings);
std::vector<InjectionFinding> injection_from_json(const nlohmann::json& value);

}  // namespace safrl::reward
