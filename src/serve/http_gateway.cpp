#include "serve/http_gateway.h"

#include <algorithm>
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
    ++metrics_.requests;
    std::string body;
    std::optional<int64_t> retry_after_ms;
    get_reward(request.body, &response.status, &body, &retry_after_ms);
    if (response.status != 200) ++metrics_.error_replies;
    if (retry_after_ms) {
      response.set_header("Retry-After", std::to_string((*retry_after_ms + 999) / 1000));
    }
    response.set_content(body, "application/json");
  });
  // /get_reward takes POST only: the other methods get 405 with a JSON error, not an empty 404.
  const auto wrong_method = [this](const httplib::Request& request, httplib::Response& response) {
    ++metrics_.requests;
    ++metrics_.error_replies;
    response.status = 405;
    response.set_header("Allow", "POST");
    response.set_content(
        json{{"error", error_reply("", ErrorCode::kBadRequest,
                                   util::cat(request.method, " /get_reward: use POST"))["error"]}}
            .dump(),
        "application/json");
  };
  http_->Get("/get_reward", wrong_method);
  http_->Put("/get_reward", wrong_method);
  http_->Delete("/get_reward", wrong_method);
  http_->Patch("/get_reward", wrong_method);
  // A body over the bound is refused from its Content-Length, or once that much has arrived,
  // without reading the rest into memory.
  http_->set_payload_max_length(static_cast<size_t>(config_.max_message_bytes));
  // What the library answers itself (an unknown path, a body over the bound, a request it cannot
  // read) gets a JSON error too.
  http_->set_error_handler([this](const httplib::Request& request, httplib::Response& response) {
    if (!response.body.empty()) return;
    ++metrics_.requests;
    ++metrics_.error_replies;
    const ErrorCode code = response.status == 413 ? ErrorCode::kTooLarge : ErrorCode::kBadRequest;
    const std::string message =
        response.status == 413
            ? util::cat("the body is over the server's limit of ", config_.max_message_bytes,
                        " bytes (server.max_message_bytes); send fewer queries per request")
        : response.status == 404
            ? util::cat("no endpoint ", request.path,
                        "; the endpoints are POST /get_reward, GET /health "
                        "and GET /metrics")
            : util::cat("the request could not be read (HTTP ", response.status, ")");
    response.set_content(json{{"error", error_reply("", code, message)["error"]}}.dump(
                             -1, ' ', false, json::error_handler_t::replace),
                         "application/json");
  });
  // Only the listed clients get past routing (HTTP has no authentication of its own).
  if (!config_.http_allowed_clients.empty()) {
    http_->set_pre_routing_handler([this](const httplib::Request& request,
                                          httplib::Response& response) {
      const auto& allowed = config_.http_allowed_clients;
      if (std::find(allowed.begin(), allowed.end(), request.remote_addr) != allowed.end()) {
        return httplib::Server::HandlerResponse::Unhandled;
      }
      ++metrics_.requests;
      ++metrics_.error_replies;
      response.status = 403;
      response.set_content(
          json{{"error", error_reply("", ErrorCode::kBadRequest,
                                     util::cat("client ", request.remote_addr,
                                               " is not in server.http_allowed_clients"))["error"]}}
              .dump(),
          "application/json");
      return httplib::Server::HandlerResponse::Handled;
    });
  }
  const int port = static_cast<int>(config_.http_port);
  if (!http_->bind_to_port(config_.http_address.c_str(), port)) {
    throw util::LoadError(util::cat("cannot listen on ", config_.http_address, ":", port,
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
    // The message may quote the request's bytes (a JSON parse error does): never fail on them.
    *reply = json{{"error", error_reply("", code, message, retry_after)["error"]}}.dump(
        -1, ' ', false, json::error_handler_t::replace);
  };
  if (static_cast<int64_t>(body.size()) > config_.max_message_bytes) {
    return answer_error(ErrorCode::kTooLarge, util::cat("the body of ", body.size(),
                                                        " bytes is over the server's limit"));
  }
  std::vector<reward::Sample> samples;
  try {
    samples = openrlhf::samples_from_body(json::parse(body));
  } catch (const json::exception& e) {
    return answer_error(ErrorCode::kBadRequest, util::cat("the body is not JSON: ", e.what()));
  } catch (const ProtocolError& e) {
    return answer_error(e.code(), e.what());
  }
  // OpenRLHF cannot split a batch (up to 0.9.0 it posts the whole rollout batch): a batch over
  // the admission bound is scored in parts, each admitted as room frees up, and answered whole.
  const size_t part =
      static_cast<size_t>(std::min(config_.max_queued_samples, config_.max_batch_samples));
  std::vector<std::future<Reply>> parts;
  const auto give_up = Clock::now() + kAdmissionWait;
  for (size_t begin = 0; begin < samples.size(); begin += part) {
    const size_t end = std::min(samples.size(), begin + part);
    Job job;
    job.request.type = RequestType::kScore;
    job.request.samples.assign(samples.begin() + static_cast<std::ptrdiff_t>(begin),
                               samples.begin() + static_cast<std::ptrdiff_t>(end));
    job.request.group_of.assign(job.request.samples.size(), -1);
    job.arrival = Clock::now();
    auto promise = std::make_shared<std::promise<Reply>>();
    parts.push_back(promise->get_future());
    job.done = [promise](Reply done) { promise->set_value(std::move(done)); };
    if (std::optional<Refusal> refusal = admission_.admit_by(job.admitted_samples(), give_up)) {
      // Parts already queued are still scored (and enter the step statistics); the trainer
      // retries the batch.
      return answer_error(refusal->code, refusal->message, refusal->retry_after_ms);
    }
    const int64_t admitted = job.admitted_samples();
    if (!submit_(job)) {  // the server stopped between admission and queueing
      admission_.release(admitted);
      const Refusal refusal = shutting_down();
      return answer_error(refusal.code, refusal.message, refusal.retry_after_ms);
    }
    ++metrics_.score_requests;
  }
  json results = json::array();
  std::optional<Reply> failed;
  for (auto& pending : parts) {
    Reply done = pending.get();
    if (done.error) {
      if (!failed) failed = std::move(done);
      continue;
    }
    for (auto& result : done.body["results"]) results.push_back(std::move(result));
  }
  if (failed) return answer_error(*failed->error, failed->body["error"].value("message", ""));
  *status = 200;
  *reply =
      openrlhf::reply_from_results(results).dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace safrl::serve
