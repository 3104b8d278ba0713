#include "serve/http_transport.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "serve/admission.h"
#include "serve/http_listener.h"
#include "util/error.h"
#include "util/log.h"

namespace safrl::serve {
namespace {

constexpr size_t kReadChunk = 64 << 10;

}  // namespace

HttpDeadlines http_deadlines(const ServerConfig& config) {
  HttpDeadlines deadlines;
  deadlines.read = std::chrono::seconds(config.http_read_timeout_seconds);
  deadlines.idle = std::chrono::seconds(config.http_idle_timeout_seconds);
  return deadlines;
}

HttpTransport::HttpTransport(const ServerConfig& config, const HttpDeadlines& deadlines,
                             Metrics& metrics, Handler& handler)
    : config_(config),
      deadlines_(deadlines),
      metrics_(metrics),
      handler_(handler),
      limits_{32 << 10, 100, static_cast<size_t>(config.max_message_bytes)},
      max_held_bytes_(static_cast<size_t>(config.max_message_bytes) * 4) {
  listener_ = listen_http(config_.http_address, config_.http_port, true).fd;
}

HttpTransport::~HttpTransport() {
  for (auto& [id, c] : connections_) ::close(c.fd);
  metrics_.http_connections = 0;
  if (listener_ >= 0) ::close(listener_);
}

bool HttpTransport::poll(int wake_fd, std::optional<Clock::time_point> wake_by) {
  const Clock::time_point now = Clock::now();
  std::vector<pollfd> fds;
  std::vector<uint64_t> ids;
  fds.push_back({wake_fd, POLLIN, 0});
  listening_ = listener_ >= 0 && now >= accept_paused_until_;
  if (listening_) fds.push_back({listener_, POLLIN, 0});
  Clock::time_point wake = now + deadlines_.tick;
  for (const auto& [id, c] : connections_) {
    // While its reply is computed a connection is not read (one request at a time), only
    // watched for the client hanging up.
    const short events = c.state == State::kWriting   ? POLLOUT
                         : c.state == State::kServing ? POLLRDHUP
                                                      : POLLIN;
    fds.push_back({c.fd, events, 0});
    ids.push_back(id);
    if (c.state != State::kServing) wake = std::min(wake, c.deadline);
  }
  if (wake_by) wake = std::min(wake, *wake_by);
  if (stop_by_) wake = std::min(wake, *stop_by_);
  const auto timeout = ready_.empty()
                           ? std::max(std::chrono::milliseconds(0),
                                      std::chrono::ceil<std::chrono::milliseconds>(wake - now))
                           : std::chrono::milliseconds(0);
  if (::poll(fds.data(), fds.size(), static_cast<int>(timeout.count())) < 0 && errno != EINTR) {
    throw util::Error(util::cat("poll: ", std::strerror(errno)));
  }
  const size_t first = listening_ ? 2 : 1;
  listener_ready_ = listening_ && (fds[1].revents & POLLIN);
  events_.clear();
  for (size_t k = 0; k < ids.size(); ++k) {
    if (fds[first + k].revents != 0) events_.emplace_back(ids[k], fds[first + k].revents);
  }
  return fds[0].revents & POLLIN;
}

void HttpTransport::dispatch(Clock::time_point now) {
  if (listener_ready_) accept_connections(now);
  for (const auto& [id, events] : events_) {
    auto found = connections_.find(id);
    if (found == connections_.end()) continue;
    Connection& c = found->second;
    if (c.state == State::kServing && (events & (POLLRDHUP | POLLERR | POLLHUP))) {
      // The client left (OpenRLHF timing out, say): its slot and bytes are free now; what its
      // handler already queued is still done and its answer dropped.
      close_connection(id);
    } else if (c.state == State::kWriting && (events & (POLLOUT | POLLERR | POLLHUP))) {
      guarded(id, now, [&, id = id] { on_writable(id, c, now); });
    } else if ((c.state == State::kReading || c.state == State::kLingering) &&
               (events & (POLLIN | POLLERR | POLLHUP))) {
      guarded(id, now, [&, id = id] { on_readable(id, c, now); });
    }
  }
  events_.clear();
  // Requests already held (pipelined behind an answered one).
  while (!ready_.empty()) {
    const uint64_t id = ready_.back();
    ready_.pop_back();
    auto found = connections_.find(id);
    if (found != connections_.end() && found->second.state == State::kReading) {
      guarded(id, now, [&] { read_requests(id, found->second, {}, now); });
    }
  }
}

void HttpTransport::guarded(uint64_t connection, Clock::time_point now,
                            const std::function<void()>& handle) {
  try {
    handle();
  } catch (const std::exception& e) {
    // One connection's failure (a reply that cannot be built, memory) ends that connection,
    // answered 500 where it still can be, never the others nor the thread.
    util::log_error("http", e.what());
    auto found = connections_.find(connection);
    if (found == connections_.end()) return;
    Connection& c = found->second;
    if (c.state == State::kReading || c.state == State::kServing) {
      try {
        c.keep_alive = false;
        respond(
            connection,
            json_error({ErrorCode::kInternal, util::cat("the HTTP gateway failed: ", e.what())}),
            now);
        return;
      } catch (const std::exception&) {
      }
    }
    close_connection(connection);
  }
}

void HttpTransport::start_reading(uint64_t id, Connection& c, Clock::time_point now, bool fresh) {
  c.state = State::kReading;
  c.started = false;
  c.in_body = false;
  c.head_only = false;
  // A new connection must bring its request promptly; a kept-alive one may idle longer.
  c.deadline = now + (fresh ? deadlines_.read : deadlines_.idle);
  if (c.reader.buffered() > 0) ready_.push_back(id);
}

void HttpTransport::on_readable(uint64_t id, Connection& c, Clock::time_point now) {
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

void HttpTransport::on_writable(uint64_t id, Connection& c, Clock::time_point now) {
  while (c.written < c.out.size()) {
    const ssize_t n = ::send(c.fd, c.out.data() + c.written, c.out.size() - c.written,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      c.written += static_cast<size_t>(n);
      c.deadline = now + deadlines_.read;  // the client reads: give it time for the rest
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
  c.deadline = now + deadlines_.linger;
}

void HttpTransport::read_requests(uint64_t id, Connection& c, std::string_view bytes,
                                  Clock::time_point now) {
  try {
    HttpRequestReader::Progress progress = c.reader.feed(bytes);
    if (!c.started && c.reader.started()) {
      c.started = true;
      c.request_start = now;
      c.deadline = now + deadlines_.read;  // for the request line and headers
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
    respond(id, json_error(e.status(), {error_code_of_http_status(e.status()), message}), now);
  }
}

bool HttpTransport::accept_headers(Connection& c, Clock::time_point now) {
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

void HttpTransport::track_body(Connection& c, Clock::time_point now) {
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
  // min_body_bytes_per_second after one read timeout's grace.
  const auto by_rate = c.request_start + deadlines_.read +
                       std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                           static_cast<double>(received) / deadlines_.min_body_bytes_per_second));
  c.deadline = std::min(now + deadlines_.read, by_rate);
}

void HttpTransport::hold(Connection& c, size_t bytes) {
  held_bytes_ = held_bytes_ - c.held_bytes + bytes;
  c.held_bytes = bytes;
}

void HttpTransport::serve(uint64_t id, Connection& c, HttpRequest request, Clock::time_point now) {
  c.state = State::kServing;
  c.keep_alive = request.keep_alive;
  c.head_only = request.method == "HEAD";
  ++c.request;
  hold(c, request.body.size());       // until answered: the handler may still hold the body
  if (c.probe) c.keep_alive = false;  // a probe slot serves one request
  handler_.serve({id, c.request, c.probe}, std::move(request), now);
}

void HttpTransport::respond(uint64_t connection, HttpResponse response, Clock::time_point now) {
  auto found = connections_.find(connection);
  if (found != connections_.end()) answer(connection, found->second, std::move(response), now);
}

void HttpTransport::answer(uint64_t id, Connection& c, HttpResponse response,
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
  handler_.forget(id);
  hold(c, 0);
  c.state = State::kWriting;
  c.deadline = now + deadlines_.read;
  on_writable(id, c, now);
}

void HttpTransport::close_connection(uint64_t id) {
  auto found = connections_.find(id);
  if (found == connections_.end()) return;
  handler_.forget(id);
  hold(found->second, 0);
  ::close(found->second.fd);
  if (found->second.refused) --refused_;
  if (found->second.probe) --probes_;
  connections_.erase(found);
  count_connections();
}

std::vector<uint64_t> HttpTransport::ids_where(
    const std::function<bool(const Connection&)>& predicate) const {
  std::vector<uint64_t> ids;
  for (const auto& [id, c] : connections_) {
    if (predicate(c)) ids.push_back(id);
  }
  return ids;
}

void HttpTransport::expire(Clock::time_point now) {
  for (uint64_t id : ids_where([now](const Connection& c) {
         return c.state != State::kServing && now >= c.deadline;
       })) {
    if (!connections_.count(id)) continue;
    Connection& c = connections_.at(id);
    if (c.state == State::kReading && c.started) {
      ++metrics_.requests;
      respond(
          id,
          json_error(408, {ErrorCode::kBadRequest,
                           util::cat("the request did not arrive within ", deadlines_.read.count(),
                                     " s (server.http_read_timeout_seconds)")}),
          now);
      // The 408 gets a short while to leave; a client that reads nothing is closed after it.
      if (connections_.count(id)) connections_.at(id).deadline = now + deadlines_.linger;
    } else {
      close_connection(id);
    }
  }
}

void HttpTransport::drain(Clock::time_point now) {
  draining_ = true;
  for (auto& [id, c] : connections_) {
    c.keep_alive = false;  // replies in flight are still written, then the connection closes
  }
  for (uint64_t id : ids_where([](const Connection& c) { return c.state == State::kReading; })) {
    if (!connections_.at(id).started) {
      close_connection(id);  // idle
      continue;
    }
    ++metrics_.requests;  // half-sent: told why, then closed
    respond(id, json_error(shutting_down()), now);
  }
}

void HttpTransport::stop(Clock::time_point now) {
  stop_by_ = now + deadlines_.close_grace;
  drain(now);
  if (listener_ >= 0) ::close(listener_);
  listener_ = -1;
}

bool HttpTransport::stopped(Clock::time_point now) const {
  return stop_by_ && (now >= *stop_by_ ||
                      std::none_of(connections_.begin(), connections_.end(), [](const auto& entry) {
                        return entry.second.state == State::kWriting ||
                               entry.second.state == State::kServing;
                      }));
}

}  // namespace safrl::serve
