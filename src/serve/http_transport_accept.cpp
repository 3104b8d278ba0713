// HttpTransport's accepting of connections (http_transport.h): the allow-list, the regular and
// the probe slots, and the refusals answered at accept without taking a slot.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "serve/http_transport.h"
#include "util/error.h"

namespace safrl::serve {
namespace {

// Connections taken past server.http_max_connections for /health and /metrics only, so probes
// and scrapers are answered while clients hold every slot.
constexpr size_t kProbeSlots = 8;

}  // namespace

void HttpTransport::refuse(int fd, HttpResponse response, Clock::time_point now) {
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
  // Answered and closed like any reply (written, then lingering), without taking a slot.
  const uint64_t id = next_id_++;
  Connection& c = connections_.try_emplace(id, fd, /*is_refused=*/true, limits_).first->second;
  ++refused_;
  c.keep_alive = false;
  c.state = State::kServing;
  answer(id, c, std::move(response), now);
}

void HttpTransport::accept_connections(Clock::time_point now) {
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
      refuse(
          fd,
          json_error(403, {ErrorCode::kBadRequest,
                           util::cat("client ", text, " is not in server.http_allowed_clients")}),
          now);
      continue;
    }
    const bool full = open_connections() >= static_cast<size_t>(config_.http_max_connections);
    if (full && probes_ >= kProbeSlots && !evict_idle_probe()) {
      refuse(fd, json_error({ErrorCode::kBusy, connections_full_message(), 1000}), now);
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

bool HttpTransport::evict_idle_probe() {
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

void HttpTransport::count_connections() {
  metrics_.http_connections = static_cast<int64_t>(connections_.size() - refused_);
}

std::string HttpTransport::connections_full_message() const {
  return util::cat("the server has ", config_.http_max_connections,
                   " HTTP connections open (server.http_max_connections); retry later");
}

}  // namespace safrl::serve
