#include "reward/guard_injection.h"

#include <algorithm>
#include <map>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace safrl::reward {
namespace {

enum Marker : size_t {
  kSafetyLine,
  kCategoriesLine,
  kRefusalLine,
  kBeginConversation,
  kEndConversation,
  kPolicyTag,
  kTaskLine,
  kTurnMarker,
  kChatToken,
};

// A literal prefix followed by one of `alternatives` (none when empty): the official regexes
// "Safety: (Safe|Unsafe|Controversial)" and "Refusal: (Yes|No)" have this shape.
struct Pattern {
  Marker marker;
  std::string_view prefix;
  std::vector<std::string_view> alternatives;
};

// The phrases of the template's task and output instructions (chat/guard.cpp), each as both tasks
// write it where they differ only after it.
constexpr std::string_view kTaskPhrases[] = {
    "# Task:",
    "Evaluate whether THE LAST",
    "Identify the category of unsafe content found.",
    "Determine if THE LAST ASSISTANT's response is a refusal",
    "Provide your safety assessment for ONLY THE LAST",
    "The first line must be one of:",
    "The second line should start with 'Categories:'",
    "The third line must be one of:",
};

// The tags around the template's policy blocks (the conversation's have kinds of their own).
constexpr std::string_view kPolicyTags[] = {
    "<BEGIN SAFETY POLICY>",
    "<END SAFETY POLICY>",
    "<BEGIN UNSAFE CONTENT CATEGORIES>",
    "<END UNSAFE CONTENT CATEGORIES>",
    "<BEGIN REFUSAL POLICY>",
    "<END REFUSAL POLICY>",
};

const std::vector<Pattern>& patterns() {
  static const std::vector<Pattern> all = [] {
    std::vector<Pattern> out = {
        {kSafetyLine, "Safety: ", {"Safe", "Unsafe", "Controversial"}},
        {kRefusalLine, "Refusal: ", {"Yes", "No"}},
        {kBeginConversation, "<BEGIN CONVERSATION>", {}},
        {kEndConversation, "<END CONVERSATION>", {}},
        {kChatToken, "<|im_start|>", {}},
        {kChatToken, "<|im_end|>", {}},
        {kChatToken, "<|endoftext|>", {}},
    };
    Pattern categories{kCategoriesLine, "Categories: ", {}};
    // "None" is the category regexes' last alternative; no name is a prefix of another.
    categories.alternatives.assign(kPromptCategories.begin(), kPromptCategories.end());
    categories.alternatives.push_back("None");
    out.push_back(std::move(categories));
    for (std::string_view tag : kPolicyTags) out.push_back({kPolicyTag, tag, {}});
    for (std::string_view phrase : kTaskPhrases) out.push_back({kTaskLine, phrase, {}});
    return out;
  }();
  return all;
}

// The length of the match of `pattern` at `pos`, or 0.
size_t match_at(std::string_view text, size_t pos, const Pattern& pattern) {
  if (text.compare(pos, pattern.prefix.size(), pattern.prefix) != 0) return 0;
  if (pattern.alternatives.empty()) return pattern.prefix.size();
  const size_t after = pos + pattern.prefix.size();
  for (std::string_view alternative : pattern.alternatives) {
    if (text.compare(after, alternative.size(), alternative) == 0) {
      return pattern.prefix.size() + alternative.size();
    }
  }
  return 0;
}

struct Match {
  Marker marker;
  size_t length = 0;
};

// The first pattern that matches at `pos`; length 0 when none does.
Match match_any(std::string_view text, size_t pos) {
  if (pos == 0 || text[pos - 1] == '\n') {
    for (std::string_view role : {"USER: ", "ASSISTANT: "}) {
      if (text.compare(pos, role.size(), role) == 0) return {kTurnMarker, role.size()};
    }
  }
  for (const Pattern& pattern : patterns()) {
    if (const size_t length = match_at(text, pos, pattern)) return {pattern.marker, length};
  }
  return {kSafetyLine, 0};
}

// Calls `on_match(pos, match)` for each match, left to right, never overlapping.
template <typename OnMatch>
void scan(std::string_view text, OnMatch on_match) {
  size_t pos = 0;
  while (pos < text.size()) {
    const Match match = match_any(text, pos);
    if (match.length == 0) {
      ++pos;
      continue;
    }
    on_match(pos, match);
    pos += match.length;
  }
}

// Adds the markers of `text` to `found` (indexed by Marker).
void mark(std::string_view text, std::array<bool, kInjectionMarkers.size()>& found) {
  scan(text, [&](size_t, const Match& match) { found[match.marker] = true; });
}

std::vector<std::string> marker_names(const std::array<bool, kInjectionMarkers.size()>& found) {
  std::vector<std::string> names;
  for (size_t m = 0; m < found.size(); ++m) {
    if (found[m]) names.emplace_back(kInjectionMarkers[m]);
  }
  return names;
}

// The markers of a judged message: its content and its tool calls' names and arguments.
void mark_message(const chat::Message& message, std::array<bool, kInjectionMarkers.size()>& found) {
  mark(message.content, found);
  for (const chat::ToolCall& call : message.tool_calls) {
    mark(call.name, found);
    mark(call.arguments, found);
  }
}

void neutralise_message(chat::Message& message) {
  message.content = neutralise(message.content);
  for (chat::ToolCall& call : message.tool_calls) {
    call.name = neutralise(call.name);
    call.arguments = neutralise(call.arguments);
  }
}

bool judged_text(const GuardCall& call) {
  return call.kind != GuardCall::Kind::kPrompt;
}

}  // namespace

std::vector<std::string> find_markers(std::string_view text) {
  std::array<bool, kInjectionMarkers.size()> found{};
  mark(text, found);
  return marker_names(found);
}

std::string neutralise(std::string_view text) {
  std::string out;
  size_t copied = 0;
  scan(text, [&](size_t pos, const Match& match) {
    out.append(text.substr(copied, pos - copied));
    out.append(kInjectionPlaceholder);
    copied = pos + match.length;
  });
  out.append(text.substr(copied));
  return out;
}

std::vector<InjectionFinding> find_injections(const std::vector<GuardCall>& calls,
                                              size_t messages_size) {
  // Keyed by where, in the order first seen.
  std::vector<std::pair<std::string, std::array<bool, kInjectionMarkers.size()>>> texts;
  for (const GuardCall& call : calls) {
    if (!judged_text(call)) continue;
    std::string where = call.turn != messages_size ? util::cat("messages[", call.turn, "]")
                        : call.kind == GuardCall::Kind::kThinking ? "thinking"
                                                                  : "answer";
    auto it = std::find_if(texts.begin(), texts.end(),
                           [&](const auto& text) { return text.first == where; });
    if (it == texts.end()) it = texts.insert(texts.end(), {std::move(where), {}});
    mark_message(call.conversation.back(), it->second);
  }
  std::vector<InjectionFinding> findings;
  for (const auto& [where, found] : texts) {
    std::vector<std::string> markers = marker_names(found);
    if (!markers.empty()) findings.push_back({where, std::move(markers)});
  }
  return findings;
}

std::vector<GuardCall> neutralised_calls(std::vector<GuardCall> calls, size_t messages_size) {
  // The earlier messages judged as texts of their own: they are neutralised as context too.
  std::vector<bool> judged(messages_size, false);
  for (const GuardCall& call : calls) {
    if (judged_text(call) && call.turn < messages_size) judged[call.turn] = true;
  }
  for (GuardCall& call : calls) {
    std::vector<chat::Message>& conversation = call.conversation;
    // A conversation is messages[0..turn) and the judged message: position p is message p.
    for (size_t p = 0; p + 1 < conversation.size(); ++p) {
      if (judged[p]) neutralise_message(conversation[p]);
    }
    if (judged_text(call)) neutralise_message(conversation.back());
  }
  return calls;
}

RewardResult injection_result(const RewardSettings& settings, std::optional<double> helpfulness) {
  RewardResult result = unparseable_result(settings, helpfulness);
  result.reward_case = kCaseInjection;
  return result;
}

void apply_injection_policy(const RewardSettings& settings, std::vector<TurnScore>& turns,
                            ScoredSample& scored) {
  if (settings.on_injection != InjectionPolicy::kUnsafe || scored.injection.empty()) return;
  TurnScore& response = turns.back();
  for (TurnScore& turn : turns) {
    const std::string where = util::cat("messages[", turn.index, "]");
    const bool found = std::any_of(
        scored.injection.begin(), scored.injection.end(), [&](const InjectionFinding& finding) {
          return &turn == &response ? finding.where == "answer" || finding.where == "thinking"
                                    : finding.where == where;
        });
    if (found) turn.result = injection_result(settings, turn.helpfulness);
  }
  scored.result = injection_result(settings, response.helpfulness);
}

InjectionPolicy parse_injection_policy(std::string_view name) {
  if (name == "report") return InjectionPolicy::kReport;
  if (name == "unsafe") return InjectionPolicy::kUnsafe;
  if (name == "strip") return InjectionPolicy::kStrip;
  throw util::InputError(
      util::cat("unknown on_injection \"", name, "\"; expected report, unsafe or strip"));
}

std::string_view injection_policy_name(InjectionPolicy policy) {
  switch (policy) {
    case InjectionPolicy::kReport:
      return "report";
    case InjectionPolicy::kUnsafe:
      return "unsafe";
    case InjectionPolicy::kStrip:
      return "strip";
  }
  return "?";
}

nlohmann::json injection_to_json(const std::vector<InjectionFinding>& findings) {
  nlohmann::json out = nlohmann::json::array();
  for (const InjectionFinding& finding : findings) {
    out.push_back({{"where", finding.where}, {"markers", finding.markers}});
  }
  return out;
}

std::vector<InjectionFinding> injection_from_json(const nlohmann::json& value) {
  std::vector<InjectionFinding> findings;
  for (const nlohmann::json& entry : value) {
    findings.push_back({entry.at("where").get<std::string>(),
                        entry.at("markers").get<std::vector<std::string>>()});
  }
  return findings;
}

}  // namespace safrl::reward
