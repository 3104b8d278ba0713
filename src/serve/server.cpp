#include "serve/server.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <httplib.h>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "reward/scorer.h"
#include "serve/metrics.h"
#include "serve/openrlhf.h"
#include "serve/protocol.h"
#include "serve/step_logger.h"
#include "util/error.h"
#include "util/process_memory.h"

namespace safrl::serve {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

std::atomic<bool> g_stop{false};

constexpr const char* kRepliesEndpoint = "inproc://safrl-replies";

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Work for the engine thread. `done` runs on the engine thread exactly once.
struct Job {
  Request request;
  Clock::time_point arrival;
  std::optional<Clock::time_point> deadline;
  std::function<void(json reply)> done;
};

// FIFO between the request threads and the engine thread.
class JobQueue {
 public:
  void push(Job job) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      jobs_.push_back(std::move(job));
    }
    ready_.notify_one();
  }
  // Jobs from the front until `max_samples` samples are taken (at least one job); empty once
  // closed and drained.
  std::vector<Job> take(int64_t max_samples) {
    std::unique_lock<std::mutex> lock(mutex_);
    ready_.wait(lock, [&] { return closed_ || !jobs_.empty(); });
    std::vector<Job> out;
    int64_t samples = 0;
    while (!jobs_.empty() &&
           (out.empty() ||
            samples + static_cast<int64_t>(jobs_.front().request.samples.size()) <= max_samples)) {
      samples += static_cast<int64_t>(jobs_.front().request.samples.size());
      out.push_back(std::move(jobs_.front()));
      jobs_.pop_front();
    }
    return out;
  }
  void close() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      closed_ = true;
    }
    ready_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Job> jobs_;
  bool closed_ = false;
};

// A client's address on the ROUTER: its identity frame, and the empty delimiter frame when it
// sent one (REQ sockets), which the reply must carry back.
struct Peer {
  std::string identity;
  bool delimiter = false;
};

// What the I/O thread knows of a request id.
struct IdState {
  std::vector<Peer> waiting;         // in flight: who to answer
  std::string reply;                 // completed: the reply frame
  Clock::time_point completed_at{};  // completed when reply is set
};

}  // namespace

struct Server::Impl {
  explicit Impl(const ServeOptions& options);
  ~Impl();

  int run();
  void engine_loop();
  void handle_request(const Peer& peer, const std::string& frame);
  void send(const Peer& peer, const std::string& frame);
  void deliver(const std::string& id, const std::string& frame, bool cacheable);
  void score_jobs(std::vector<Job>& jobs);
  json info_reply(const std::string& id, bool deep);
  json stats_reply(const std::string& id, bool flush);
  void start_http();
  void start_zap();
  // Queues a score job unless admission is full; returns the refusal, if any.
  std::optional<json> admit(Job& job);

  ServeOptions options_;
  reward::Scorer scorer_;
  StepLogger steps_;
  Metrics metrics_;
  JobQueue queue_;
  zmq::context_t context_;
  zmq::socket_t router_;
  zmq::socket_t replies_in_;   // I/O thread's end of the inproc pair
  zmq::socket_t replies_out_;  // engine thread's end
  std::string endpoint_;
  std::unordered_map<std::string, IdState> ids_;
  std::deque<std::pair<Clock::time_point, std::string>> completed_order_;
  std::thread engine_thread_;
  std::unique_ptr<httplib::Server> http_;
  std::thread http_thread_;
  std::thread zap_thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> in_flight_jobs_{0};
  json models_;
};

Server::Impl::Impl(const ServeOptions& options)
    : options_(options),
      scorer_(options.config),
      steps_(options.run_dir),
      context_(1),
      router_(context_, zmq::socket_type::router),
      replies_in_(context_, zmq::socket_type::pair),
      replies_out_(context_, zmq::socket_type::pair) {
  const reward::ServerConfig& server = options_.config.server;
  router_.set(zmq::sockopt::router_mandatory, 1);
  router_.set(zmq::sockopt::linger, 1000);
  // Frames far over the limit drop the connection inside ZeroMQ; those just over it get a
  // too_large reply from decode_request.
  router_.set(zmq::sockopt::maxmsgsize, server.max_message_bytes * 2 + (1 << 20));
  if (server.curve) {
    start_zap();
    router_.set(zmq::sockopt::curve_server, 1);
    router_.set(zmq::sockopt::curve_secretkey, server.curve->secret_key);
    router_.set(zmq::sockopt::zap_domain, "safrl");
  }
  try {
    router_.bind(server.endpoint);
  } catch (const zmq::error_t& e) {
    throw util::LoadError(util::cat("cannot bind ", server.endpoint, ": ", e.what(),
                                    "; is another server running there? Give another "
                                    "--endpoint"));
  }
  endpoint_ = router_.get(zmq::sockopt::last_endpoint);
  replies_in_.bind(kRepliesEndpoint);
  replies_out_.connect(kRepliesEndpoint);
  models_ = scorer_.models();
  engine_thread_ = std::thread([this] { engine_loop(); });
  if (server.http_port > 0) start_http();
}

Server::Impl::~Impl() {
  queue_.close();
  if (engine_thread_.joinable()) engine_thread_.join();
  if (http_) http_->stop();
  if (http_thread_.joinable()) http_thread_.join();
  router_.close();
  replies_in_.close();
  replies_out_.close();
  context_.shutdown();
  if (zap_thread_.joinable()) zap_thread_.join();
}

void Server::Impl::start_zap() {
  zap_thread_ = std::thread([this] {
    zmq::socket_t zap(context_, zmq::socket_type::rep);
    zap.bind("inproc://zeromq.zap.01");
    const auto& allowed = options_.config.server.curve->allowed_client_keys;
    while (true) {
      std::vector<zmq::message_t> request;
      try {
        if (!zmq::recv_multipart(zap, std::back_inserter(request))) continue;
      } catch (const zmq::error_t&) {
        return;  // context shut down
      }
      // ZAP request: version, request id, domain, address, identity, mechanism, credentials...
      if (request.size() < 7) continue;
      std::string status = "400", text = "not a CURVE client";
      if (request[5].to_string() == "CURVE" && request[6].size() == 32) {
        char z85[41] = {};
        zmq_z85_encode(z85, static_cast<const uint8_t*>(request[6].data()), 32);
        const bool ok =
            std::find(allowed.begin(), allowed.end(), std::string(z85)) != allowed.end();
        status = ok ? "200" : "400";
        text = ok ? "OK" : "client key not allowed";
      }
      std::array<zmq::const_buffer, 6> reply = {
          zmq::str_buffer("1.0"), zmq::buffer(request[1].data(), request[1].size()),
          zmq::buffer(status),    zmq::buffer(text),
          zmq::str_buffer(""),    zmq::str_buffer("")};
      zmq::send_multipart(zap, reply);
    }
  });
}

std::optional<json> Server::Impl::admit(Job& job) {
  // A deep health check runs the models too: it counts as one sample.
  const int64_t count = std::max<int64_t>(1, static_cast<int64_t>(job.request.samples.size()));
  if (stopping_) {
    return error_reply(job.request.id, ErrorCode::kShuttingDown,
                       "the server is shutting down; retry on another endpoint or later", 1000);
  }
  const int64_t limit = options_.config.server.max_queued_samples;
  if (count > limit) {
    return error_reply(job.request.id, ErrorCode::kBadRequest,
                       util::cat("the request has ", count,
                                 " samples, more than the server "
                                 "holds at once (",
                                 limit, "); split it into smaller requests"));
  }
  if (metrics_.queued_samples + count > limit) {
    ++metrics_.busy_replies;
    const int64_t queued = metrics_.queued_samples;
    return error_reply(job.request.id, ErrorCode::kBusy,
                       util::cat("the server holds ", queued, " samples, its bound is ", limit,
                                 "; retry later with the same id"),
                       std::min<int64_t>(5000, 50 + queued));
  }
  metrics_.queued_samples += count;
  ++metrics_.score_requests;
  ++in_flight_jobs_;
  queue_.push(std::move(job));
  return std::nullopt;
}

void Server::Impl::send(const Peer& peer, const std::string& frame) {
  try {
    // Never block the I/O thread: a client that stops reading fills its pipe, and its reply is
    // then dropped (its retry is answered from the reply cache). Once the first frame is taken,
    // ZeroMQ takes the whole message.
    if (!router_.send(zmq::buffer(peer.identity),
                      zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
      return;
    }
    if (peer.delimiter) router_.send(zmq::str_buffer(""), zmq::send_flags::sndmore);
    router_.send(zmq::buffer(frame), zmq::send_flags::none);
  } catch (const zmq::error_t&) {
    // The client is gone (ROUTER_MANDATORY says so): nothing to deliver to.
  }
}

void Server::Impl::handle_request(const Peer& peer, const std::string& frame) {
  ++metrics_.requests;
  Request request;
  try {
    request = decode_request(frame, static_cast<size_t>(options_.config.server.max_message_bytes));
  } catch (const ProtocolError& e) {
    ++metrics_.error_replies;
    send(peer, encode(error_reply(e.request_id(), e.code(), e.what())));
    return;
  } catch (const std::exception& e) {
    // A decoding path that should have been a ProtocolError: answer, never die.
    ++metrics_.error_replies;
    send(peer, encode(error_reply("", ErrorCode::kInternal,
                                  util::cat("the request could not be read: ", e.what()))));
    return;
  }
  switch (request.type) {
    case RequestType::kPing:
      send(peer, encode({{"type", "pong"},
                         {"id", request.id},
                         {"time_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count()}}));
      return;
    case RequestType::kStats:
      send(peer, encode(stats_reply(request.id, request.flush)));
      return;
    case RequestType::kInfo:
      if (!request.deep) {
        send(peer, encode(info_reply(request.id, false)));
        return;
      }
      break;
    case RequestType::kScore:
      break;
  }
  auto known = ids_.find(request.id);
  if (known != ids_.end()) {
    // A retry: answer from the cache, or with the original when it completes.
    ++metrics_.deduplicated;
    if (known->second.reply.empty()) {
      known->second.waiting.push_back(peer);
    } else {
      send(peer, known->second.reply);
    }
    return;
  }
  Job job;
  job.arrival = Clock::now();
  if (request.deadline_ms)
    job.deadline = job.arrival + std::chrono::milliseconds(*request.deadline_ms);
  job.request = std::move(request);
  const std::string id = job.request.id;
  job.done = [this, id](json reply) {
    // Runs on the engine thread, which owns the other end of the inproc pair.
    replies_out_.send(zmq::buffer(id), zmq::send_flags::sndmore);
    replies_out_.send(zmq::buffer(encode(std::move(reply))), zmq::send_flags::none);
  };
  if (auto refusal = admit(job)) {
    ++metrics_.error_replies;
    send(peer, encode(*refusal));
    return;
  }
  ids_[id].waiting.push_back(peer);
}

void Server::Impl::deliver(const std::string& id, const std::string& frame, bool cacheable) {
  auto it = ids_.find(id);
  if (it == ids_.end()) return;
  for (const Peer& peer : it->second.waiting) send(peer, frame);
  if (!cacheable) {
    ids_.erase(it);
    return;
  }
  it->second.waiting.clear();
  it->second.reply = frame;
  it->second.completed_at = Clock::now();
  completed_order_.emplace_back(it->second.completed_at, id);
}

json Server::Impl::info_reply(const std::string& id, bool deep) {
  json reply = {{"type", "info"},
                {"id", id},
                {"protocol", kProtocolVersion},
                {"version", "0.1.0"},
                {"config", reward::config_to_json(options_.config)},
                {"models", models_}};
  if (deep) reply["deep_check"] = "ok";
  return reply;
}

json Server::Impl::stats_reply(const std::string& id, bool flush) {
  json reply = {{"type", "stats"}, {"id", id}, {"steps", steps_.pending()}};
  reply["flushed"] = flush ? json(steps_.flush_all()) : json::array();
  const util::ProcessMemory memory = util::process_memory();  // one read of /proc/self/status
  reply["counters"] = {{"queued_samples", metrics_.queued_samples.load()},
                       {"requests", metrics_.requests.load()},
                       {"samples", metrics_.samples.load()},
                       {"busy_replies", metrics_.busy_replies.load()},
                       {"deduplicated", metrics_.deduplicated.load()},
                       {"tokens", metrics_.tokens.load()},
                       {"prefix_tokens_saved", metrics_.prefix_tokens_saved.load()},
                       {"resident_bytes", memory.resident_bytes},
                       {"peak_resident_bytes", memory.peak_resident_bytes}};
  return reply;
}

void Server::Impl::engine_loop() {
  while (true) {
    std::vector<Job> jobs = queue_.take(options_.config.server.max_batch_samples);
    if (jobs.empty()) return;
    std::vector<Job> to_score;
    const auto now = Clock::now();
    for (Job& job : jobs) {
      if (job.deadline && now > *job.deadline) {
        job.done(error_reply(job.request.id, ErrorCode::kDeadlineExceeded,
                             util::cat("the deadline of ", *job.request.deadline_ms,
                                       " ms passed before the work ran; retry with a new one")));
        metrics_.queued_samples -= static_cast<int64_t>(job.request.samples.size());
        --in_flight_jobs_;
      } else if (job.request.type == RequestType::kInfo) {
        json reply;
        try {
          // The deep check: the models answer a one-sample request.
          reward::Sample probe;
          probe.prompt = "ping";
          probe.answer = "pong";
          scorer_.score({probe});
          reply = info_reply(job.request.id, true);
        } catch (const std::exception& e) {
          reply = error_reply(job.request.id, ErrorCode::kInternal,
                              util::cat("the deep check failed: ", e.what()));
        }
        job.done(reply);
        metrics_.queued_samples -= 1;  // admitted as one sample
        --in_flight_jobs_;
      } else {
        to_score.push_back(std::move(job));
      }
    }
    if (!to_score.empty()) score_jobs(to_score);
  }
}

void Server::Impl::score_jobs(std::vector<Job>& jobs) {
  // One pass over the samples of every job; a job that fails on its own is answered alone.
  auto run = [&](std::vector<Job*> batch) {
    std::vector<reward::Sample> samples;
    for (Job* job : batch) {
      samples.insert(samples.end(), job->request.samples.begin(), job->request.samples.end());
    }
    const auto start = Clock::now();
    const auto before = scorer_.timing();
    std::vector<reward::ScoredSample> scored = scorer_.score(samples);
    const auto after = scorer_.timing();
    const auto end = Clock::now();
    metrics_.samples += static_cast<int64_t>(samples.size());
    metrics_.last_batch_samples = static_cast<int64_t>(samples.size());
    const int64_t tokens = after.guard.prefill_tokens - before.guard.prefill_tokens +
                           after.helpfulness_tokens - before.helpfulness_tokens;
    metrics_.last_batch_tokens = tokens;
    metrics_.tokens += tokens;
    metrics_.prefix_tokens_saved +=
        after.guard.prefix_tokens_saved - before.guard.prefix_tokens_saved;
    size_t next = 0;
    for (Job* job : batch) {
      json results = json::array();
      for (const reward::Sample& sample : job->request.samples) {
        const reward::ScoredSample& s = scored[next++];
        results.push_back(scorer_.to_json(sample, s));
        steps_.add(reward::make_outcome(sample.step.value_or(0), options_.config.reward, s.answer,
                                        s.thinking, s.result, s.helpfulness, s.tokens),
                   job->arrival);
      }
      job->done({{"type", "score"},
                 {"id", job->request.id},
                 {"results", std::move(results)},
                 {"timing",
                  {{"queue_ms", 1000 * seconds_between(job->arrival, start)},
                   {"compute_ms", 1000 * seconds_between(start, end)}}}});
      metrics_.observe_latency(seconds_between(job->arrival, end));
    }
  };
  auto finish = [&](Job& job) {
    metrics_.queued_samples -= static_cast<int64_t>(job.request.samples.size());
    --in_flight_jobs_;
  };
  std::vector<Job*> all;
  for (Job& job : jobs) all.push_back(&job);
  try {
    run(all);
  } catch (const util::InputError&) {
    for (Job* job : all) {
      try {
        run({job});
      } catch (const util::TooLongError& e) {
        job->done(error_reply(job->request.id, ErrorCode::kTooLong, e.what()));
      } catch (const util::InputError& e) {
        job->done(error_reply(job->request.id, ErrorCode::kBadRequest, e.what()));
      } catch (const std::exception& e) {
        job->done(error_reply(job->request.id, ErrorCode::kInternal, e.what()));
      }
    }
  } catch (const std::exception& e) {
    for (Job* job : all) {
      job->done(error_reply(job->request.id, ErrorCode::kInternal,
                            util::cat("scoring failed: ", e.what())));
    }
  }
  for (Job& job : jobs) finish(job);
}

void Server::Impl::start_http() {
  http_ = std::make_unique<httplib::Server>();
  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
    response.set_content(metrics_.prometheus(), "text/plain; version=0.0.4");
  });
  http_->Get("/health", [this](const httplib::Request&, httplib::Response& response) {
    response.set_content(stopping_ ? "draining\n" : "ok\n", "text/plain");
    response.status = stopping_ ? 503 : 200;
  });
  http_->Post("/get_reward", [this](const httplib::Request& request, httplib::Response& response) {
    auto answer = [&](const json& error) {
      const std::string code = error["error"]["code"];
      response.status = openrlhf::http_status(code);
      if (error["error"].contains("retry_after_ms")) {
        const int64_t ms = error["error"]["retry_after_ms"];
        response.set_header("Retry-After", std::to_string((ms + 999) / 1000));
      }
      response.set_content(json{{"error", error["error"]}}.dump(), "application/json");
    };
    if (static_cast<int64_t>(request.body.size()) > options_.config.server.max_message_bytes) {
      return answer(error_reply(
          "", ErrorCode::kTooLarge,
          util::cat("the body of ", request.body.size(), " bytes is over the server's limit")));
    }
    Job job;
    try {
      job.request.samples = openrlhf::samples_from_body(json::parse(request.body));
    } catch (const json::exception& e) {
      return answer(
          error_reply("", ErrorCode::kBadRequest, util::cat("the body is not JSON: ", e.what())));
    } catch (const ProtocolError& e) {
      return answer(error_reply("", e.code(), e.what()));
    }
    if (job.request.samples.empty()) {
      response.set_content(openrlhf::reply_from_results(json::array()).dump(), "application/json");
      return;
    }
    job.request.type = RequestType::kScore;
    job.request.group_of.assign(job.request.samples.size(), -1);
    job.arrival = Clock::now();
    auto promise = std::make_shared<std::promise<json>>();
    auto reply_future = promise->get_future();
    job.done = [promise](json reply) { promise->set_value(std::move(reply)); };
    // OpenRLHF gives up after five quick retries, so wait for admission (up to two minutes)
    // rather than answer busy while the work can still be done in time.
    const auto give_up = Clock::now() + std::chrono::seconds(120);
    std::optional<json> refusal;
    while ((refusal = admit(job)) && (*refusal)["error"]["code"] == "busy" &&
           Clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (refusal) return answer(*refusal);
    const json reply = reply_future.get();
    if (reply.value("type", "") == "error") return answer(reply);
    response.set_content(openrlhf::reply_from_results(reply["results"]).dump(), "application/json");
  });
  const int port = static_cast<int>(options_.config.server.http_port);
  if (!http_->bind_to_port("127.0.0.1", port)) {
    throw util::LoadError(util::cat("cannot listen on 127.0.0.1:", port,
                                    " for HTTP; give another "
                                    "--http-port or 0 to turn it off"));
  }
  http_thread_ = std::thread([this] { http_->listen_after_bind(); });
}

int Server::Impl::run() {
  std::cerr << "safrl serve: listening on " << endpoint_ << "; steps logged to " << options_.run_dir
            << std::endl;
  const auto cache_for = std::chrono::seconds(options_.config.server.reply_cache_seconds);
  zmq::pollitem_t items[] = {{router_.handle(), 0, ZMQ_POLLIN, 0},
                             {replies_in_.handle(), 0, ZMQ_POLLIN, 0}};
  while (true) {
    try {
      zmq::poll(items, 2, std::chrono::milliseconds(100));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
      items[0].revents = items[1].revents = 0;  // a signal: go on to the stop check below
    }
    if (items[1].revents & ZMQ_POLLIN) {
      std::vector<zmq::message_t> parts;
      while (
          zmq::recv_multipart(replies_in_, std::back_inserter(parts), zmq::recv_flags::dontwait)) {
        const std::string id = parts[0].to_string();
        const std::string frame = parts[1].to_string();
        const json reply = decode_reply(frame);
        // Refusals are not kept: a retry of that id is a fresh attempt.
        const bool cacheable = reply.value("type", "") != "error" ||
                               reply["error"].value("code", "") == "bad_request" ||
                               reply["error"].value("code", "") == "too_long";
        if (!cacheable) ++metrics_.error_replies;
        deliver(id, frame, cacheable);
        parts.clear();
      }
    }
    if (items[0].revents & ZMQ_POLLIN) {
      for (int burst = 0; burst < 256; ++burst) {
        std::vector<zmq::message_t> parts;
        if (!zmq::recv_multipart(router_, std::back_inserter(parts), zmq::recv_flags::dontwait)) {
          break;
        }
        if (parts.size() < 2 || parts.size() > 3 || (parts.size() == 3 && parts[1].size() != 0)) {
          continue;  // not a request a DEALER or REQ client sends; nothing to answer to
        }
        Peer peer{parts[0].to_string(), parts.size() == 3};
        handle_request(peer, parts.back().to_string());
      }
    }
    const auto now = Clock::now();
    while (!completed_order_.empty() && now - completed_order_.front().first > cache_for) {
      auto it = ids_.find(completed_order_.front().second);
      if (it != ids_.end() && it->second.completed_at == completed_order_.front().first) {
        ids_.erase(it);
      }
      completed_order_.pop_front();
    }
    if (g_stop && !stopping_) {
      stopping_ = true;
      std::cerr << "safrl serve: stopping; finishing " << in_flight_jobs_ << " request(s) in flight"
                << std::endl;
    }
    if (stopping_ && in_flight_jobs_ == 0) break;
  }
  queue_.close();
  if (engine_thread_.joinable()) engine_thread_.join();
  const auto flushed = steps_.flush_all();
  std::cerr << "safrl serve: stopped; flushed " << flushed.size() << " step(s)" << std::endl;
  return 0;
}

Server::Server(const ServeOptions& options) : impl_(std::make_unique<Impl>(options)) {}
Server::~Server() = default;
std::string Server::endpoint() const {
  return impl_->endpoint_;
}
int Server::run() {
  return impl_->run();
}
void Server::request_stop() {
  g_stop = true;
}

}  // namespace safrl::serve
