// POST /get_reward, OpenRLHF's remote reward model (openrlhf.h), as the HTTP gateway serves it:
// a body is decoded on another thread (http_body_decoder.h: JSON depth and value bounds) so its
// parsing time never delays the transport's other connections, then its samples become jobs on
// the same queue as ZeroMQ requests, so both meet in the same engine batches. A body over the
// admission bound is scored in parts, at most two queued at a time so small requests are not
// stuck behind it, and answered whole; OpenRLHF cannot retry a busy answer well, so a part waits
// for admission (up to HttpDeadlines::admission_wait) instead of being refused. Decoded bodies
// and the parts' replies arrive in one mailbox, whose eventfd the transport polls.
//
// Not thread-safe: every call from the gateway's thread (the mailbox takes the other threads').
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <variant>
#include <vector>

#include "serve/admission.h"
#include "serve/http_body_decoder.h"
#include "serve/http_transport.h"
#include "serve/job.h"
#include "serve/mailbox.h"
#include "serve/metrics.h"
#include "serve/serve_config.h"

namespace safrl::serve {

class OpenRlhfRoute {
 public:
  // `submit` queues an admitted job and returns false when the queue no longer takes jobs;
  // answers go out through `transport`.
  OpenRlhfRoute(const ServerConfig& config, const HttpDeadlines& deadlines, Metrics& metrics,
                Admission& admission, std::function<bool(Job&)> submit, HttpTransport& transport);
  OpenRlhfRoute(const OpenRlhfRoute&) = delete;
  OpenRlhfRoute& operator=(const OpenRlhfRoute&) = delete;

  // What the transport polls for this route's mail; notify() it to wake the loop with none.
  EventFdWake& wake() { return mailbox_->wake(); }
  // Hands the body to the decoder; deliver() goes on once it is decoded.
  void start(const HttpExchange& exchange, HttpRequest request);
  // Takes the mail: decoded bodies are queued part by part, answered parts assembled.
  void deliver(Clock::time_point now);
  // True while a part waits for admission: ask again after HttpDeadlines::admission_retry.
  bool waiting() const;
  void retry_waiting(Clock::time_point now);
  // The exchange on `connection` ended (HttpTransport::Handler::forget).
  void forget(uint64_t connection);

 private:
  // A part's reply, from the engine thread.
  struct PartReply {
    uint64_t connection;
    uint64_t request;  // the connection's request serial, so a late reply finds no stranger
    size_t part;
    Reply reply;
  };
  using Mail = std::variant<PartReply, HttpBodyDecoder::Result>;
  // A /get_reward body being scored: its samples go to the queue part by part.
  struct Post {
    std::vector<reward::Sample> samples;
    size_t part_size = 1;
    size_t parts = 0;
    size_t next_part = 0;  // the first part not yet queued
    size_t in_flight = 0;
    size_t answered = 0;
    std::vector<nlohmann::json> results;  // per part
    Clock::time_point give_up;            // of waiting for admission
    bool waiting = false;                 // for admission
  };
  struct Exchange {
    uint64_t request = 0;
    bool decoding = true;  // its body is with the decoder
    std::optional<Post> post;
  };

  void on_decoded(HttpBodyDecoder::Result& result, Clock::time_point now);
  void advance(uint64_t connection, Exchange& exchange, Clock::time_point now);
  void on_part(PartReply& letter, Clock::time_point now);

  const ServerConfig& config_;
  const HttpDeadlines deadlines_;
  Metrics& metrics_;
  Admission& admission_;
  std::function<bool(Job&)> submit_;
  HttpTransport& transport_;
  std::map<uint64_t, Exchange> exchanges_;  // by connection
  // The jobs' callbacks hold it too, as a job may be answered after the gateway is gone.
  std::shared_ptr<Mailbox<Mail, EventFdWake>> mailbox_ =
      std::make_shared<Mailbox<Mail, EventFdWake>>();
  HttpBodyDecoder decoder_;  // last: its thread posts to the mailbox
};

}  // namespace safrl::serve
