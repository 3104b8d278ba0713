// Feeds arbitrary bytes to the guard verdict parser, as guard output of both tasks and as a verdict
// JSON line (what `safrl score` output is re-read with). Checks, beyond not crashing:
//   - parse_verdict agrees with the official regexes (docs/reward.md), run here with std::regex
//     on inputs up to kRegexMaxBytes: the safety and refusal of the first match, the categories of
//     every non-overlapping match in text order, "None" dropped;
//   - a parsed verdict survives verdict_to_json -> verdict_from_json;
//   - verdict_from_json either reads the JSON or throws InputError.
// A crash, sanitizer report, disagreement or other exception is a bug.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "reward/verdict.h"
#include "util/error.h"

namespace {

using safrl::reward::GuardTask;
using safrl::reward::Verdict;

// std::regex is slow and recursive; the differential check stays on short inputs.
constexpr size_t kRegexMaxBytes = 512;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "verdict_fuzz: %s\n", what);
  std::abort();
}

template <typename Names>
std::string alternation(const Names& names) {
  std::string out = "(";
  for (const std::string_view name : names) out += std::string(name) + "|";
  return out + "None)";
}

// The official parser, as the Qwen3Guard code writes it with Python's re module.
std::optional<Verdict> reference_parse(const std::string& text, GuardTask task) {
  static const std::regex kSafety("Safety: (Safe|Unsafe|Controversial)");
  static const std::regex kRefusal("Refusal: (Yes|No)");
  static const std::regex kPromptCategories(alternation(safrl::reward::kPromptCategories));
  static const std::regex kResponseCategories(alternation(safrl::reward::kResponseCategories));
  std::smatch match;
  if (!std::regex_search(text, match, kSafety)) return std::nullopt;
  Verdict verdict;
  verdict.safety = safrl::reward::parse_safety(match[1].str());
  if (task == GuardTask::kResponse) {
    if (!std::regex_search(text, match, kRefusal)) return std::nullopt;
    verdict.refusal = match[1].str() == "Yes";
  }
  const std::regex& categories =
      task == GuardTask::kResponse ? kResponseCategories : kPromptCategories;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), categories);
       it != std::sregex_iterator(); ++it) {
    if ((*it)[1].str() != "None") verdict.categories.push_back((*it)[1].str());
  }
  verdict.text = text;
  return verdict;
}

bool same(const Verdict& a, const Verdict& b) {
  return a.safety == b.safety && a.categories == b.categories && a.refusal == b.refusal &&
         a.text == b.text;
}

void check_text(const std::string& text, GuardTask task) {
  const std::optional<Verdict> verdict = safrl::reward::parse_verdict(text, task);
  if (verdict) {
    if (verdict->text != text) fail("the verdict does not keep the text");
    if ((task == GuardTask::kResponse) != verdict->refusal.has_value())
      fail("refusal is set for the wrong task");
    for (const std::string& category : verdict->categories) {
      const bool known = task == GuardTask::kResponse
                             ? safrl::reward::is_response_category(category)
                             : safrl::reward::is_prompt_category(category);
      if (!known) fail("a category outside the task's list");
    }
    Verdict again = safrl::reward::verdict_from_json(safrl::reward::verdict_to_json(*verdict));
    again.text = verdict->text;
    if (!same(*verdict, again)) fail("verdict_to_json -> verdict_from_json changed the verdict");
  }
  if (text.size() <= kRegexMaxBytes) {
    const std::optional<Verdict> expected = reference_parse(text, task);
    if (verdict.has_value() != expected.has_value() || (verdict && !same(*verdict, *expected)))
      fail("parse_verdict disagrees with the official regexes");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  check_text(text, GuardTask::kPrompt);
  check_text(text, GuardTask::kResponse);

  const nlohmann::json value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return 0;
  try {
    const Verdict verdict = safrl::reward::verdict_from_json(value);
    // Whatever was read writes back and reads again to the same verdict.
    Verdict again = safrl::reward::verdict_from_json(safrl::reward::verdict_to_json(verdict));
    again.text = verdict.text;
    if (!same(verdict, again)) fail("a re-read verdict changed on a second round trip");
  } catch (const safrl::util::InputError&) {
  }
  return 0;
}
