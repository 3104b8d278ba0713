#include "serve/http_gateway.h"

#include <atomic>
#include <string>
#include <thread>
#include <utility>

#include "serve/http_response.h"
#include "serve/http_transport.h"
#include "serve/openrlhf_route.h"
#include "util/error.h"
#include "util/log.h"

namespace safrl::serve {
namespace {

HttpResponse method_not_allowed(std::string_view method, std::string_view path,
                                std::string_view use, const char* allow) {
  HttpResponse refusal =
      json_error(405, {ErrorCode::kBadRequest, util::cat(method, " ", path, ": use ", use)});
  refusal.headers.emplace_back("Allow", allow);
  return refusal;
}

}  // namespace

struct HttpGateway::Impl : HttpTransport::Handler {
  Impl(const ServerConfig& config, Metrics& metrics, Admission& admission,
       std::function<bool(Job&)> submit)
      : metrics_(metrics),
        admission_(admission),
        deadlines_(http_deadlines(config)),
        transport_(config, deadlines_, metrics, *this),
        route_(config, deadlines_, metrics, admission, std::move(submit), transport_) {
    thread_ = std::thread([this] { run(); });
  }
  ~Impl() override {
    stop_ = true;
    route_.wake().notify();
    if (thread_.joinable()) thread_.join();
  }

  void run();
  void step();
  // Routes a complete request: the endpoints at the top of http_gateway.h.
  void serve(const HttpExchange& exchange, HttpRequest request, Clock::time_point now) override;
  void forget(uint64_t connection) override { route_.forget(connection); }
  // /health's body: "ok", or "degraded: ..." while the step logs cannot be written.
  std::string health_text() const;

  Metrics& metrics_;
  Admission& admission_;
  const HttpDeadlines deadlines_;
  HttpTransport transport_;
  OpenRlhfRoute route_;
  bool stopping_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

void HttpGateway::Impl::run() {
  while (true) {
    try {
      step();
    } catch (const std::exception& e) {
      // Nothing here may end the thread while the server runs: say what happened and go on.
      util::log_error("http", e.what());
    }
    if (transport_.stopped(Clock::now())) return;
  }
}

void HttpGateway::Impl::step() {
  Clock::time_point now = Clock::now();
  if (stop_ && !stopping_) {
    stopping_ = true;
    transport_.stop(now);
  }
  if (!transport_.draining() && admission_.stopped()) transport_.drain(now);
  std::optional<Clock::time_point> retry;
  if (route_.waiting()) retry = now + deadlines_.admission_retry;
  const bool mail = transport_.poll(route_.wake().fd(), retry);
  now = Clock::now();
  if (mail) route_.deliver(now);
  transport_.dispatch(now);
  route_.retry_waiting(now);  // bodies waiting for room
  transport_.expire(now);
}

void HttpGateway::Impl::serve(const HttpExchange& exchange, HttpRequest request,
                              Clock::time_point now) {
  const uint64_t id = exchange.connection;
  const std::string_view path = request.path();
  if (exchange.probe && path != "/health" && path != "/metrics") {
    ++metrics_.requests;
    return transport_.respond(
        id, json_error({ErrorCode::kBusy, transport_.connections_full_message(), 1000}), now);
  }
  if (path == "/health" || path == "/metrics") {
    if (request.method != "GET" && request.method != "HEAD") {
      ++metrics_.requests;
      return transport_.respond(id, method_not_allowed(request.method, path, "GET", "GET, HEAD"),
                                now);
    }
    HttpResponse response;
    if (path == "/metrics") {
      response.content_type = "text/plain; version=0.0.4";
      response.body = metrics_.prometheus();
    } else {
      response.content_type = "text/plain";
      response.status = transport_.draining() ? 503 : 200;
      response.body = transport_.draining() ? "draining\n" : health_text();
    }
    return transport_.respond(id, std::move(response), now);
  }
  ++metrics_.requests;
  if (path != "/get_reward") {
    return transport_.respond(
        id,
        json_error(404, {ErrorCode::kBadRequest, util::cat("no endpoint ", path,
                                                           "; the endpoints are POST /get_reward, "
                                                           "GET /health and GET /metrics")}),
        now);
  }
  if (request.method != "POST") {
    return transport_.respond(id, method_not_allowed(request.method, path, "POST", "POST"), now);
  }
  if (transport_.draining()) {
    return transport_.respond(id, json_error(shutting_down()), now);
  }
  route_.start(exchange, std::move(request));
}

std::string HttpGateway::Impl::health_text() const {
  if (!metrics_.degraded()) return "ok\n";
  // Still 200: rewards are served; only statistics wait for the disk.
  return util::cat("degraded: ", metrics_.step_rows_unwritten.load(),
                   " step row(s) held in memory, the run directory cannot be written (",
                   metrics_.step_log_error(), "); rewards are unaffected\n");
}

HttpGateway::HttpGateway(const ServerConfig& config, Metrics& metrics, Admission& admission,
                         std::function<bool(Job&)> submit)
    : impl_(std::make_unique<Impl>(config, metrics, admission, std::move(submit))) {}

HttpGateway::~HttpGateway() = default;

}  // namespace safrl::serve
