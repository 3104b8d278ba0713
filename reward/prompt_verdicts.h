// The prompt verdicts of the guard, kept for the life of the scorer (the server's): training
// datasets repeat their prompts every epoch, and a GRPO group's members share one prompt, so the
// prompt moderation of one conversation is computed once.
//
// Keyed by the guard's token ids of the prompt-moderation input (hashed, then compared in full,
// so two prompts never share a verdict by a hash collision). At most `capacity` entries; the
// least recently used one goes first. Memory: about 4 bytes per token of each kept input plus
// its output. Counters: hits (verdicts answered from the cache), misses (verdicts the guard had
// to compute), entries (held now); the scorer looks a prompt repeated within one call up once.
// Not thread-safe: owned by the Scorer, driven by its one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "reward/guard.h"

namespace safrl::reward {

struct PromptVerdictCounters {
  int64_t hits = 0;
  int64_t misses = 0;
  int64_t entries = 0;
};

class PromptVerdicts {
 public:
  // capacity 0 keeps nothing (every lookup misses).
  explicit PromptVerdicts(size_t capacity);

  // The verdict kept for `ids`, made the most recently used; nullptr when none. Counts a hit or
  // a miss.
  const GuardOutput* find(const std::vector<int32_t>& ids);
  // Keeps `output` for `ids`, evicting the least recently used entry past the capacity.
  void insert(const std::vector<int32_t>& ids, const GuardOutput& output);

  PromptVerdictCounters counters() const;
  size_t capacity() const { return capacity_; }

 private:
  using Entry = std::pair<std::string, GuardOutput>;  // the ids' bytes, the verdict
  size_t capacity_;
  std::list<Entry> entries_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  int64_t hits_ = 0;
  int64_t misses_ = 0;
};

}  // namespace safrl::reward
