#include "serve/reply_cache.h"

#include <functional>

namespace safrl::serve {

uint64_t request_digest(std::string_view frame) {
  return std::hash<std::string_view>{}(frame);
}

ReplyCache::Lookup ReplyCache::find(const std::string& id, uint64_t digest) const {
  auto it = entries_.find(id);
  if (it == entries_.end()) return {State::kUnknown, nullptr};
  if (it->second.digest != digest) return {State::kOtherBody, nullptr};
  if (it->second.reply) return {State::kCompleted, it->second.reply};
  return {State::kInFlight, nullptr};
}

void ReplyCache::wait(const std::string& id, uint64_t digest, Peer peer) {
  Entry& entry = entries_[id];
  entry.digest = digest;
  // A client that retries while its request runs is answered once, not once per retry.
  for (const Peer& waiting : entry.waiting) {
    if (waiting.identity == peer.identity) return;
  }
  entry.waiting.push_back(std::move(peer));
}

std::vector<Peer> ReplyCache::complete(const std::string& id, const Frame& frame, bool keep) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return {};
  std::vector<Peer> waiting = std::move(it->second.waiting);
  // A reply larger than the whole cache is sent and forgotten: a retry computes it again.
  if (!keep || frame->size() > max_bytes_) {
    entries_.erase(it);
    return waiting;
  }
  // Erasing other entries leaves `it` valid.
  while (!completed_order_.empty() && bytes_ + frame->size() > max_bytes_) drop_oldest();
  it->second.waiting.clear();
  it->second.reply = frame;
  it->second.completed_at = Clock::now();
  bytes_ += frame->size();
  completed_order_.emplace_back(it->second.completed_at, id);
  return waiting;
}

void ReplyCache::drop_oldest() {
  auto it = entries_.find(completed_order_.front().second);
  // An id forgotten and completed again later has a newer time.
  if (it != entries_.end() && it->second.reply &&
      it->second.completed_at == completed_order_.front().first) {
    bytes_ -= it->second.reply->size();
    entries_.erase(it);
  }
  completed_order_.pop_front();
}

void ReplyCache::expire(Clock::time_point now) {
  while (!completed_order_.empty() && now - completed_order_.front().first > keep_for_) {
    drop_oldest();
  }
}

}  // namespace safrl::serve
