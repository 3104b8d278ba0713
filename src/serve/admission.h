// Admission: the bound on samples queued or running (server.max_queued_samples) and on the bytes
// of the request frames that hold them (server.max_queued_bytes: a sample may be a 64 MiB
// prompt). Every request thread asks here before queueing a job, and the engine thread releases a
// job's samples and bytes when it is answered. Refusals are ErrorReply values (error_reply.h;
// decisions compare error codes, never message text):
//   shutting_down  after stop(): retry on another endpoint or later
//   bad_request    one request holds more samples than the bound: split it
//   busy           a bound is reached: retry later with the same id; retry_after_ms is when
//                  room for the request should be free at the engine's measured rate
//                  (Metrics::scoring_rate), 50 ms to 30 s. A request over the byte bound alone
//                  is admitted when nothing else is queued, so the bound never refuses for good.
// Fairness: the first request refused busy (named by its waiter, the id its retries carry) gets
// its room kept free. Until it comes back and is admitted, others are admitted only into what
// is left beside it, so a large request is not starved by a stream of small ones. The
// reservation lapses when its waiter has not asked again within twice its retry hint plus the
// grace (a client that gave up).
// The queued-sample gauge and the busy counter of Metrics are kept here. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "serve/error_reply.h"
#include "serve/job.h"
#include "serve/metrics.h"

namespace safrl::serve {

// The refusal of work that arrives while the server stops.
ErrorReply shutting_down();

class Admission {
 public:
  using Clock = std::chrono::steady_clock;
  Admission(int64_t max_samples, int64_t max_bytes, Metrics& metrics,
            std::chrono::milliseconds reservation_grace = std::chrono::seconds(2),
            std::function<Clock::time_point()> now = Clock::now);

  // Admits `samples` or says why not. `waiter` names the request across its retries (its id);
  // an empty waiter never holds a reservation. A caller that will ask again instead of
  // answering busy (the HTTP gateway, for clients that cannot retry well) passes
  // count_busy = false. `bytes`: the request's size as received (0 where the caller bounds bytes
  // itself, as HTTP does).
  std::optional<ErrorReply> try_admit(int64_t samples, const std::string& waiter,
                                      bool count_busy = true, int64_t bytes = 0);
  // Gives back the samples of an answered job ...
  void release(int64_t samples);
  // ... and its bytes, once its request is no longer needed (when its reply is made).
  void release_bytes(int64_t bytes);
  // Refuses everything from now on (shutting_down).
  void stop();
  bool stopped() const;
  // Jobs admitted and not yet released.
  int64_t jobs() const;

 private:
  struct Reservation {
    std::string waiter;
    int64_t samples;
    Clock::time_point lapses;
  };

  std::optional<ErrorReply> decide(int64_t samples, int64_t bytes,
                                   const std::string& waiter);  // mutex_ held
  int64_t retry_after_ms(int64_t samples_to_drain) const;       // mutex_ held

  const int64_t max_samples_;
  const int64_t max_bytes_;
  Metrics& metrics_;
  const std::chrono::milliseconds reservation_grace_;
  const std::function<Clock::time_point()> now_;
  std::optional<Reservation> reserved_;
  mutable std::mutex mutex_;
  int64_t samples_ = 0;
  int64_t bytes_ = 0;
  int64_t jobs_ = 0;
  bool stopped_ = false;
};

}  // namespace safrl::serve
