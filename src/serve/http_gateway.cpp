#include "serve/http_gateway.h"

#include <future>

#include <httplib.h>

#include "serve/openrlhf.h"
#include "util/error.h"

namespace safrl::serve {
namespace {

using nlohmann::json;

// OpenRLHF's client retries only a few times, quickly: waiting for room is kinder than busy.
constexpr auto kAdmissionWait = std::chrono::seconds(120);

}  // namespace

HttpGateway::HttpGateway(const ServerConfig& config, Metrics& metrics, Admission& admission,
                         std::function<bool(Job&)> submit)
    : config_(config),
      metrics_(metrics),
      admission_(admission),
      submit_(std::move(submit)),
      http_(std::make_unique<httplib::Server>()) {
  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
    response.set_content(metrics_.prometheus(), "text/plain; version=0.0.4");
  });
  http_->Get("/health", [this](const httplib::Request&, httplib::Response& response) {
    const bool stopping = admission_.stopped();
    response.set_content(stopping ? "draining\n" : "ok\n", "text/plain");
    response.status = stopping ? 503 : 200;
  });
  http_->Post("/get_reward", [this](const httplib::Request& request, httplib::Response& response) {
    std::string body;
    std::optional<int64_t> retry_after_ms;
    get_reward(request.body, &response.status, &body, &retry_after_ms);
    if (retry_after_ms) {
      response.set_header("Retry-After", std::to_string((*retry_after_ms + 999) / 1000));
    }
    response.set_content(body, "application/json");
  });
  const int port = static_cast<int>(config_.http_port);
  if (!http_->bind_to_port("127.0.0.1", port)) {
    throw util::LoadError(util::cat("cannot listen on 127.0.0.1:", port,
                                    " for HTTP; give another --http-port or 0 to turn it off"));
  }
  thread_ = std::thread([this] { http_->listen_after_bind(); });
}

HttpGateway::~HttpGateway() {
  http_->stop();
  if (thread_.joinable()) thread_.join();
}

void HttpGateway::get_reward(const std::string& body, int* status, std::string* reply,
                             std::optional<int64_t>* retry_after_ms) {
  auto answer_error = [&](ErrorCode code, const std::string& message,
                          std::optional<int64_t> retry_after = std::nullopt) {
    *status = openrlhf::http_status(std::string(error_code_name(code)));
    *retry_after_ms = retry_after;
    *reply = json{{"error", error_reply("", code, message, retry_after)["error"]}}.dump();
  };
  if (static_cast<int64_t>(body.size()) > config_.max_message_bytes) {
    return answer_error(ErrorCode::kTooLarge, util::cat("the body of ", body.size(),
                                                        " bytes is over the server's limit"));
  }
  Job job;
  try {
    job.request.samples = openrlhf::samples_from_body(json::parse(body));
  } catch (const json::exception& e) {
    return answer_error(ErrorCode::kBadRequest, util::cat("the body is not JSON: ", e.what()));
  } catch (const ProtocolError& e) {
    return answer_error(e.code(), e.what());
  }
  *status = 200;
  if (job.request.samples.empty()) {
    *reply = openrlhf::reply_from_results(json::array()).dump();
    return;
  }
  job.request.type = RequestType::kScore;
  job.request.group_of.assign(job.request.samples.size(), -1);
  job.arrival = Clock::now();
  auto promise = std::make_shared<std::promise<Reply>>();
  std::future<Reply> result = promise->get_future();
  job.done = [promise](Reply done) { promise->set_value(std::move(done)); };
  if (std::optional<Refusal> refusal =
          admission_.admit_by(job.admitted_samples(), Clock::now() + kAdmissionWait)) {
    return answer_error(refusal->code, refusal->message, refusal->retry_after_ms);
  }
  const int64_t admitted = job.admitted_samples();
  if (!submit_(job)) {  // the server stopped between admission and queueing
    admission_.release(admitted);
    return answer_error(ErrorCode::kShuttingDown,
                        "the server is shutting down; retry on another endpoint or later", 1000);
  }
  ++metrics_.score_requests;
  const Reply done = result.get();
  if (done.error) {
    return answer_error(*done.error, done.body["error"].value("message", ""));
  }
  *reply = openrlhf::reply_from_results(done.body["results"]).dump();
}

}  // namespace safrl::serve
