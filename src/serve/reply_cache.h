// What the ZeroMQ I/O thread knows of each request id, so a retried id is computed once: the
// clients waiting for a request in flight, and the reply of a completed one, kept for
// server.reply_cache_seconds. Used by the I/O thread only (not thread-safe).
#pragma once

#include <chrono>
#include <deque>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "serve/job.h"

namespace safrl::serve {

// A client's address on the ROUTER: its identity frame, and the empty delimiter frame when it
// sent one (REQ sockets), which the reply must carry back.
struct Peer {
  std::string identity;
  bool delimiter = false;
};

class ReplyCache {
 public:
  explicit ReplyCache(std::chrono::seconds keep_for) : keep_for_(keep_for) {}

  // The kept reply frame of a completed id, or nullptr.
  const std::string* completed(const std::string& id) const;
  // True while `id` is being computed.
  bool in_flight(const std::string& id) const;
  // Adds a client to answer when `id` completes (starting it when new).
  void wait(const std::string& id, Peer peer);
  // Completes `id`: returns the clients to answer; keeps `frame` for retries when `keep`.
  std::vector<Peer> complete(const std::string& id, const std::string& frame, bool keep);
  // Forgets replies kept longer than keep_for.
  void expire(Clock::time_point now);

 private:
  struct Entry {
    std::vector<Peer> waiting;
    std::string reply;  // set once completed
    bool done = false;
    Clock::time_point completed_at{};
  };

  std::chrono::seconds keep_for_;
  std::unordered_map<std::string, Entry> entries_;
  std::deque<std::pair<Clock::time_point, std::string>> completed_order_;
};

}  // namespace safrl::serve
