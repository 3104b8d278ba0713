// The guard's verdicts and the helpfulness model's scores kept across scoring passes, so that an
// input judged before is not judged again: a GRPO group under refusal collapse repeats "I can't
// help with that." step after step, and training datasets repeat their prompts every epoch.
//
// Keys are built by judgement_key(): the models hash of the config (reward/rescore.h: every
// setting that decides what a model outputs), which judge, and the conversation the model reads,
// each length-prefixed. The conversation, not its token ids, because the model's input ids are
// a function of it and of settings the models hash holds (the rendering, the tool turns, the
// score token), so equal keys mean equal inputs, and a key costs no second tokenization. The map
// compares whole keys: two inputs never share an entry by a hash collision.
//
// Values are kept as computed: a hit returns the result of the pass that computed it, which may
// differ in the last bits (within 1e-5, docs/engine.md) from what the current pass's batch would
// give. Bounded in bytes (approximate_bytes(): the key, the value and a fixed overhead per entry)
// and, for prompt verdicts, also in entries; past either bound the least recently used entry
// goes first. A bound of 0 bytes keeps nothing.
// Not thread-safe: owned by the Scorer, driven by its one thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "chat/message.h"
#include "reward/guard.h"

namespace safrl::reward {

// Who judged: the guard's response moderation (answers, thinking traces, earlier turns, tool
// results), the helpfulness model, or the guard's prompt moderation of the last user turn.
enum class Judge { kGuard = 0, kHelpfulness = 1, kPrompt = 2 };
inline constexpr size_t kJudges = 3;

// The key of `conversation` as `judge` reads it under the models hash `models`.
std::string judgement_key(std::string_view models, Judge judge,
                          const std::vector<chat::Message>& conversation);

// A guard output, or a helpfulness score.
using Judgement = std::variant<GuardOutput, double>;

// Bytes an entry of `key` holding `value` is counted as: kEntryOverhead for the map and list
// nodes and the fixed-size members, the key, and what a GuardOutput holds on the heap (its text
// twice, as output and verdict, its output ids, its categories, a Stream guard's per-position
// labels, about 60 bytes a response token).
size_t approximate_bytes(const std::string& key, const Judgement& value);
inline constexpr size_t kEntryOverhead = 256;

class JudgementCache {
 public:
  // max_bytes 0 keeps nothing; max_prompt_entries bounds the prompt verdicts kept.
  JudgementCache(size_t max_bytes, size_t max_prompt_entries);

  // The judgement kept for `key`, made the most recently used; nullptr when none.
  const Judgement* find(const std::string& key);
  // Keeps `value` for `key` (replacing an entry of the key), then evicts past the bounds. A
  // value larger than max_bytes on its own is not kept.
  void insert(const std::string& key, Judge judge, Judgement value);

  size_t bytes() const { return bytes_; }
  size_t entries() const { return map_.size(); }
  size_t max_bytes() const { return max_bytes_; }

 private:
  struct Entry {
    Judgement value;
    Judge judge = Judge::kGuard;
    size_t bytes = 0;
    uint64_t last_use = 0;
    std::list<const std::string*>::iterator position;  // in recency_[judge]
  };
  void touch(Entry& entry);  // makes it the most recently used
  void evict_oldest(Judge judge);
  // The judge whose least recently used entry is the oldest of all.
  Judge oldest_judge() const;

  size_t max_bytes_;
  size_t max_prompt_entries_;
  size_t bytes_ = 0;
  uint64_t clock_ = 0;
  std::unordered_map<std::string, Entry> map_;
  // Per judge, the keys (owned by map_) most recently used first: the global least recently used
  // entry is the back with the smallest last_use, and each judge's entry bound is kept alone.
  std::array<std::list<const std::string*>, kJudges> recency_;
};

}  // namespace safrl::reward
