// The reward server: `safrl serve`.
//
// Threads (each socket has exactly one owner; threads talk through the job queue and an outbox
// of typed replies, never by sharing a socket), each part in its own file:
//   I/O thread (run())  owns the ROUTER: receives, decodes and validates requests, answers ping,
//                       info and stats itself, asks admission (admission.h: busy beyond the
//                       bound), keeps the request-id cache (reply_cache.h: retries are answered
//                       once), queues score jobs (job.h), and sends the replies the engine thread
//                       posts to its outbox (woken through an inproc pair).
//   engine thread       scoring_worker.h: owns the models, takes queued jobs across requests (up
//                       to max_batch_samples), drops those whose deadline passed, scores them in
//                       one pass (packed batches under the token budget, shared group prefixes),
//                       adds the outcomes to the step logs and hands the replies back.
//   HTTP thread         http_gateway.h, optional: owns the HTTP listening socket and connections
//                       (one poll loop; requests read by http_request.h), answers GET /metrics and
//                       GET /health, queues POST /get_reward (OpenRLHF) bodies as jobs like the I/O
//                       thread, and writes the replies the engine thread posts to its eventfd.
//   ZAP thread          zap.h, with CURVE only: admits the configured client keys.
// request_stop() (safe in a signal handler) makes run() stop accepting score requests, finish
// the work in flight, flush the step logs and return 0.
#pragma once

#include <memory>
#include <string>

#include "reward/config.h"
#include "serve/serve_config.h"

namespace safrl::serve {

struct ServeOptions {
  reward::Config reward;
  ServerConfig server;
  std::string run_dir = "safrl-run";  // steps.jsonl, steps.csv
};

class Server {
 public:
  // Loads the models, opens the run directory and binds the sockets; throws util::LoadError
  // (or util::Error for a socket that cannot be bound) with what to fix.
  explicit Server(const ServeOptions& options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The endpoint actually bound (a tcp://...:* endpoint resolved to its port).
  std::string endpoint() const;
  // Serves until request_stop(); returns the process exit code.
  int run();

  static void request_stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace safrl::serve
