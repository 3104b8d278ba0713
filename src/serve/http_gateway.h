// The HTTP side of the server, on server.http_address:http_port (loopback by default; only the
// server.http_allowed_clients when listed):
//   GET  /metrics     Prometheus text of the server's counters
//   GET  /health      200 "ok" (200 "degraded: ..." while step rows wait for the disk), or 503
//                     "draining" once the server is stopping
//   POST /get_reward  OpenRLHF's remote reward model (serve/openrlhf.h); other methods get 405
// One thread owns the listening socket and every connection, none of which it ever blocks on: it
// polls them with the engine's replies (an eventfd), reads requests incrementally
// (http_request.h: bounds checked while the bytes arrive), answers /metrics and /health itself, and
// has a /get_reward body decoded on another thread (http_body_decoder.h: JSON depth and value
// bounds) so its parsing time never delays them, then turns its samples into jobs on the same
// queue as ZeroMQ requests, so both meet in the same engine batches. A slow or idle client holds
// one connection slot and the bytes it sent, for a bounded time: a request's head must arrive
// within server.http_read_timeout_seconds, its body without longer pauses and at 16 KiB/s on
// average; a kept-alive connection is closed after server.http_idle_timeout_seconds; past
// server.http_max_connections a new connection takes one of a few probe slots that serve /health
// and /metrics only (an idle one yields to a newer), or is answered 503 when those are taken;
// clients outside server.http_allowed_clients get 403 at accept without taking a slot. Body bytes
// received or being scored are bounded together (four times server.max_message_bytes; past that,
// 503 busy). A client that hangs up while scored frees its slot at once. A body over the admission
// bound is scored in parts, at most two queued at a time so small requests are not stuck behind it,
// and answered whole; OpenRLHF cannot retry a busy answer well, so a part waits for admission (up
// to two minutes) instead. Once the server stops, idle and half-sent requests are closed, new ones
// answered 503, and the replies of work in flight written; the destructor gives them two seconds.
// Every error is a JSON body {"error": {code, message}}.
#pragma once

#include <functional>
#include <memory>

#include "serve/admission.h"
#include "serve/job.h"
#include "serve/metrics.h"
#include "serve/serve_config.h"

namespace safrl::serve {

class HttpGateway {
 public:
  // Binds the port (throws util::LoadError when it cannot) and starts serving; `submit` queues
  // an admitted job and returns false when the queue no longer takes jobs.
  HttpGateway(const ServerConfig& config, Metrics& metrics, Admission& admission,
              std::function<bool(Job&)> submit);
  // Closes the connections (replies being written get two seconds) and joins the thread.
  ~HttpGateway();
  HttpGateway(const HttpGateway&) = delete;
  HttpGateway& operator=(const HttpGateway&) = delete;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace safrl::serve
