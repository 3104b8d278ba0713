// The HTTP side of the server, on server.http_address:http_port (loopback by default; only the
// server.http_allowed_clients when listed):
//   GET  /metrics     Prometheus text of the server's counters
//   GET  /health      200 "ok" (200 "degraded: ..." while step rows wait for the disk), or 503
//                     "draining" once the server is stopping
//   POST /get_reward  OpenRLHF's remote reward model (serve/openrlhf.h); other methods get 405
// One thread runs the gateway, in three parts: the transport (http_transport.h: the listening
// socket and connections, polled, their bounds and deadlines), the routing here (GET /metrics and
// /health answered at once, 404 and 405, probe slots held to /health and /metrics, 503 while the
// server stops), and the /get_reward route (openrlhf_route.h: bodies decoded on another thread,
// scored in parts as jobs on the same queue as ZeroMQ requests, answered whole). Once the server
// stops, idle and half-sent requests are closed, new ones answered 503, and the replies of work in
// flight written; the destructor gives them two seconds (HttpDeadlines::close_grace).
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
