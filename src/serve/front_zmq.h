// The front's ZeroMQ side: the public ROUTER clients talk to, and towards each engine one DEALER
// per client (so an engine's replies come back on that client's own socket, whatever its routing
// id). One thread owns all of these sockets in one poll loop. With several engines (replicas on
// one node), a request goes to the engine its prompt (its first group's, else its first
// sample's) hashes to, so a GRPO group's requests are batched together and share the prompt's
// prefix; while that engine restarts, to the next one up.
//
// Every request that carries an id is kept (a copy of its frames, bounded in bytes together) until
// its reply has been passed on: while no engine is up it is held, with the deadline the client
// gave or the front's hold time, and sent once one is; when an engine dies with it in flight (its
// generation changes, front_engine.h), it is sent again, to that engine's successor or another
// engine up. A reply whose request is no longer kept (answered already, or its client gone) is
// dropped, so no client gets one twice. The same request repeated under its id while kept is not
// sent again (its one reply answers it); another body under that id is answered bad_request.
// Frames without an id (too broken to have one) go to an engine as they are, for its typed error.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "serve/front_engine.h"

namespace safrl::serve {

struct FrontCounters {
  std::atomic<int64_t> requests{0};         // requests kept (ZeroMQ and HTTP)
  std::atomic<int64_t> resent{0};           // sent again after an engine died with them
  std::atomic<int64_t> held{0};             // waiting for an engine now (gauge)
  std::atomic<int64_t> dropped_replies{0};  // replies to no kept request
  std::atomic<int64_t> refused{0};          // busy (bytes), expired or shutting_down answers
};

struct ZmqFrontOptions {
  std::string endpoint;                       // public, bound
  std::vector<std::string> engine_endpoints;  // private, connected; one per engine
  // server.max_message_bytes: frames far over it are refused inside ZeroMQ, as the engine does.
  int64_t max_message_bytes = int64_t{64} << 20;
  size_t max_pending_bytes = size_t{1} << 30;
  std::chrono::seconds hold{600};
  std::chrono::seconds client_idle{300};  // a client's DEALER closed after this long unused
};

class ZmqFront {
 public:
  // Binds the public endpoint (throws util::LoadError when it cannot) and starts the thread.
  // engines[i] is the state of the engine at engine_endpoints[i]; they outlive the front.
  ZmqFront(ZmqFrontOptions options, std::vector<const EngineState*> engines,
           FrontCounters& counters);
  // Waits for the thread: it ends once every engine finished and the last replies are passed on.
  ~ZmqFront();
  ZmqFront(const ZmqFront&) = delete;
  ZmqFront& operator=(const ZmqFront&) = delete;

  std::string endpoint() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace safrl::serve
