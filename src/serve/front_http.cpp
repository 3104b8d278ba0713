#include "serve/front_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <numeric>
#include <system_error>
#include <thread>

#include "io/http_client.h"
#include "serve/front_metrics.h"
#include "serve/http_listener.h"
#include "serve/http_request.h"
#include "serve/http_response.h"
#include "util/error.h"
#include "util/log.h"

namespace safrl::serve {

namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kTick = std::chrono::milliseconds(200);
// Longer than the supervisor takes to see its engine's death (front_engine.cpp polls every 0.1 s).
constexpr auto kDeathNoticed = std::chrono::seconds(1);
// How often a request waiting for an engine looks again.
constexpr auto kWaitStep = std::chrono::milliseconds(50);

double seconds_until(Clock::time_point until) {
  return std::max(0.1, std::chrono::duration<double>(until - Clock::now()).count());
}

void set_timeout(int fd, int option, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = (timeout.count() % 1000) * 1000;
  ::setsockopt(fd, SOL_SOCKET, option, &tv, sizeof tv);
}

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

HttpResponse text(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.content_type = "text/plain";
  response.body = std::move(body);
  return response;
}

}  // namespace

struct HttpFront::Impl {
  Impl(HttpFrontOptions options, std::vector<const EngineState*> engines, FrontCounters& counters);
  ~Impl();
  void accept_loop();
  void serve_connection(int fd);
  HttpResponse handle(const HttpRequest& request, io::HttpClient& engine);
  HttpResponse forward(const HttpRequest& request, io::HttpClient& engine);
  std::string front_metrics() const;
  bool stopping() const;
  size_t engines_up() const;

  HttpFrontOptions options_;
  std::vector<const EngineState*> engines_;
  std::atomic<size_t> next_engine_{0};  // round robin over the engines up
  FrontCounters& counters_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable idle_;
  size_t connections_ = 0;
  std::thread acceptor_;
};

HttpFront::Impl::Impl(HttpFrontOptions options, std::vector<const EngineState*> engines,
                      FrontCounters& counters)
    : options_(std::move(options)), engines_(std::move(engines)), counters_(counters) {
  const HttpListener listener = listen_http(options_.address, options_.port, false);
  listener_ = listener.fd;
  port_ = listener.port;
  acceptor_ = std::thread([this] { accept_loop(); });
}

HttpFront::Impl::~Impl() {
  stop_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  ::close(listener_);
  // Connection threads use this object until they end; each ends within a tick once its
  // request is answered.
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [&] { return connections_ == 0; });
}

void HttpFront::Impl::accept_loop() {
  while (!stop_) {
    pollfd item{listener_, POLLIN, 0};
    if (::poll(&item, 1, static_cast<int>(kTick.count())) <= 0) continue;
    sockaddr_in peer{};
    socklen_t length = sizeof peer;
    const int fd = ::accept4(listener_, reinterpret_cast<sockaddr*>(&peer), &length, SOCK_CLOEXEC);
    if (fd < 0) continue;
    char text_address[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &peer.sin_addr, text_address, sizeof text_address);
    const auto& allowed = options_.allowed_clients;
    if (!allowed.empty() &&
        std::find(allowed.begin(), allowed.end(), text_address) == allowed.end()) {
      write_all(fd, serialize(json_error(
                        403, {ErrorCode::kBadRequest,
                              util::cat(text_address, " is not in server.http_allowed_clients")})));
      ::close(fd);
      continue;
    }
    {
      std::lock_guard lock(mutex_);
      if (connections_ >= options_.max_connections) {
        HttpResponse busy = json_error({ErrorCode::kBusy,
                                        "the front has server.http_max_connections connections "
                                        "open; retry later",
                                        1000});
        busy.close = true;
        write_all(fd, serialize(busy));
        ::close(fd);
        continue;
      }
      ++connections_;
    }
    auto finished = [this, fd] {
      ::close(fd);
      std::lock_guard lock(mutex_);
      --connections_;
      idle_.notify_all();
    };
    try {
      std::thread([this, fd, finished] {
        try {
          serve_connection(fd);
        } catch (const std::exception& e) {
          util::log_error("front", util::cat("HTTP: ", e.what()));
        }
        finished();
      }).detach();
    } catch (const std::system_error& e) {
      // No thread to be had: the client hears so instead of the front ending.
      write_all(fd, serialize(json_error({ErrorCode::kBusy,
                                          util::cat("the front cannot start a thread for the "
                                                    "connection (",
                                                    e.what(), "); retry later"),
                                          1000})));
      finished();
    }
  }
}

void HttpFront::Impl::serve_connection(int fd) {
  set_timeout(fd, SO_RCVTIMEO, kTick);
  set_timeout(fd, SO_SNDTIMEO, options_.read_timeout);
  HttpRequestReader reader(HttpLimits{32 << 10, 100, options_.max_body_bytes});
  io::HttpClient engine;
  auto last_activity = Clock::now();
  std::optional<Clock::time_point> started;
  char buffer[64 << 10];
  std::string_view received;
  while (true) {
    HttpRequestReader::Progress progress;
    try {
      progress = reader.feed(received);
    } catch (const HttpError& e) {
      HttpResponse refusal =
          json_error(e.status(), {error_code_of_http_status(e.status()), e.what()});
      refusal.close = true;
      write_all(fd, serialize(refusal));
      return;
    }
    received = {};
    if (progress == HttpRequestReader::Progress::kHeadersDone) {
      if (reader.request().expect_continue && !write_all(fd, "HTTP/1.1 100 Continue\r\n\r\n")) {
        return;
      }
      continue;
    }
    if (progress == HttpRequestReader::Progress::kComplete) {
      HttpRequest request = reader.take();
      HttpResponse response = handle(request, engine);
      response.close = response.close || !request.keep_alive || stop_;
      if (!write_all(fd, serialize(response, request.method == "HEAD")) || response.close) return;
      started.reset();
      last_activity = Clock::now();
      continue;
    }
    if (reader.started() && !started) started = Clock::now();
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n > 0) {
      received = std::string_view(buffer, static_cast<size_t>(n));
      last_activity = Clock::now();
      continue;
    }
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return;
    const auto now = Clock::now();
    if (started && now - *started > options_.read_timeout) {
      HttpResponse late =
          json_error(408, {ErrorCode::kBadRequest, util::cat("the request did not arrive within ",
                                                             options_.read_timeout.count(), " s")});
      late.close = true;
      write_all(fd, serialize(late));
      return;
    }
    if (!started && (stop_ || now - last_activity > options_.idle_timeout)) return;
  }
}

bool HttpFront::Impl::stopping() const {
  return std::any_of(engines_.begin(), engines_.end(), [](auto* e) { return e->stopping(); });
}

size_t HttpFront::Impl::engines_up() const {
  return std::count_if(engines_.begin(), engines_.end(), [](auto* e) { return e->up(); });
}

HttpResponse HttpFront::Impl::handle(const HttpRequest& request, io::HttpClient& engine) {
  const std::string_view path = request.path();
  const bool get = request.method == "GET" || request.method == "HEAD";
  if (path == "/health" && get) {
    if (stopping()) return text(503, "draining\n");
    const size_t up = engines_up();
    if (up == 0) return text(503, "restarting\n");
    if (up == engines_.size()) return text(200, "ok\n");
    return text(200, util::cat("ok: ", engines_.size() - up, " of ", engines_.size(),
                               " engines restarting\n"));
  }
  if (path == "/metrics" && get) {
    std::vector<std::string> texts;
    for (size_t e = 0; e < engines_.size(); ++e) {
      io::HttpResponse inner;
      if (engines_[e]->up()) inner = engine.get(options_.engine_urls[e] + "/metrics", 10);
      texts.push_back(inner.ok() ? inner.body : std::string());
    }
    HttpResponse response = text(200, front_metrics() + merge_engine_metrics(texts));
    response.content_type = "text/plain; version=0.0.4";
    return response;
  }
  if (!get && request.method != "POST") {
    HttpResponse response = json_error(
        405,
        {ErrorCode::kBadRequest, util::cat(request.method, " is not served; use GET or POST")});
    response.headers.emplace_back("Allow", "GET, HEAD, POST");
    return response;
  }
  return forward(request, engine);
}

HttpResponse HttpFront::Impl::forward(const HttpRequest& request, io::HttpClient& engine) {
  const auto until = Clock::now() + options_.hold;
  ++counters_.requests;
  // An engine, at a generation, that will not answer it (it died with it or is draining).
  std::optional<std::pair<size_t, uint64_t>> avoid;
  bool again = false;
  while (true) {
    if (stopping()) {
      return json_error({ErrorCode::kShuttingDown,
                         "the front is stopping; retry on another endpoint or later", 1000});
    }
    std::optional<size_t> chosen;
    const size_t start = next_engine_++;
    for (size_t k = 0; k < engines_.size() && !chosen; ++k) {
      const size_t e = (start + k) % engines_.size();
      if (engines_[e]->up() && avoid != std::make_pair(e, engines_[e]->generation())) chosen = e;
    }
    if (!chosen) {
      if (Clock::now() >= until) {
        ++counters_.refused;
        return json_error(
            {ErrorCode::kUnavailable,
             util::cat("the engine was not back within ", options_.hold.count(), " s; retry later"),
             5000});
      }
      std::this_thread::sleep_for(kWaitStep);
      continue;
    }
    const EngineState& state = *engines_[*chosen];
    const uint64_t generation = state.generation();
    if (again) ++counters_.resent;
    again = true;
    const std::string url = options_.engine_urls[*chosen] + request.target;
    const io::HttpResponse inner = request.method == "POST"
                                       ? engine.post_json(url, request.body, seconds_until(until))
                                       : engine.get(url, seconds_until(until));
    const bool draining =
        inner.status == 503 && inner.body.find("\"shutting_down\"") != std::string::npos;
    if (inner.answered() && !(draining && !stopping())) {
      HttpResponse response;
      response.status = static_cast<int>(inner.status);
      response.body = inner.body;
      if (inner.status == 503) response.headers.emplace_back("Retry-After", "1");
      return response;
    }
    if (!inner.answered()) {
      // No answer: the engine died with the request (its supervisor sees that within a tick),
      // or a kept-alive connection had gone stale (then the same engine gets it again).
      state.wait_up(generation, std::min(until, Clock::now() + kDeathNoticed));
      if (state.up() && state.generation() == generation) continue;
    }
    avoid = std::make_pair(*chosen, generation);
  }
}

std::string HttpFront::Impl::front_metrics() const {
  const int64_t restarts =
      std::accumulate(engines_.begin(), engines_.end(), int64_t{0},
                      [](int64_t sum, const EngineState* e) { return sum + e->restarts(); });
  return util::cat(
      "# TYPE safrl_front_engines_up gauge\nsafrl_front_engines_up ", engines_up(),
      "\n# TYPE safrl_front_engine_restarts_total counter\nsafrl_front_engine_restarts_total ",
      restarts, "\n# TYPE safrl_front_requests_total counter\nsafrl_front_requests_total ",
      counters_.requests.load(),
      "\n# TYPE safrl_front_resent_total counter\nsafrl_front_resent_total ",
      counters_.resent.load(),
      "\n# TYPE safrl_front_held_requests gauge\nsafrl_front_held_requests ", counters_.held.load(),
      "\n# TYPE safrl_front_dropped_replies_total counter\nsafrl_front_dropped_replies_total ",
      counters_.dropped_replies.load(),
      "\n# TYPE safrl_front_refused_total counter\nsafrl_front_refused_total ",
      counters_.refused.load(), "\n");
}

HttpFront::HttpFront(HttpFrontOptions options, std::vector<const EngineState*> engines,
                     FrontCounters& counters)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(engines), counters)) {}

HttpFront::~HttpFront() = default;

int HttpFront::port() const {
  return impl_->port_;
}

}  // namespace safrl::serve
