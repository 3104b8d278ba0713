// The front's HTTP side, on server.http_address:http_port: the same endpoints as the engine's
// (http_gateway.h), passed on to an engine's private port (round robin over the engines up), so
// OpenRLHF's /get_reward, /health probes and Prometheus keep one address while engines restart.
//   GET /health   answered here: 200 "ok" while every engine is up (200 "ok: N of M engines
//                 restarting" while some are), 503 "restarting" while none is (requests are held
//                 meanwhile), 503 "draining" once stopping
//   GET /metrics  the front's own counters, then the engines' (front_metrics.h; absent for an
//                 engine that is restarting)
//   anything else passed on; a request waits for an engine (the hold time) and is sent again to
//                 an engine up when the one it went to died before answering
// One thread accepts; each connection has a thread of its own, which owns its socket and its
// connection to the engine, reads requests with http_request.h (bounds checked as bytes arrive)
// and blocks only on its own client and on the engine. Connections are bounded by
// server.http_max_connections (one more is answered 503) and clients outside
// server.http_allowed_clients get 403.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "serve/front_engine.h"
#include "serve/front_zmq.h"

namespace safrl::serve {

struct HttpFrontOptions {
  std::string address = "127.0.0.1";
  int port = 0;  // 0: a free port (port() says which)
  std::vector<std::string> allowed_clients;
  std::vector<std::string> engine_urls;  // http://127.0.0.1:PORT of each engine
  size_t max_connections = 256;
  size_t max_body_bytes = 64 << 20;
  std::chrono::seconds read_timeout{10};
  std::chrono::seconds idle_timeout{60};
  std::chrono::seconds hold{600};
};

class HttpFront {
 public:
  // Binds the port (throws util::LoadError when it cannot) and starts accepting.
  // engines[i] is the state of the engine at engine_urls[i]; they outlive the front.
  HttpFront(HttpFrontOptions options, std::vector<const EngineState*> engines,
            FrontCounters& counters);
  // Stops accepting and waits for each connection to finish the request it is serving.
  ~HttpFront();
  HttpFront(const HttpFront&) = delete;
  HttpFront& operator=(const HttpFront&) = delete;

  int port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace safrl::serve
