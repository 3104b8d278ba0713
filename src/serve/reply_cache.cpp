#include "serve/reply_cache.h"

namespace safrl::serve {

const std::string* ReplyCache::completed(const std::string& id) const {
  auto it = entries_.find(id);
  return it != entries_.end() && it->second.done ? &it->second.reply : nullptr;
}

bool ReplyCache::in_flight(const std::string& id) const {
  auto it = entries_.find(id);
  return it != entries_.end() && !it->second.done;
}

void ReplyCache::wait(const std::string& id, Peer peer) {
  entries_[id].waiting.push_back(std::move(peer));
}

std::vector<Peer> ReplyCache::complete(const std::string& id, const std::string& frame, bool keep) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return {};
  std::vector<Peer> waiting = std::move(it->second.waiting);
  if (!keep) {
    entries_.erase(it);
    return waiting;
  }
  it->second.waiting.clear();
  it->second.reply = frame;
  it->second.done = true;
  it->second.completed_at = Clock::now();
  completed_order_.emplace_back(it->second.completed_at, id);
  return waiting;
}

void ReplyCache::expire(Clock::time_point now) {
  while (!completed_order_.empty() && now - completed_order_.front().first > keep_for_) {
    auto it = entries_.find(completed_order_.front().second);
    // An id completed again later (a refused attempt, then a kept one) has a newer time.
    if (it != entries_.end() && it->second.done &&
        it->second.completed_at == completed_order_.front().first) {
      entries_.erase(it);
    }
    completed_order_.pop_front();
  }
}

}  // namespace safrl::serve
