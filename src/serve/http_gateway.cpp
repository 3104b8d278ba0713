#include "serve/http_gateway.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "serve/http_body_decoder.h"
#include "serve/http_listener.h"
#include "serve/http_request.h"
#include "serve/http_response.h"
#include "serve/openrlhf.h"
#include "util/error.h"

namespace safrl::serve {
namespace {

using nlohmann::json;

// OpenRLHF's client retries only a few times, quickly: waiting for room is kinder than busy.
constexpr auto kAdmissionWait = std::chrono::seconds(120);
// After a reply that closes the connection, what the client still sends is read and dropped for
// this long, so that closing with unread bytes does not reset the connection under the reply.
constexpr auto kLinger = std::chrono::seconds(2);
// At shutdown, replies still being written get this long.
constexpr auto kCloseGrace = std::chrono::seconds(2);
// How often the loop looks at the admission state and the stop flag when nothing happens.
constexpr auto kTick = std::chrono::milliseconds(100);
// How often a body waiting for admission asks again.
constexpr auto kAdmissionRetry = std::chrono::milliseconds(5);
// Parts of one body queued at once: enough to keep the engine busy between them, few enough
// that a small request arriving meanwhile waits for at most two parts.
constexpr size_t kPartsInFlight = 2;
constexpr size_t kReadChunk = 64 << 10;
// Connections taken past server.http_max_connections for /health and /metrics only, so probes
// and scrapers are answered while clients hold every slot.
constexpr size_t kProbeSlots = 8;
// A body must keep arriving at this rate on average (after one read timeout's grace), so a client
// that sends a byte just before each timeout cannot hold a connection and its bytes for good.
constexpr double kMinBodyBytesPerSecond = 16 << 10;

std::string system_error(const char* what) {
  return util::cat(what, ": ", std::strerror(errno));
}

// Replies of the engine thread for the gateway's thread. The jobs' callbacks hold it too, as a
// job may be answered after the gateway is gone.
class Mailbox {
 public:
  struct Letter {
    uint64_t connection;
    uint64_t request;  // the connection's request serial, so a late reply finds no stranger
    size_t part;
    Reply reply;
  };

  Mailbox() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (fd_ < 0) throw util::LoadError(system_error("cannot create an eventfd for HTTP"));
  }
  ~Mailbox() { ::close(fd_); }
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;

  int fd() const { return fd_; }
  void post(Letter letter) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      letters_.push_back(std::move(letter));
    }
    wake();
  }
  void wake() {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(fd_, &one, sizeof one);
  }
  std::deque<Letter> take() {
    uint64_t count = 0;
    [[maybe_unused]] const ssize_t n = ::read(fd_, &count, sizeof count);
    std::lock_guard<std::mutex> lock(mutex_);
    return std::exchange(letters_, {});
  }
  // Bodies decoded (http_body_decoder.h): delivered with the letters, on the same wake.
  void post_decoded(HttpBodyDecoder::Result result) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      decoded_.push_back(std::move(result));
    }
    wake();
  }
  std::deque<HttpBodyDecoder::Result> take_decoded() {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::exchange(decoded_, {});
  }

 private:
  int fd_;
  std::mutex mutex_;
  std::deque<Letter> letters_;
  std::deque<HttpBodyDecoder::Result> decoded_;
};

// A /get_reward body being scored: its samples go to the queue part by part.
struct Post {
  std::vector<reward::Sample> samples;
  size_t part_size = 1;
  size_t parts = 0;
  size_t next_part = 0;  // the first part not yet queued
  size_t in_flight = 0;
  size_t answered = 0;
  std::vector<json> results;  // per part
  Clock::time_point give_up;  // of waiting for admission
  bool waiting = false;       // for admission
};

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
  bool decoding = false;  // its /get_reward body is with the decoder
  std::optional<Post> post;
  std::string out;
  size_t written = 0;
  size_t held_bytes = 0;  // counted against the gateway's bound on bodies held
};

HttpResponse method_not_allowed(std::string_view method, std::string_view path,
                                std::string_view use, const char* allow) {
  HttpResponse refusal =
      json_error(405, ErrorCode::kBadRequest, util::cat(method, " ", path, ": use ", use));
  refusal.headers.emplace_back("Allow", allow);
  return refusal;
}

ErrorCode code_of_status(int status) {
  if (status == 413 || status == 431) return ErrorCode::kTooLarge;
  if (status == 503) return ErrorCode::kBusy;
  return ErrorCode::kBadRequest;
}

}  // namespace

struct HttpGateway::Impl {
  Impl(const ServerConfig& config, Metrics& metrics, Admission& admission,
       std::function<bool(Job&)> submit);
  ~Impl();

  void run();
  void step();
  std::chrono::milliseconds poll_timeout(Clock::time_point now) const;
  void accept_connections(Clock::time_point now);
  void on_readable(uint64_t id, Connection& c, Clock::time_point now);
  void on_writable(uint64_t id, Connection& c, Clock::time_point now);
  void read_requests(uint64_t id, Connection& c, std::string_view bytes, Clock::time_point now);
  // A request whose headers are in, before its body is read: answers 100 Continue when asked;
  // false when the connection must close.
  bool accept_headers(Connection& c, Clock::time_point now);
  // Counts a body's bytes against the bound (HttpError 503 past it) and sets its deadline.
  void track_body(Connection& c, Clock::time_point now);
  // Runs a connection's handler; an exception ends that connection only (500 where possible).
  void guarded(uint64_t id, Clock::time_point now, const std::function<void()>& handle);
  // Answers a connection at accept and closes it, outside the open connections' count.
  void refuse(int fd, HttpResponse response, Clock::time_point now);
  // Connections in the regular slots (server.http_max_connections).
  size_t open_connections() const { return connections_.size() - refused_ - probes_; }
  // Frees the probe slot of the oldest connection that has sent nothing or been answered; false
  // if none.
  bool evict_idle_probe();
  // Sets the gauge: connections open, probe slots included, refused ones not.
  void count_connections() {
    metrics_.http_connections = static_cast<int64_t>(connections_.size() - refused_);
  }
  void serve(uint64_t id, Connection& c, HttpRequest request, Clock::time_point now);
  // /health's body: "ok", or "degraded: ..." while the step logs cannot be written.
  std::string health_text() const;
  std::string connections_full_message() const;
  // Hands a /get_reward body to the decoder; on_decoded() goes on with its samples.
  void start_post(uint64_t id, Connection& c, HttpRequest request);
  void on_decoded(HttpBodyDecoder::Result& result, Clock::time_point now);
  void advance_post(uint64_t id, Connection& c, Clock::time_point now);
  void on_letter(Mailbox::Letter& letter, Clock::time_point now);
  void respond(uint64_t id, Connection& c, HttpResponse response, Clock::time_point now);
  void respond_error(uint64_t id, Connection& c, int status, ErrorCode code,
                     const std::string& message, Clock::time_point now,
                     std::optional<int64_t> retry_after_ms = std::nullopt);
  void start_reading(uint64_t id, Connection& c, Clock::time_point now, bool fresh);
  void close_connection(uint64_t id);
  // The connections that satisfy `predicate` now (handlers may close some while going through).
  std::vector<uint64_t> ids_where(const std::function<bool(const Connection&)>& predicate) const;
  void expire(Clock::time_point now);
  void drain(Clock::time_point now);
  void hold(Connection& c, size_t bytes);

  const ServerConfig& config_;
  Metrics& metrics_;
  Admission& admission_;
  std::function<bool(Job&)> submit_;
  const HttpLimits limits_;
  const std::chrono::seconds read_timeout_;
  const std::chrono::seconds idle_timeout_;
  const size_t max_held_bytes_;
  std::shared_ptr<Mailbox> mailbox_ = std::make_shared<Mailbox>();
  HttpBodyDecoder decoder_{JsonBounds{}, [mailbox = mailbox_](HttpBodyDecoder::Result result) {
                             mailbox->post_decoded(std::move(result));
                           }};
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
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

HttpGateway::Impl::Impl(const ServerConfig& config, Metrics& metrics, Admission& admission,
                        std::function<bool(Job&)> submit)
    : config_(config),
      metrics_(metrics),
      admission_(admission),
      submit_(std::move(submit)),
      limits_{32 << 10, 100, static_cast<size_t>(config.max_message_bytes)},
      read_timeout_(config.http_read_timeout_seconds),
      idle_timeout_(config.http_idle_timeout_seconds),
      max_held_bytes_(static_cast<size_t>(config.max_message_bytes) * 4) {
  listener_ = listen_http(config_.http_address, config_.http_port, true).fd;
  thread_ = std::thread([this] { run(); });
}

HttpGateway::Impl::~Impl() {
  stop_ = true;
  mailbox_->wake();
  if (thread_.joinable()) thread_.join();
  for (auto& [id, c] : connections_) ::close(c.fd);
  metrics_.http_connections = 0;
  if (listener_ >= 0) ::close(listener_);
}

void HttpGateway::Impl::run() {
  while (true) {
    try {
      step();
    } catch (const std::exception& e) {
      // Nothing here may end the thread while the server runs: say what happened and go on.
      std::cerr << "safrl serve: HTTP: " << e.what() << std::endl;
    }
    if (stop_by_ && (Clock::now() >= *stop_by_ ||
                     std::none_of(connections_.begin(), connections_.end(), [](const auto& entry) {
                       return entry.second.state == State::kWriting ||
                              entry.second.state == State::kServing;
                     }))) {
      return;
    }
  }
}

std::chrono::milliseconds HttpGateway::Impl::poll_timeout(Clock::time_point now) const {
  if (!ready_.empty()) return std::chrono::milliseconds(0);
  Clock::time_point wake = now + kTick;
  for (const auto& [id, c] : connections_) {
    if (c.state != State::kServing) wake = std::min(wake, c.deadline);
    if (c.post && c.post->waiting) wake = std::min(wake, now + kAdmissionRetry);
  }
  if (stop_by_) wake = std::min(wake, *stop_by_);
  return std::max(std::chrono::milliseconds(0),
                  std::chrono::ceil<std::chrono::milliseconds>(wake - now));
}

void HttpGateway::Impl::step() {
  Clock::time_point now = Clock::now();
  if (stop_ && !stop_by_) {
    stop_by_ = now + kCloseGrace;
    drain(now);
    if (listener_ >= 0) ::close(listener_);
    listener_ = -1;
  }
  if (!draining_ && admission_.stopped()) drain(now);

  std::vector<pollfd> fds;
  std::vector<uint64_t> ids;
  fds.push_back({mailbox_->fd(), POLLIN, 0});
  const bool listening = listener_ >= 0 && now >= accept_paused_until_;
  if (listening) fds.push_back({listener_, POLLIN, 0});
  for (const auto& [id, c] : connections_) {
    // While its reply is computed a connection is not read (one request at a time), only
    // watched for the client hanging up.
    const short events = c.state == State::kWriting   ? POLLOUT
                         : c.state == State::kServing ? POLLRDHUP
                                                      : POLLIN;
    fds.push_back({c.fd, events, 0});
    ids.push_back(id);
  }
  const int timeout = static_cast<int>(poll_timeout(now).count());
  if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) {
    throw util::Error(system_error("poll"));
  }
  now = Clock::now();

  if (fds[0].revents & POLLIN) {
    for (Mailbox::Letter& letter : mailbox_->take()) {
      guarded(letter.connection, now, [&] { on_letter(letter, now); });
    }
    for (HttpBodyDecoder::Result& result : mailbox_->take_decoded()) {
      guarded(result.connection, now, [&] { on_decoded(result, now); });
    }
  }
  if (listening && (fds[1].revents & POLLIN)) accept_connections(now);
  const size_t first = listening ? 2 : 1;
  for (size_t k = 0; k < ids.size(); ++k) {
    const short events = fds[first + k].revents;
    if (events == 0) continue;
    auto found = connections_.find(ids[k]);
    if (found == connections_.end()) continue;
    Connection& c = found->second;
    if (c.state == State::kServing && (events & (POLLRDHUP | POLLERR | POLLHUP))) {
      // The client left (OpenRLHF timing out, say): its parts not yet queued never are, its
      // slot and bytes are free now; parts already queued are scored and their replies dropped.
      close_connection(ids[k]);
    } else if (c.state == State::kWriting && (events & (POLLOUT | POLLERR | POLLHUP))) {
      guarded(ids[k], now, [&] { on_writable(ids[k], c, now); });
    } else if ((c.state == State::kReading || c.state == State::kLingering) &&
               (events & (POLLIN | POLLERR | POLLHUP))) {
      guarded(ids[k], now, [&] { on_readable(ids[k], c, now); });
    }
  }
  // Requests already held (pipelined behind an answered one), then bodies waiting for room.
  while (!ready_.empty()) {
    const uint64_t id = ready_.back();
    ready_.pop_back();
    auto found = connections_.find(id);
    if (found != connections_.end() && found->second.state == State::kReading) {
      guarded(id, now, [&] { read_requests(id, found->second, {}, now); });
    }
  }
  for (uint64_t id : ids_where([](const Connection& c) {
         return c.state == State::kServing && c.post && c.post->waiting;
       })) {
    guarded(id, now, [&] { advance_post(id, connections_.at(id), now); });
  }
  expire(now);
}

void HttpGateway::Impl::guarded(uint64_t id, Clock::time_point now,
                                const std::function<void()>& handle) {
  try {
    handle();
  } catch (const std::exception& e) {
    // One connection's failure (a reply that cannot be built, memory) ends that connection,
    // answered 500 where it still can be, never the others nor the thread.
    std::cerr << "safrl serve: HTTP: " << e.what() << std::endl;
    auto found = connections_.find(id);
    if (found == connections_.end()) return;
    Connection& c = found->second;
    if (c.state == State::kReading || c.state == State::kServing) {
      try {
        c.keep_alive = false;
        respond_error(id, c, 500, ErrorCode::kInternal,
                      util::cat("the HTTP gateway failed: ", e.what()), now);
        return;
      } catch (const std::exception&) {
      }
    }
    close_connection(id);
  }
}

void HttpGateway::Impl::refuse(int fd, HttpResponse response, Clock::time_point now) {
  ++metrics_.requests;
  response.close = true;
  if (refused_ >= static_cast<size_t>(config_.http_max_connections)) {
    // Too many refusals at once as well: best effort, then close.
    ++metrics_.error_replies;
    const std::string bytes = serialize(response);
    [[maybe_unused]] const ssize_t n =
        ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::close(fd);
    return;
  }
  // Answered and closed like any reply (written, then what the client sends read and dropped
  // for a moment so the answer is not reset away), without taking an open connection's slot.
  const uint64_t id = next_id_++;
  Connection& c = connections_.try_emplace(id, fd, /*is_refused=*/true, limits_).first->second;
  ++refused_;
  c.keep_alive = false;
  c.state = State::kServing;
  respond(id, c, std::move(response), now);
}

void HttpGateway::Impl::accept_connections(Clock::time_point now) {
  for (int burst = 0; burst < 64; ++burst) {
    sockaddr_in address{};
    socklen_t length = sizeof address;
    const int fd = ::accept4(listener_, reinterpret_cast<sockaddr*>(&address), &length,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: leave the rest in the backlog a moment instead of spinning.
        accept_paused_until_ = now + std::chrono::milliseconds(100);
      }
      return;  // EAGAIN: all taken; a connection that failed in the backlog: nothing to do
    }
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &address.sin_addr, text, sizeof text);
    const int on = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    const auto& allowed = config_.http_allowed_clients;
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), text) == allowed.end()) {
      // Refused before anything is read: such a client cannot hold a slot.
      refuse(fd,
             json_error(403, ErrorCode::kBadRequest,
                        util::cat("client ", text, " is not in server.http_allowed_clients")),
             now);
      continue;
    }
    const bool full = open_connections() >= static_cast<size_t>(config_.http_max_connections);
    if (full && probes_ >= kProbeSlots && !evict_idle_probe()) {
      refuse(fd, json_error(503, ErrorCode::kBusy, connections_full_message(), 1000), now);
      continue;
    }
    const uint64_t id = next_id_++;
    Connection& c = connections_.try_emplace(id, fd, /*is_refused=*/false, limits_).first->second;
    if (full) {
      c.probe = true;
      ++probes_;
    }
    count_connections();
    start_reading(id, c, now, /*fresh=*/true);
  }
}

bool HttpGateway::Impl::evict_idle_probe() {
  // Connections are numbered in arrival order: the first found is the oldest.
  for (auto& [id, c] : connections_) {
    // A lingering one has had its answer; it only waits out the client's last bytes.
    if (c.probe && ((c.state == State::kReading && !c.started) || c.state == State::kLingering)) {
      close_connection(id);
      return true;
    }
  }
  return false;
}

void HttpGateway::Impl::start_reading(uint64_t id, Connection& c, Clock::time_point now,
                                      bool fresh) {
  c.state = State::kReading;
  c.started = false;
  c.in_body = false;
  c.head_only = false;
  // A new connection must bring its request promptly; a kept-alive one may idle longer.
  c.deadline = now + (fresh ? read_timeout_ : idle_timeout_);
  if (c.reader.buffered() > 0) ready_.push_back(id);
}

void HttpGateway::Impl::on_readable(uint64_t id, Connection& c, Clock::time_point now) {
  char buffer[kReadChunk];
  for (int round = 0; round < 16; ++round) {
    const ssize_t n = ::recv(c.fd, buffer, sizeof buffer, 0);
    if (n > 0) {
      if (c.state == State::kLingering) continue;
      read_requests(id, c, std::string_view(buffer, static_cast<size_t>(n)), now);
      // An answer that could not be sent closes the connection: `c` is gone then.
      if (!connections_.count(id)) return;
      if (c.state != State::kReading) return;  // one request at a time; the rest stays queued
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    close_connection(id);  // closed by the client (or reset): nothing is owed to it
    return;
  }
}

void HttpGateway::Impl::on_writable(uint64_t id, Connection& c, Clock::time_point now) {
  while (c.written < c.out.size()) {
    const ssize_t n = ::send(c.fd, c.out.data() + c.written, c.out.size() - c.written,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      c.written += static_cast<size_t>(n);
      c.deadline = now + read_timeout_;  // the client reads: give it time for the rest
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    close_connection(id);
    return;
  }
  c.out.clear();
  c.written = 0;
  if (c.keep_alive) {
    start_reading(id, c, now, /*fresh=*/false);
    return;
  }
  ::shutdown(c.fd, SHUT_WR);
  c.state = State::kLingering;
  c.deadline = now + kLinger;
}

void HttpGateway::Impl::read_requests(uint64_t id, Connection& c, std::string_view bytes,
                                      Clock::time_point now) {
  try {
    HttpRequestReader::Progress progress = c.reader.feed(bytes);
    if (!c.started && c.reader.started()) {
      c.started = true;
      c.request_start = now;
      c.deadline = now + read_timeout_;  // for the request line and headers
    }
    while (progress == HttpRequestReader::Progress::kHeadersDone) {
      if (!accept_headers(c, now)) return close_connection(id);
      progress = c.reader.feed();
    }
    if (c.in_body) track_body(c, now);
    if (progress == HttpRequestReader::Progress::kComplete) {
      serve(id, c, c.reader.take(), now);
    }
  } catch (const HttpError& e) {
    ++metrics_.requests;
    std::string message = e.what();
    if (e.status() == 413) {
      message += " (server.max_message_bytes); send fewer queries per request";
    }
    c.keep_alive = false;  // the rest of the stream cannot be trusted to start a request
    respond_error(id, c, e.status(), code_of_status(e.status()), message, now);
  }
}

bool HttpGateway::Impl::accept_headers(Connection& c, Clock::time_point now) {
  c.in_body = true;
  track_body(c, now);
  if (c.reader.request().expect_continue) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    // A client that gets no 100 sends its body after its own short wait; a 100 cut short
    // would break the stream, so that connection is closed.
    const ssize_t n = ::send(c.fd, kContinue.data(), kContinue.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0 && static_cast<size_t>(n) < kContinue.size()) return false;
  }
  return true;
}

void HttpGateway::Impl::track_body(Connection& c, Clock::time_point now) {
  // Bytes are counted as they arrive (a declared length costs nothing), against the bound on
  // what all requests hold together.
  const size_t received = c.reader.request().body.size();
  if (received > c.held_bytes) {
    if (held_bytes_ - c.held_bytes + received > max_held_bytes_) {
      throw HttpError(
          503, util::cat("the server holds ", held_bytes_, " bytes of HTTP requests; its bound is ",
                         max_held_bytes_, " (4 x server.max_message_bytes); retry later"));
    }
    hold(c, received);
  }
  // No pause longer than the read timeout, and the body's average rate at least
  // kMinBodyBytesPerSecond after one read timeout's grace.
  const auto by_rate = c.request_start + read_timeout_ +
                       std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                           static_cast<double>(received) / kMinBodyBytesPerSecond));
  c.deadline = std::min(now + read_timeout_, by_rate);
}

void HttpGateway::Impl::hold(Connection& c, size_t bytes) {
  held_bytes_ = held_bytes_ - c.held_bytes + bytes;
  c.held_bytes = bytes;
}

void HttpGateway::Impl::serve(uint64_t id, Connection& c, HttpRequest request,
                              Clock::time_point now) {
  c.state = State::kServing;
  c.keep_alive = request.keep_alive;
  c.head_only = request.method == "HEAD";
  ++c.request;
  hold(c, request.body.size());
  const std::string_view path = request.path();
  if (c.probe) c.keep_alive = false;  // a probe slot serves one request
  if (c.probe && path != "/health" && path != "/metrics") {
    ++metrics_.requests;
    return respond_error(id, c, 503, ErrorCode::kBusy, connections_full_message(), now, 1000);
  }
  if (path == "/health" || path == "/metrics") {
    if (request.method != "GET" && request.method != "HEAD") {
      ++metrics_.requests;
      return respond(id, c, method_not_allowed(request.method, path, "GET", "GET, HEAD"), now);
    }
    HttpResponse response;
    if (path == "/metrics") {
      response.content_type = "text/plain; version=0.0.4";
      response.body = metrics_.prometheus();
    } else {
      response.content_type = "text/plain";
      response.status = draining_ ? 503 : 200;
      response.body = draining_ ? "draining\n" : health_text();
    }
    return respond(id, c, std::move(response), now);
  }
  ++metrics_.requests;
  if (path != "/get_reward") {
    return respond_error(id, c, 404, ErrorCode::kBadRequest,
                         util::cat("no endpoint ", path,
                                   "; the endpoints are POST /get_reward, GET /health and "
                                   "GET /metrics"),
                         now);
  }
  if (request.method != "POST") {
    return respond(id, c, method_not_allowed(request.method, path, "POST", "POST"), now);
  }
  if (draining_) {
    const Refusal refusal = shutting_down();
    return respond_error(id, c, 503, refusal.code, refusal.message, now, refusal.retry_after_ms);
  }
  start_post(id, c, std::move(request));
}

std::string HttpGateway::Impl::connections_full_message() const {
  return util::cat("the server has ", config_.http_max_connections,
                   " HTTP connections open (server.http_max_connections); retry later");
}

std::string HttpGateway::Impl::health_text() const {
  if (!metrics_.degraded()) return "ok\n";
  // Still 200: rewards are served; only statistics wait for the disk.
  return util::cat("degraded: ", metrics_.step_rows_unwritten.load(),
                   " step row(s) held in memory, the run directory cannot be written (",
                   metrics_.step_log_error(), "); rewards are unaffected\n");
}

void HttpGateway::Impl::start_post(uint64_t id, Connection& c, HttpRequest request) {
  c.decoding = true;
  decoder_.submit(id, c.request, std::move(request.body));
}

void HttpGateway::Impl::on_decoded(HttpBodyDecoder::Result& result, Clock::time_point now) {
  auto found = connections_.find(result.connection);
  if (found == connections_.end()) return;  // the client left meanwhile
  Connection& c = found->second;
  if (c.state != State::kServing || !c.decoding || c.request != result.request) return;
  c.decoding = false;
  const uint64_t id = result.connection;
  if (result.error) {
    return respond_error(id, c, openrlhf::http_status(result.error->code()), result.error->code(),
                         result.error->what(), now);
  }
  std::vector<reward::Sample>& samples = result.samples;
  Post post;
  post.part_size = static_cast<size_t>(
      std::max<int64_t>(1, std::min(config_.max_queued_samples, config_.max_batch_samples)));
  post.parts = (samples.size() + post.part_size - 1) / post.part_size;
  post.results.resize(post.parts);
  post.samples = std::move(samples);
  post.give_up = now + kAdmissionWait;
  c.post = std::move(post);
  if (c.post->parts == 0) {
    HttpResponse response;
    response.body = openrlhf::reply_from_results(json::array()).dump();
    return respond(id, c, std::move(response), now);
  }
  advance_post(id, c, now);
}

void HttpGateway::Impl::advance_post(uint64_t id, Connection& c, Clock::time_point now) {
  Post& post = *c.post;
  while (post.in_flight < kPartsInFlight && post.next_part < post.parts) {
    const size_t begin = post.next_part * post.part_size;
    const size_t end = std::min(post.samples.size(), begin + post.part_size);
    const int64_t count = static_cast<int64_t>(end - begin);
    // The part's waiter name: its connection and request, unique while the gateway runs.
    const std::string waiter = util::cat("http/", id, "/", c.request, "/", post.next_part);
    std::optional<Refusal> refusal = admission_.try_admit(count, waiter, /*count_busy=*/false);
    if (refusal && refusal->code == ErrorCode::kBusy && now < post.give_up) {
      if (!post.waiting) ++metrics_.http_admission_waits;  // once per part held
      post.waiting = true;                                 // asked again on the loop's next turns
      return;
    }
    post.waiting = false;
    if (refusal) {
      if (refusal->code == ErrorCode::kBusy) ++metrics_.busy_replies;
      // Parts already queued are still scored (and enter the step statistics).
      return respond_error(id, c, openrlhf::http_status(refusal->code), refusal->code,
                           refusal->message, now, refusal->retry_after_ms);
    }
    Job job;
    job.request.type = RequestType::kScore;
    job.request.samples.assign(std::make_move_iterator(post.samples.begin() + begin),
                               std::make_move_iterator(post.samples.begin() + end));
    job.request.group_of.assign(job.request.samples.size(), -1);
    job.arrival = now;
    job.done = [mailbox = mailbox_, id, request = c.request, part = post.next_part](Reply reply) {
      mailbox->post({id, request, part, std::move(reply)});
    };
    if (!submit_(job)) {  // the server stopped between admission and queueing
      admission_.release(count);
      const Refusal stopping = shutting_down();
      return respond_error(id, c, 503, stopping.code, stopping.message, now,
                           stopping.retry_after_ms);
    }
    ++metrics_.score_requests;
    ++post.in_flight;
    ++post.next_part;
  }
}

void HttpGateway::Impl::on_letter(Mailbox::Letter& letter, Clock::time_point now) {
  auto found = connections_.find(letter.connection);
  if (found == connections_.end()) return;  // the client left; its samples were still scored
  Connection& c = found->second;
  if (c.state != State::kServing || !c.post || c.request != letter.request) return;
  Post& post = *c.post;
  --post.in_flight;
  Reply& reply = letter.reply;
  if (reply.error) {
    const json& error = reply.body["error"];
    std::optional<int64_t> retry_after;
    if (error.contains("retry_after_ms")) retry_after = error["retry_after_ms"].get<int64_t>();
    return respond_error(letter.connection, c, openrlhf::http_status(*reply.error), *reply.error,
                         error.value("message", ""), now, retry_after);
  }
  post.results[letter.part] = std::move(reply.body["results"]);
  if (++post.answered < post.parts) return advance_post(letter.connection, c, now);
  json results = json::array();
  for (json& part : post.results) {
    for (json& result : part) results.push_back(std::move(result));
  }
  HttpResponse response;
  response.body =
      openrlhf::reply_from_results(results).dump(-1, ' ', false, json::error_handler_t::replace);
  respond(letter.connection, c, std::move(response), now);
}

void HttpGateway::Impl::respond_error(uint64_t id, Connection& c, int status, ErrorCode code,
                                      const std::string& message, Clock::time_point now,
                                      std::optional<int64_t> retry_after_ms) {
  respond(id, c, json_error(status, code, message, retry_after_ms), now);
}

void HttpGateway::Impl::respond(uint64_t id, Connection& c, HttpResponse response,
                                Clock::time_point now) {
  if (response.status >= 400 && response.content_type == "application/json") {
    ++metrics_.error_replies;
  }
  // A body the reader has not finished (a refusal from the headers) leaves the stream unusable.
  if (c.state == State::kReading) c.keep_alive = false;
  if (draining_) c.keep_alive = false;
  response.close = response.close || !c.keep_alive;
  c.keep_alive = !response.close;
  c.out = serialize(response, c.head_only);
  c.written = 0;
  c.post.reset();
  c.decoding = false;
  hold(c, 0);
  c.state = State::kWriting;
  c.deadline = now + read_timeout_;
  on_writable(id, c, now);
}

void HttpGateway::Impl::close_connection(uint64_t id) {
  auto found = connections_.find(id);
  if (found == connections_.end()) return;
  hold(found->second, 0);
  ::close(found->second.fd);
  if (found->second.refused) --refused_;
  if (found->second.probe) --probes_;
  connections_.erase(found);
  count_connections();
}

std::vector<uint64_t> HttpGateway::Impl::ids_where(
    const std::function<bool(const Connection&)>& predicate) const {
  std::vector<uint64_t> ids;
  for (const auto& [id, c] : connections_) {
    if (predicate(c)) ids.push_back(id);
  }
  return ids;
}

void HttpGateway::Impl::expire(Clock::time_point now) {
  for (uint64_t id : ids_where([now](const Connection& c) {
         return c.state != State::kServing && now >= c.deadline;
       })) {
    if (!connections_.count(id)) continue;
    Connection& c = connections_.at(id);
    if (c.state == State::kReading && c.started) {
      ++metrics_.requests;
      respond_error(id, c, 408, ErrorCode::kBadRequest,
                    util::cat("the request did not arrive within ", read_timeout_.count(),
                              " s (server.http_read_timeout_seconds)"),
                    now);
      // The 408 gets a short while to leave; a client that reads nothing is closed after it.
      if (connections_.count(id)) connections_.at(id).deadline = now + kLinger;
    } else {
      close_connection(id);
    }
  }
}

void HttpGateway::Impl::drain(Clock::time_point now) {
  draining_ = true;
  for (auto& [id, c] : connections_) {
    c.keep_alive = false;  // replies in flight are still written, then the connection closes
  }
  for (uint64_t id : ids_where([](const Connection& c) { return c.state == State::kReading; })) {
    Connection& c = connections_.at(id);
    if (!c.started) {
      close_connection(id);  // idle
      continue;
    }
    ++metrics_.requests;  // half-sent: told why, then closed
    const Refusal refusal = shutting_down();
    respond_error(id, c, 503, refusal.code, refusal.message, now, refusal.retry_after_ms);
  }
}

HttpGateway::HttpGateway(const ServerConfig& config, Metrics& metrics, Admission& admission,
                         std::function<bool(Job&)> submit)
    : impl_(std::make_unique<Impl>(config, metrics, admission, std::move(submit))) {}

HttpGateway::~HttpGateway() = default;

}  // namespace safrl::serve
