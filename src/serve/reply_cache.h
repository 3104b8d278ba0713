// What the ZeroMQ I/O thread knows of each request id, so a retried id is computed once: the
// clients waiting for a request in flight, and the reply of a completed one, kept for
// server.reply_cache_seconds within server.reply_cache_bytes. Each id is held with a digest of the
// request frame it came with, so a different request under a known id is told apart from a retry.
// Replies are shared, immutable buffers: every retry answered from the cache sends the same bytes
// (send_budget.h), never a copy. Used by the I/O thread only (not thread-safe).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "serve/job.h"

namespace safrl::serve {

// An encoded reply, shared by the cache and every send of it.
using Frame = std::shared_ptr<const std::string>;

// A client's address on the ROUTER: its identity frame, and the empty delimiter frame when it
// sent one (REQ sockets), which the reply must carry back.
struct Peer {
  std::string identity;
  bool delimiter = false;
};

// The digest a request is told apart by. libstdc++'s 64-bit MurmurHash2 of the frame: a few GB/s
// on the I/O thread where a portable SHA-256 takes tenths of a second for a 64 MiB frame; ids are
// already unique per client (UUIDs), so the digest only has to tell two bodies under one id apart,
// and two different bodies collide with probability 2^-64. It is no defence against a client that
// wants a stranger's result: that needs the stranger's id and body, and CURVE keeps strangers out.
uint64_t request_digest(std::string_view frame);

class ReplyCache {
 public:
  ReplyCache(std::chrono::seconds keep_for, size_t max_bytes)
      : keep_for_(keep_for), max_bytes_(max_bytes) {}

  enum class State {
    kUnknown,    // a new id: compute it
    kInFlight,   // being computed for the same request: wait() for it
    kCompleted,  // its reply is kept: send it
    kOtherBody,  // known with a different request: the client reused an id
  };
  struct Lookup {
    State state;
    Frame reply;  // set when kCompleted
  };
  Lookup find(const std::string& id, uint64_t digest) const;
  // Adds a client to answer when `id` completes (starting it when new).
  void wait(const std::string& id, uint64_t digest, Peer peer);
  // Completes `id`: returns the clients to answer. Keeps `frame` for retries when `keep` and it
  // fits in max_bytes, forgetting the oldest kept replies to make room.
  std::vector<Peer> complete(const std::string& id, const Frame& frame, bool keep);
  // Forgets replies kept longer than keep_for.
  void expire(Clock::time_point now);
  // Bytes of the replies kept.
  size_t bytes() const { return bytes_; }
  size_t max_bytes() const { return max_bytes_; }

 private:
  struct Entry {
    uint64_t digest = 0;
    std::vector<Peer> waiting;
    Frame reply;  // set once completed
    Clock::time_point completed_at{};
  };
  // Forgets the oldest kept reply (if its id was not completed again since).
  void drop_oldest();

  std::chrono::seconds keep_for_;
  size_t max_bytes_;
  size_t bytes_ = 0;
  std::unordered_map<std::string, Entry> entries_;
  std::deque<std::pair<Clock::time_point, std::string>> completed_order_;
};

}  // namespace safrl::serve
