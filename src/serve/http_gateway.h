// The HTTP side of the server, on server.http_address:http_port (loopback by default; only the
// server.http_allowed_clients when listed), with cpp-httplib's worker threads:
//   GET  /metrics     Prometheus text of the server's counters
//   GET  /health      200 "ok", or 503 "draining" once the server is stopping
//   POST /get_reward  OpenRLHF's remote reward model (serve/openrlhf.h); other methods get 405
// A /get_reward request becomes jobs on the same queue as ZeroMQ requests, so both meet in the
// same engine batches; a body over the admission bound becomes several, answered as one.
// OpenRLHF cannot retry a busy answer well, so the gateway waits for admission (up to two
// minutes) instead of answering busy while the work can still be done. Every error is a JSON
// body {"error": {code, message}}.
#pragma once

#include <functional>
#include <memory>
#include <thread>

#include "serve/admission.h"
#include "serve/job.h"
#include "serve/metrics.h"
#include "serve/serve_config.h"

namespace httplib {
class Server;
}

namespace safrl::serve {

class HttpGateway {
 public:
  // Binds the port (throws util::LoadError when it cannot) and starts serving; `submit` queues
  // an admitted job and returns false when the queue no longer takes jobs.
  HttpGateway(const ServerConfig& config, Metrics& metrics, Admission& admission,
              std::function<bool(Job&)> submit);
  // Stops serving and joins the threads.
  ~HttpGateway();
  HttpGateway(const HttpGateway&) = delete;
  HttpGateway& operator=(const HttpGateway&) = delete;

 private:
  void get_reward(const std::string& body, int* status, std::string* reply,
                  std::optional<int64_t>* retry_after_ms);

  const ServerConfig& config_;
  Metrics& metrics_;
  Admission& admission_;
  std::function<bool(Job&)> submit_;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
};

}  // namespace safrl::serve
