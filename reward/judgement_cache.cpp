#include "reward/judgement_cache.h"

#include <algorithm>
#include <limits>

namespace safrl::reward {
namespace {

// A field of a message or tool call that the key does not hold would let two inputs that differ
// in it share a judgement: a new member must enter judgement_key before these pass again.
static_assert(sizeof(chat::ToolCall) == 2 * sizeof(std::string),
              "judgement_key must hold every field of chat::ToolCall");
static_assert(sizeof(chat::Message) ==
                  2 * sizeof(std::string) + sizeof(std::vector<chat::ToolCall>),
              "judgement_key must hold every field of chat::Message");

// Length-prefixed, so that no two different field sequences give the same bytes.
void append_field(std::string& key, std::string_view field) {
  const uint64_t size = field.size();
  key.append(reinterpret_cast<const char*>(&size), sizeof(size));
  key.append(field);
}

}  // namespace

std::string judgement_key(std::string_view models, Judge judge,
                          const std::vector<chat::Message>& conversation) {
  std::string key;
  append_field(key, models);
  key.push_back(static_cast<char>(judge));
  for (const chat::Message& message : conversation) {
    append_field(key, message.role);
    append_field(key, message.content);
    append_field(key, std::to_string(message.tool_calls.size()));
    for (const chat::ToolCall& call : message.tool_calls) {
      append_field(key, call.name);
      append_field(key, call.arguments);
    }
  }
  return key;
}

size_t approximate_bytes(const std::string& key, const Judgement& value) {
  size_t bytes = kEntryOverhead + key.size();
  if (const GuardOutput* output = std::get_if<GuardOutput>(&value)) {
    bytes += output->text.size() + output->output_ids.size() * sizeof(int32_t);
    if (output->verdict) {
      bytes += output->verdict->text.size();
      for (const std::string& category : output->verdict->categories) {
        bytes += sizeof(std::string) + category.size();
      }
    }
    if (output->token_safety) {
      // Per response position: its label, probabilities, category name (a static string's view)
      // and offsets.
      const TokenSafety& tokens = *output->token_safety;
      bytes += tokens.labels.size() * sizeof(Safety) +
               tokens.probs.size() * sizeof(std::array<double, 3>) +
               tokens.categories.size() * sizeof(std::string_view) +
               tokens.offsets.size() * sizeof(std::pair<int64_t, int64_t>);
    }
  }
  return bytes;
}

JudgementCache::JudgementCache(size_t max_bytes, size_t max_prompt_entries)
    : max_bytes_(max_bytes), max_prompt_entries_(max_prompt_entries) {}

void JudgementCache::touch(Entry& entry) {
  auto& list = recency_[static_cast<size_t>(entry.judge)];
  list.splice(list.begin(), list, entry.position);
  entry.last_use = ++clock_;
}

const Judgement* JudgementCache::find(const std::string& key) {
  const auto it = map_.find(key);
  if (it == map_.end()) return nullptr;
  touch(it->second);
  return &it->second.value;
}

void JudgementCache::evict_oldest(Judge judge) {
  auto& list = recency_[static_cast<size_t>(judge)];
  const auto it = map_.find(*list.back());
  bytes_ -= it->second.bytes;
  list.pop_back();
  map_.erase(it);
}

Judge JudgementCache::oldest_judge() const {
  Judge oldest = Judge::kGuard;
  uint64_t oldest_use = std::numeric_limits<uint64_t>::max();
  for (size_t j = 0; j < kJudges; ++j) {
    if (recency_[j].empty()) continue;
    const uint64_t use = map_.at(*recency_[j].back()).last_use;
    if (use < oldest_use) {
      oldest_use = use;
      oldest = static_cast<Judge>(j);
    }
  }
  return oldest;
}

void JudgementCache::insert(const std::string& key, Judge judge, Judgement value) {
  const size_t bytes = approximate_bytes(key, value);
  if (bytes > max_bytes_ || (judge == Judge::kPrompt && max_prompt_entries_ == 0)) return;
  auto [it, added] = map_.try_emplace(key);
  Entry& entry = it->second;
  if (added) {
    entry.judge = judge;
    auto& list = recency_[static_cast<size_t>(judge)];
    list.push_front(&it->first);
    entry.position = list.begin();
  } else {
    bytes_ -= entry.bytes;
  }
  entry.value = std::move(value);
  entry.bytes = bytes;
  bytes_ += bytes;
  touch(entry);
  auto& prompts = recency_[static_cast<size_t>(Judge::kPrompt)];
  while (prompts.size() > max_prompt_entries_) evict_oldest(Judge::kPrompt);
  while (bytes_ > max_bytes_) evict_oldest(oldest_judge());
}

}  // namespace safrl::reward
