// The unit of work between the threads that take requests (the ZeroMQ I/O thread, the HTTP
// gateway) and the engine thread: a validated request, when it arrived, its deadline, and where
// its reply goes. Replies travel typed (a body, or an ErrorReply), so no thread decodes a reply
// another thread encoded: the thread that sends it makes its msgpack or HTTP response.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve/error_reply.h"
#include "serve/protocol.h"

namespace safrl::serve {

using Clock = std::chrono::steady_clock;

// A job's answer: a successful reply's body, or the refusal it gets instead.
struct Reply {
  Reply() = default;
  explicit Reply(nlohmann::json success) : body(std::move(success)) {}
  // Implicit: wherever a reply is due, a refusal may be given.
  Reply(ErrorReply refusal) : error(std::move(refusal)) {}

  nlohmann::json body;              // unset when `error` is
  std::optional<ErrorReply> error;  // nullopt: a successful reply
};

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
