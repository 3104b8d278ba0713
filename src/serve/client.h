// A client of the reward server (docs/protocol.md), without LibTorch.
//
// A Client owns one ZeroMQ context and one DEALER socket connected to every endpoint in
// ClientOptions; ZeroMQ spreads requests round-robin over the endpoints whose connection is up
// (ZMQ_IMMEDIATE, so nothing queues behind a server that is down). It is not thread-safe: one
// thread uses a Client at a time; give each thread its own.
//
// call() is the reliable path (the zguide's Lazy Pirate, adapted to DEALER): it gives the request
// a version and a fresh random id when they are absent, sends it, and waits timeout_s for the reply
// with that id, discarding replies to other ids (late answers to earlier attempts or requests). It
// resends the same id after a timeout and after `busy` (waiting at least the server's
// retry_after_ms), `deadline_exceeded`, `shutting_down` and `unavailable`, with exponential backoff
// and jitter capped at max_backoff_s; the server answers a repeated id once (docs/protocol.md,
// Idempotency). Unlike Lazy Pirate's REQ, the socket is kept across retries: a DEALER cannot
// wedge, and a kept socket lets round-robin move the next attempt to the next endpoint (a fresh
// one would start again at the first); stale replies are told apart by id. Other server errors
// throw ClientError at once.
//
// An error reply without an id is taken as the answer to the request in flight: requests from
// this client always carry an id, so the server could only have failed to read it without
// decoding the frame (`too_large`).
//
// send()/receive() are the pipelined path (benchmarks): many requests in flight, replies in
// completion order, no retries. call() discards every reply that is not its own, so collect the
// replies to send() before calling call().
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve/protocol.h"
#include "util/error.h"

namespace zmq {
class context_t;
class socket_t;
}  // namespace zmq

namespace safrl::serve {

// CURVE keys, each as 40 characters of Z85 text (as zmq_curve_keypair() prints them).
struct CurveClientKeys {
  std::string server_public_key;  // ZMQ_CURVE_SERVERKEY: the server's public key
  std::string client_public_key;  // ZMQ_CURVE_PUBLICKEY
  std::string client_secret_key;  // ZMQ_CURVE_SECRETKEY
};

struct ClientOptions {
  // Server endpoints; one DEALER connects to all of them.
  std::vector<std::string> endpoints = {"tcp://127.0.0.1:5555"};
  // Seconds to wait for the reply to one attempt (and for a connected server to send to).
  double timeout_s = 60;
  // Attempts after the first one, so a call sends at most retries + 1 times.
  int retries = 5;
  // Backoff before retry n (0-based) is backoff_s * 2^n, capped at max_backoff_s, scaled by a
  // random factor in [0.5, 1) so clients that were refused together do not retry together.
  double backoff_s = 0.2;
  double max_backoff_s = 5;
  // Encrypt and authenticate with CURVE; the server must be configured with the matching keys.
  std::optional<CurveClientKeys> curve;
};

// A request that failed. code() is the server's error code; when no reply came at all
// (timed_out()), code() is kDeadlineExceeded. kInternal also stands for a reply this client
// cannot read (not msgpack, no "type", a type that does not answer the request).
class ClientError : public util::Error {
 public:
  ClientError(ErrorCode code, const std::string& what, std::string server_message = {},
              bool timed_out = false)
      : util::Error(what),
        code_(code),
        server_message_(std::move(server_message)),
        timed_out_(timed_out) {}
  ErrorCode code() const { return code_; }
  // The "message" of the server's error reply; empty when the error is the client's own.
  const std::string& server_message() const { return server_message_; }
  bool timed_out() const { return timed_out_; }

 private:
  ErrorCode code_;
  std::string server_message_;
  bool timed_out_;
};

class Client {
 public:
  // Creates the socket and starts connecting (asynchronously; the first send waits for a
  // connection up to timeout_s). Throws util::Error for invalid options or CURVE keys.
  explicit Client(ClientOptions options);
  ~Client();
  // A moved-from Client may only be destroyed or assigned to.
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends `request` (a map; "v" and "id" are filled when absent) and returns the reply map, with
  // retries as described above. Throws ClientError.
  nlohmann::json call(nlohmann::json request);

  // A score request; returns the "results" (one per sample, in order).
  std::vector<nlohmann::json> score(const std::vector<nlohmann::json>& samples,
                                    std::optional<int64_t> step = {});
  // A score request of GRPO groups ({"prompt", "responses", "ids"?, "step"?}); returns the
  // results member by member.
  std::vector<nlohmann::json> score_groups(const std::vector<nlohmann::json>& groups,
                                           std::optional<int64_t> step = {});
  nlohmann::json ping();                     // the pong reply (time_ms)
  nlohmann::json info(bool deep = false);    // the info reply
  nlohmann::json stats(bool flush = false);  // the stats reply

  // Pipelining: sends once and returns the request's id. Throws ClientError (timed_out()) when
  // no server connection takes the request within timeout_s.
  std::string send(nlohmann::json request);
  // The next reply in arrival order, whatever its id; nullopt when none comes within timeout_s.
  // Throws ClientError (kInternal) for a reply that is not a msgpack map.
  std::optional<nlohmann::json> receive(double timeout_s);

  const ClientOptions& options() const { return options_; }

 private:
  // Fills "v" and "id" and encodes the request; returns the id.
  std::string prepare(nlohmann::json& request, std::string& frame);
  // Sends the frame; false when no connection took it before `deadline_s` (steady-clock seconds).
  bool send_frame(const std::string& frame, double deadline_s);
  // The next reply map, or nullopt at `deadline_s`.
  std::optional<nlohmann::json> next_reply(double deadline_s);
  // call(), then checks that the reply is of `expected_type`.
  nlohmann::json call_expecting(nlohmann::json request, const char* expected_type);
  // A score request with `items` under `key` ("samples" or "groups"); returns the results.
  std::vector<nlohmann::json> score_items(const char* key, const std::vector<nlohmann::json>& items,
                                          std::optional<int64_t> step);

  ClientOptions options_;
  std::unique_ptr<zmq::context_t> context_;
  std::unique_ptr<zmq::socket_t> socket_;
  std::mt19937_64 random_;
};

// Seconds to wait before retry `retry` (0-based), before the server's retry_after_s is applied:
// min(max_backoff_s, backoff_s * 2^retry) * (0.5 + jitter / 2), jitter in [0, 1).
// Exposed so the schedule can be tested without sleeping.
double backoff_delay_s(const ClientOptions& options, int retry, double jitter);

}  // namespace safrl::serve
