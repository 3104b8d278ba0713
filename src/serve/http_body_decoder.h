// Decodes POST /get_reward bodies on a thread of its own, so that the HTTP thread, which answers
// /health and /metrics and every other connection, never spends a body's parsing time: a body of
// up to server.max_message_bytes is parsed under JSON bounds (bounded_json.h) and turned into
// samples (openrlhf.h) here, one body at a time, in arrival order. Results go to `done`, called
// on the decoder's thread. The bodies waiting are bounded by the gateway's bound on bytes held.
//
// Thread-safe: submit() from any thread; the destructor joins, dropping bodies not yet decoded.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "reward/sample.h"
#include "serve/bounded_json.h"
#include "serve/protocol.h"

namespace safrl::serve {

class HttpBodyDecoder {
 public:
  struct Result {
    uint64_t connection = 0;
    uint64_t request = 0;  // the connection's request serial
    std::vector<reward::Sample> samples;
    std::optional<ProtocolError> error;  // set: the body is refused, for this reason
  };

  HttpBodyDecoder(JsonBounds bounds, std::function<void(Result)> done);
  ~HttpBodyDecoder();
  HttpBodyDecoder(const HttpBodyDecoder&) = delete;
  HttpBodyDecoder& operator=(const HttpBodyDecoder&) = delete;

  void submit(uint64_t connection, uint64_t request, std::string body);

 private:
  struct Task {
    uint64_t connection, request;
    std::string body;
  };
  void run();

  const JsonBounds bounds_;
  const std::function<void(Result)> done_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Task> tasks_;
  bool stop_ = false;
  std::thread thread_;  // last: starts once the rest is built
};

// A body's samples: parsed under `bounds`, then read as OpenRLHF's request; throws ProtocolError.
std::vector<reward::Sample> decode_get_reward_body(std::string_view body, JsonBounds bounds);

}  // namespace safrl::serve
