// The HTTP gateway's transport: the listening socket and every connection, owned by one thread
// that never blocks on any of them. It polls them (with one more descriptor of its owner's, the
// wake-up of its mailbox), reads requests incrementally (http_request.h: bounds checked while the
// bytes arrive), hands each complete request to its Handler, and writes the answer the handler
// gives, now or on a later turn of the loop. It knows no endpoint.
//
// A slow or idle client holds one connection slot and the bytes it sent, for a bounded time: a
// request's head must arrive within server.http_read_timeout_seconds, its body without longer
// pauses and at HttpDeadlines::min_body_bytes_per_second on average; a kept-alive connection is
// closed after server.http_idle_timeout_seconds; past server.http_max_connections a new
// connection takes one of a few probe slots (HttpExchange::probe; an idle one yields to a newer),
// or is answered 503 when those are taken; clients outside server.http_allowed_clients get 403 at
// accept without taking a slot. Body bytes received or being served are bounded together (four
// times server.max_message_bytes; past that, 503 busy). A client that hangs up while served frees
// its slot at once. A reply that closes the connection is followed by a short linger that reads
// and drops what the client still sends, so the reply is not reset away. drain() closes idle
// connections, answers half-sent requests 503 and lets replies in flight be written. Every error
// is a JSON body {"error": {code, message}} (http_response.h).
//
// Not thread-safe: every call from the owning thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "serve/http_request.h"
#include "serve/http_response.h"
#include "serve/job.h"
#include "serve/metrics.h"
#include "serve/serve_config.h"

namespace safrl::serve {

// Every time bound of the HTTP side (transport and routes), set here and nowhere else.
struct HttpDeadlines {
  // server.http_read_timeout_seconds: a request's head; the longest pause in its body or while
  // its reply is read.
  std::chrono::seconds read{0};
  // server.http_idle_timeout_seconds: a kept-alive connection between requests.
  std::chrono::seconds idle{0};
  // After a reply that closes the connection, what the client still sends is read and dropped for
  // this long, so that closing with unread bytes does not reset the connection under the reply.
  std::chrono::seconds linger{2};
  // At shutdown, replies still being written get this long.
  std::chrono::seconds close_grace{2};
  // How often the loop looks at the admission state and the stop flag when nothing happens.
  std::chrono::milliseconds tick{100};
  // A body must keep arriving at this rate on average (after one read timeout's grace), so a
  // client that sends a byte just before each timeout cannot hold a connection and its bytes.
  double min_body_bytes_per_second = 16 << 10;
  // OpenRLHF's client retries only a few times, quickly: waiting for room is kinder than busy.
  std::chrono::seconds admission_wait{120};
  // How often a body waiting for admission asks again.
  std::chrono::milliseconds admission_retry{5};
};

HttpDeadlines http_deadlines(const ServerConfig& config);

// One request being served.
struct HttpExchange {
  uint64_t connection = 0;  // never reused while the transport runs
  uint64_t request = 0;     // the connection's request serial, so a late answer finds no stranger
  bool probe = false;       // in a probe slot: to be served only when it asks /health or /metrics
};

class HttpTransport {
 public:
  class Handler {
   public:
    virtual ~Handler() = default;
    // A complete request: answer with respond(), now or later.
    virtual void serve(const HttpExchange& exchange, HttpRequest request,
                       Clock::time_point now) = 0;
    // The request served on `connection` ended (answered, or the client left): drop its state.
    virtual void forget(uint64_t connection) = 0;
  };

  // Binds server.http_address:http_port (throws util::LoadError when it cannot).
  HttpTransport(const ServerConfig& config, const HttpDeadlines& deadlines, Metrics& metrics,
                Handler& handler);
  // Closes every connection and the listening socket.
  ~HttpTransport();
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;

  // Waits until a descriptor is ready, a deadline passes, `wake_by` comes or a tick passes; true
  // when `wake_fd` is readable. Then dispatch() and expire().
  bool poll(int wake_fd, std::optional<Clock::time_point> wake_by);
  // Accepts, reads and writes what poll() found ready; serves requests already buffered.
  void dispatch(Clock::time_point now);
  // Answers 408 or closes the connections past their deadline.
  void expire(Clock::time_point now);

  // Sends `response` (json_error() for a refusal) on `connection` if it is still open.
  void respond(uint64_t connection, HttpResponse response, Clock::time_point now);
  // Runs a handler's step for `connection`; an exception ends that connection only (500 where it
  // still can be answered), never the others nor the thread.
  void guarded(uint64_t connection, Clock::time_point now, const std::function<void()>& handle);

  // Stops reading new requests (see the top of this file); replies in flight are still written.
  void drain(Clock::time_point now);
  bool draining() const { return draining_; }
  // Drains and closes the listening socket; stopped() is true once every reply in flight is out
  // or HttpDeadlines::close_grace has passed.
  void stop(Clock::time_point now);
  bool stopped(Clock::time_point now) const;

  std::string connections_full_message() const;

 private:
  enum class State {
    kReading,    // a request (or the next one) is arriving
    kServing,    // its reply is being computed
    kWriting,    // its reply is being sent
    kLingering,  // closing: the reply is out, the client's last bytes are read and dropped
  };
  struct Connection {
    Connection(int socket, bool is_refused, HttpLimits limits)
        : fd(socket), refused(is_refused), reader(limits) {}

    int fd;
    bool refused;        // answered at accept (not allowed, or over the limit); not counted as open
    bool probe = false;  // in a probe slot: /health and /metrics only, one request
    HttpRequestReader reader;
    State state = State::kReading;
    Clock::time_point deadline;
    Clock::time_point request_start;  // the current request's first byte
    bool started = false;             // a byte of the current request has arrived
    bool in_body = false;
    uint64_t request = 0;
    bool keep_alive = true;
    bool head_only = false;
    std::string out;
    size_t written = 0;
    size_t held_bytes = 0;  // counted against the bound on bodies held
  };

  void accept_connections(Clock::time_point now);
  // Answers a connection at accept and closes it, outside the open connections' count.
  void refuse(int fd, HttpResponse response, Clock::time_point now);
  // Frees the probe slot of the oldest connection that has sent nothing or been answered; false
  // if none.
  bool evict_idle_probe();
  // Connections in the regular slots (server.http_max_connections).
  size_t open_connections() const { return connections_.size() - refused_ - probes_; }
  // Sets the gauge: connections open, probe slots included, refused ones not.
  void count_connections();
  void on_readable(uint64_t id, Connection& c, Clock::time_point now);
  void on_writable(uint64_t id, Connection& c, Clock::time_point now);
  void read_requests(uint64_t id, Connection& c, std::string_view bytes, Clock::time_point now);
  // A request whose headers are in, before its body is read: answers 100 Continue when asked;
  // false when the connection must close.
  bool accept_headers(Connection& c, Clock::time_point now);
  // Counts a body's bytes against the bound (HttpError 503 past it) and sets its deadline.
  void track_body(Connection& c, Clock::time_point now);
  void hold(Connection& c, size_t bytes);
  void serve(uint64_t id, Connection& c, HttpRequest request, Clock::time_point now);
  void answer(uint64_t id, Connection& c, HttpResponse response, Clock::time_point now);
  void start_reading(uint64_t id, Connection& c, Clock::time_point now, bool fresh);
  void close_connection(uint64_t id);
  // The connections that satisfy `predicate` now (handlers may close some while going through).
  std::vector<uint64_t> ids_where(const std::function<bool(const Connection&)>& predicate) const;

  const ServerConfig& config_;
  const HttpDeadlines deadlines_;
  Metrics& metrics_;
  Handler& handler_;
  const HttpLimits limits_;
  const size_t max_held_bytes_;
  int listener_ = -1;
  Clock::time_point accept_paused_until_{};
  std::map<uint64_t, Connection> connections_;
  uint64_t next_id_ = 1;
  size_t held_bytes_ = 0;
  size_t refused_ = 0;           // connections in connections_ that were refused at accept
  size_t probes_ = 0;            // connections in connections_ in a probe slot
  std::vector<uint64_t> ready_;  // connections with a buffered request to read
  bool draining_ = false;
  std::optional<Clock::time_point> stop_by_;
  // What the last poll() found: whether the listener was polled, and each connection's events.
  bool listening_ = false;
  bool listener_ready_ = false;
  std::vector<std::pair<uint64_t, short>> events_;
};

}  // namespace safrl::serve
