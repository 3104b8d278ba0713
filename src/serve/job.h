// The unit of work between the threads that take requests (the ZeroMQ I/O thread, the HTTP
// gateway) and the engine thread: a validated request, when it arrived, its deadline, and where
// its reply goes. Replies travel typed (the body and its error code, if any), so no thread decodes
// a reply another thread encoded.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve/protocol.h"

namespace safrl::serve {

using Clock = std::chrono::steady_clock;

struct Reply {
  nlohmann::json body;
  std::optional<ErrorCode> error;  // nullopt: a successful reply
};

// An error reply (docs/protocol.md), typed.
Reply error(const std::string& id, ErrorCode code, const std::string& message,
            std::optional<int64_t> retry_after_ms = std::nullopt);

struct Job {
  Request request;
  Clock::time_point arrival;
  std::optional<Clock::time_point> deadline;
  // Runs on the engine thread exactly once.
  std::function<void(Reply reply)> done;

  // Samples the job holds against the admission bound (a deep health check counts as one).
  int64_t admitted_samples() const;
};

// FIFO between the request threads and the engine thread. Thread-safe.
class JobQueue {
 public:
  // Queues `job`; false (the job left untouched) once closed.
  bool push(Job& job);
  // Jobs from the front until `max_samples` samples are taken (at least one job); blocks while
  // empty; empty once closed and drained. Close refuses new jobs; those queued are still taken.
  std::vector<Job> take(int64_t max_samples);
  void close();

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Job> jobs_;
  bool closed_ = false;
};

}  // namespace safrl::serve
