// The bound on reply bytes handed to ZeroMQ and not yet written to a client's socket, per client
// (server.max_unsent_bytes_per_client) and in total (server.max_unsent_bytes). ZeroMQ bounds its
// send queues in messages only (1,000 per client), and a client that stops reading could hold a
// thousand 64 MiB replies. Messages made here carry a shared reply buffer without copying it, so a
// buffer queued many times (retries answered from the reply cache) is counted, and held, once;
// ZeroMQ gives its bytes back when it frees the last message of it.
// fits() and message() are for the I/O thread; ZeroMQ's threads release (under a lock).
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <zmq.hpp>

#include "serve/reply_cache.h"

namespace safrl::serve {

class SendBudget {
 public:
  SendBudget(size_t per_client, size_t total) : per_client_(per_client), total_limit_(total) {}

  // Whether `frame` may wait for `identity` besides what waits already (a buffer already waiting
  // for it costs nothing more). A frame over a bound fits once nothing waits under that bound, so
  // no reply is refused for good.
  bool fits(const std::string& identity, const Frame& frame) const;
  // A ZeroMQ message of `frame`'s bytes (shared, not copied), counted against `identity` until
  // ZeroMQ frees it.
  zmq::message_t message(const std::string& identity, const Frame& frame);
  // Bytes waiting for `identity`, and for everyone.
  size_t unsent(const std::string& identity) const;
  size_t unsent() const;
  // Forgets clients with nothing waiting.
  void forget_idle();

  size_t per_client_limit() const { return per_client_; }
  size_t total_limit() const { return total_limit_; }

  // The distinct buffers held for one client, or for all; shared with the messages in flight.
  class Ledger {
   public:
    void add(const Frame& frame);
    void remove(const std::string* frame);
    size_t bytes() const;
    bool holds(const std::string* frame) const;

   private:
    mutable std::mutex mutex_;
    std::unordered_map<const std::string*, size_t> messages_;  // buffer -> messages holding it
    size_t bytes_ = 0;
  };

 private:
  const size_t per_client_;
  const size_t total_limit_;
  std::shared_ptr<Ledger> total_ = std::make_shared<Ledger>();
  std::unordered_map<std::string, std::shared_ptr<Ledger>> clients_;
};

}  // namespace safrl::serve
