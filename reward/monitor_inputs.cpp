#include "reward/monitor_inputs.h"

#include <functional>
#include <map>
#include <set>

namespace safrl::reward {
namespace {

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

}  // namespace

void add_monitor_inputs(const Sample& sample, const ScoredSample& scored, SampleOutcome& outcome) {
  // A response cut off in its thinking has an empty answer and the lowest reward: as a point at
  // (0 tokens, lowest reward) it would make length look rewarded. truncated_thinking_rate counts
  // it instead, as the duplicate marks leave it out.
  if (!sample.truncated_thinking) outcome.answer_tokens = scored.answer_tokens;
  outcome.verdict_text = !scored.injection.empty();
  outcome.safety_mass = scored.answer_report.safety_mass;
  outcome.fallback = scored.answer_report.decoded_by == DecodedBy::kFallback;
  outcome.truncated_thinking = sample.truncated_thinking;
}

std::string fold_answer(std::string_view answer) {
  std::string folded;
  folded.reserve(answer.size());
  bool space = false;
  for (char c : answer) {
    if (is_ascii_space(c)) {
      space = true;
      continue;
    }
    if (space && !folded.empty()) folded += ' ';
    space = false;
    folded += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return folded;
}

std::vector<DuplicateMark> mark_duplicates(const std::vector<const Sample*>& group) {
  std::vector<DuplicateMark> marks(group.size());
  std::set<std::string_view> seen;
  std::set<std::string> seen_folded;
  for (size_t i = 0; i < group.size(); ++i) {
    if (group[i]->truncated_thinking) continue;
    const std::string& answer = group[i]->answer;
    marks[i].exact = !seen.insert(answer).second;
    marks[i].folded = !seen_folded.insert(fold_answer(answer)).second;
  }
  return marks;
}

std::vector<DuplicateMark> mark_duplicates_by_group(const std::vector<const Sample*>& samples) {
  // Groups in order of first appearance, found through a hash of the step and the last message
  // and then compared whole.
  std::vector<std::vector<size_t>> groups;
  std::multimap<size_t, size_t> group_of_hash;
  for (size_t i = 0; i < samples.size(); ++i) {
    const Sample& sample = *samples[i];
    const size_t hash =
        std::hash<std::string>()(sample.messages.empty() ? std::string()
                                                         : sample.messages.back().content) ^
        std::hash<int64_t>()(sample.step.value_or(-1));
    size_t found = groups.size();
    for (auto [it, end] = group_of_hash.equal_range(hash); it != end; ++it) {
      const Sample& first = *samples[groups[it->second].front()];
      if (first.step == sample.step && first.messages == sample.messages) {
        found = it->second;
        break;
      }
    }
    if (found == groups.size()) {
      group_of_hash.emplace(hash, groups.size());
      groups.emplace_back();
    }
    groups[found].push_back(i);
  }
  std::vector<DuplicateMark> marks(samples.size());
  for (const std::vector<size_t>& group : groups) {
    std::vector<const Sample*> members;
    for (size_t i : group) members.push_back(samples[i]);
    const std::vector<DuplicateMark> group_marks = mark_duplicates(members);
    for (size_t k = 0; k < group.size(); ++k) marks[group[k]] = group_marks[k];
  }
  return marks;
}

}  // namespace safrl::reward
