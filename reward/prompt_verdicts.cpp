#include "reward/prompt_verdicts.h"

namespace safrl::reward {

namespace {

// The ids as bytes: std::hash of the string, then a full comparison on lookup.
std::string key_of(const std::vector<int32_t>& ids) {
  return std::string(reinterpret_cast<const char*>(ids.data()), ids.size() * sizeof(int32_t));
}

}  // namespace

PromptVerdicts::PromptVerdicts(size_t capacity) : capacity_(capacity) {}

const GuardOutput* PromptVerdicts::find(const std::vector<int32_t>& ids) {
  const auto it = index_.find(key_of(ids));
  if (it == index_.end()) {
    ++misses_;
    return nullptr;
  }
  ++hits_;
  entries_.splice(entries_.begin(), entries_, it->second);
  return &it->second->second;
}

void PromptVerdicts::insert(const std::vector<int32_t>& ids, const GuardOutput& output) {
  if (capacity_ == 0) return;
  std::string key = key_of(ids);
  const auto it = index_.find(key);
  if (it != index_.end()) {
    it->second->second = output;
    entries_.splice(entries_.begin(), entries_, it->second);
    return;
  }
  entries_.emplace_front(key, output);
  index_.emplace(std::move(key), entries_.begin());
  if (entries_.size() > capacity_) {
    index_.erase(entries_.back().first);
    entries_.pop_back();
  }
}

PromptVerdictCounters PromptVerdicts::counters() const {
  return {hits_, misses_, static_cast<int64_t>(entries_.size())};
}

}  // namespace safrl::reward
