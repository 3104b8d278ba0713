#include "serve/server.h"

#include <atomic>
#include <cerrno>
#include <thread>

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "reward/scorer.h"
#include "serve/admission.h"
#include "serve/http_gateway.h"
#include "serve/idle_trim.h"
#include "serve/job.h"
#include "serve/mailbox.h"
#include "serve/metrics.h"
#include "serve/protocol.h"
#include "serve/reply_cache.h"
#include "serve/scoring_worker.h"
#include "serve/send_budget.h"
#include "serve/step_logger.h"
#include "serve/zap.h"
#include "util/error.h"
#include "util/log.h"
#include "util/process_memory.h"
#include "util/version.h"

namespace safrl::serve {

namespace {

using nlohmann::json;

std::atomic<bool> g_stop{false};

constexpr const char* kWakeEndpoint = "inproc://safrl-replies";

// A reply on its way from the engine thread to the I/O thread.
struct Outgoing {
  std::string id;
  Frame frame;
  std::optional<ErrorCode> error;
};

// Replies of the engine thread for the I/O thread, which polls the pair with its ROUTER.
using Outbox = Mailbox<Outgoing, ZmqPairWake>;

// Refusals are not kept: a retry of that id is a fresh attempt. Answers that a retry would get
// again (the request is at fault) are kept like results.
bool keep_for_retries(const std::optional<ErrorCode>& error) {
  return !error || *error == ErrorCode::kBadRequest || *error == ErrorCode::kTooLong;
}

}  // namespace

struct Server::Impl {
  explicit Impl(const ServeOptions& options);
  ~Impl();

  int run();
  // Stops everything the constructor started, in an order that leaves no thread waiting; safe to
  // call more than once.
  void shut_down();
  void handle_request(const Peer& peer, std::string_view frame);
  // Sends the reply of score request `id` (a result, or an error kept for retries) unless the
  // client's unsent replies are over their bound; then a busy reply, and the result waits in the
  // reply cache for the client's retry.
  void send_reply(const Peer& peer, const std::string& id, const Frame& frame);
  // Sends as is: small replies (pong, stats, info, refusals), which ZeroMQ's bound of 1,000
  // messages per client bounds.
  void send(const Peer& peer, const Frame& frame);
  // `version`: the request's, when the reply answers a decoded request.
  void send(const Peer& peer, const json& reply, int version = kProtocolVersion);
  json stats_reply(const std::string& id, bool flush);

  ServeOptions options_;
  Metrics metrics_;
  // Before the models load, so an unwritable run directory is said at once.
  StepLogger steps_;
  reward::Scorer scorer_;
  Admission admission_;
  JobQueue queue_;
  zmq::context_t context_;
  std::unique_ptr<ZapHandler> zap_;
  zmq::socket_t router_;
  Outbox outbox_;
  std::string endpoint_;
  ReplyCache replies_;
  SendBudget unsent_;
  int64_t unread_drops_ = 0;  // replies dropped because ZeroMQ's queue to a client was full
  IdleTrim memory_{std::chrono::seconds(10)};
  json description_;  // the info reply's fixed part
  std::unique_ptr<ScoringWorker> worker_;
  std::thread engine_thread_;
  std::unique_ptr<HttpGateway> http_;
};

Server::Impl::Impl(const ServeOptions& options)
    : options_(options),
      steps_(
          options.run_dir,
          {options.server.steps_kept_open, std::chrono::seconds(options.server.step_idle_seconds)},
          metrics_, options.reward.monitors),
      scorer_(options.reward),
      admission_(options.server.max_queued_samples, options.server.max_queued_bytes, metrics_),
      context_(1),
      router_(context_, zmq::socket_type::router),
      outbox_(context_, kWakeEndpoint),
      replies_(std::chrono::seconds(options.server.reply_cache_seconds),
               static_cast<size_t>(options.server.reply_cache_bytes)),
      unsent_(static_cast<size_t>(options.server.max_unsent_bytes_per_client),
              static_cast<size_t>(options.server.max_unsent_bytes)) {
  const ServerConfig& server = options_.server;
  router_.set(zmq::sockopt::router_mandatory, 1);
  router_.set(zmq::sockopt::linger, 1000);
  // Frames far over the limit drop the connection inside ZeroMQ; those just over it get a
  // too_large reply from decode_request.
  router_.set(zmq::sockopt::maxmsgsize, server.max_message_bytes * 2 + (1 << 20));
  try {
    if (server.curve || !server.allowed_clients.empty()) {
      ZapRules rules{server.curve.has_value(), {}, server.allowed_clients};
      if (server.curve) rules.client_keys = server.curve->allowed_client_keys;
      zap_ = std::make_unique<ZapHandler>(context_, std::move(rules));
      if (server.curve) {
        router_.set(zmq::sockopt::curve_server, 1);
        router_.set(zmq::sockopt::curve_secretkey, server.curve->secret_key);
      }
      // A ZAP domain makes ZeroMQ ask the handler about NULL (plain) clients too.
      router_.set(zmq::sockopt::zap_domain, "safrl");
    }
    router_.bind(server.endpoint);
  } catch (const zmq::error_t& e) {
    shut_down();
    // The endpoint's form was checked with the config (check_bind_endpoint): what is left is
    // the address itself.
    throw util::LoadError(util::cat(
        "cannot bind ", server.endpoint, ": ", e.what(), "; ",
        e.num() == EADDRINUSE
            ? "another process listens there (another safrl serve?): stop it, or give another "
              "port (--endpoint or server.endpoint)"
            : "give an address of this machine (e.g. tcp://127.0.0.1:5555, or tcp://*:5555 for "
              "every interface, guarded as docs/security.md says) or an ipc:// path in a "
              "directory that exists (--endpoint or "
              "server.endpoint)"));
  }
  endpoint_ = router_.get(zmq::sockopt::last_endpoint);
  json config = reward::config_to_json(options_.reward);
  config[std::string(kServerSection)] = server_config_to_json(options_.server);
  // "protocol" stays the newest version as an integer, which clients of version 1 read.
  json protocols = json::array();
  for (int v = kOldestProtocolVersion; v <= kProtocolVersion; ++v) protocols.push_back(v);
  description_ = {{"protocol", kProtocolVersion},
                  {"protocols", std::move(protocols)},
                  {"version", util::kVersion},
                  {"config", std::move(config)},
                  {"models", scorer_.models()}};
  worker_ = std::make_unique<ScoringWorker>(scorer_, steps_, metrics_, admission_, description_);
  engine_thread_ = std::thread([this] { worker_->run(queue_, options_.server.max_batch_samples); });
  if (server.http_port > 0) {
    try {
      http_ = std::make_unique<HttpGateway>(options_.server, metrics_, admission_,
                                            [this](Job& job) { return queue_.push(job); });
    } catch (...) {
      shut_down();
      throw;
    }
  }
}

Server::Impl::~Impl() {
  shut_down();
}

void Server::Impl::shut_down() {
  // Admission first, so no thread queues work after the queue closes; then the HTTP threads
  // (their jobs are answered by the engine thread, which drains the queue before it ends).
  admission_.stop();
  queue_.close();
  http_.reset();
  if (engine_thread_.joinable()) engine_thread_.join();
  router_.close();
  outbox_.wake().close();
  context_.shutdown();
  zap_.reset();  // joins the ZAP thread, which the context's shutdown ended
}

void Server::Impl::send(const Peer& peer, const json& reply, int version) {
  send(peer, std::make_shared<const std::string>(encode(reply, version)));
}

void Server::Impl::send_reply(const Peer& peer, const std::string& id, const Frame& frame) {
  // A client that does not read its replies would otherwise hold up to ZeroMQ's 1,000 of them,
  // each up to a reply's size.
  if (!unsent_.fits(peer.identity, frame)) {
    ++metrics_.busy_replies;
    send(peer,
         error_reply(
             id, {ErrorCode::kBusy,
                  util::cat(unsent_.unsent(peer.identity), " bytes of replies to this client (",
                            unsent_.unsent(), " to all clients) wait to be read, the bounds are ",
                            unsent_.per_client_limit(), " and ", unsent_.total_limit(),
                            " (server.max_unsent_bytes_per_client, server.max_unsent_bytes); "
                            "read the replies, then retry with the same id"),
                  1000}));
    return;
  }
  send(peer, frame);
}

void Server::Impl::send(const Peer& peer, const Frame& frame) {
  try {
    // Never block the I/O thread: a client that stops reading fills its pipe (1,000 messages),
    // and its reply is then dropped; its retry is answered from the reply cache. Once the first
    // frame is taken, ZeroMQ takes the whole message.
    if (!router_.send(zmq::buffer(peer.identity),
                      zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
      if (unread_drops_++ == 0) {
        util::log_warn("serve",
                       "a client has 1,000 replies unread; replies to clients that do not read "
                       "are dropped (counted in stats as replies_dropped_unread), their retries "
                       "are answered from the reply cache");
      }
      return;
    }
    if (peer.delimiter) router_.send(zmq::str_buffer(""), zmq::send_flags::sndmore);
    router_.send(unsent_.message(peer.identity, frame), zmq::send_flags::none);
  } catch (const zmq::error_t&) {
    // The client is gone (ROUTER_MANDATORY says so): nothing to deliver to.
  }
}

void Server::Impl::handle_request(const Peer& peer, std::string_view frame) {
  ++metrics_.requests;
  Request request;
  try {
    request = decode_request(frame, static_cast<size_t>(options_.server.max_message_bytes));
  } catch (const ProtocolError& e) {
    ++metrics_.error_replies;
    send(peer, error_reply(e.request_id(), e.reply()), e.version());
    return;
  } catch (const std::exception& e) {
    // A decoding path that should have been a ProtocolError: answer, never die.
    ++metrics_.error_replies;
    send(peer, error_reply("", {ErrorCode::kInternal,
                                util::cat("the request could not be read: ", e.what())}));
    return;
  }
  const int version = request.version;
  switch (request.type) {
    case RequestType::kPing:
      send(peer,
           json{{"type", "pong"},
                {"id", request.id},
                {"time_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count()}},
           version);
      return;
    case RequestType::kStats:
      send(peer, stats_reply(request.id, request.flush), version);
      return;
    case RequestType::kInfo:
      if (!request.deep) {
        send(peer, info_reply(request.id, description_, false).body, version);
        return;
      }
      break;
    case RequestType::kScore:
      break;
  }
  // A retry: answer from the cache, or with the original when it completes.
  const uint64_t digest = request_digest(frame);
  const ReplyCache::Lookup known = replies_.find(request.id, digest);
  switch (known.state) {
    case ReplyCache::State::kCompleted:
      ++metrics_.deduplicated;
      send_reply(peer, request.id, known.reply);
      return;
    case ReplyCache::State::kInFlight:
      ++metrics_.deduplicated;
      replies_.wait(request.id, digest, peer);
      return;
    case ReplyCache::State::kOtherBody:
      ++metrics_.error_replies;
      send(
          peer,
          error_reply(request.id, {ErrorCode::kBadRequest,
                                   "id reused with a different request: the server holds another "
                                   "request under this id; give each request its own id (a UUID)"}),
          version);
      return;
    case ReplyCache::State::kUnknown:
      break;
  }
  Job job;
  job.arrival = Clock::now();
  if (request.deadline_ms)
    job.deadline = job.arrival + std::chrono::milliseconds(*request.deadline_ms);
  job.request = std::move(request);
  const std::string id = job.request.id;
  const auto bytes = static_cast<int64_t>(frame.size());
  job.done = [this, id, bytes, version](Reply reply) {
    admission_.release_bytes(bytes);
    // The frame is made here, the one place a job's reply becomes msgpack.
    std::optional<ErrorCode> code;
    if (reply.error) code = reply.error->code;
    json body = reply.error ? error_reply(id, *reply.error) : std::move(reply.body);
    outbox_.post({id, std::make_shared<const std::string>(encode(std::move(body), version)), code});
  };
  const int64_t admitted = job.admitted_samples();
  std::optional<ErrorReply> refusal = admission_.try_admit(admitted, id, true, bytes);
  if (!refusal && !queue_.push(job)) {  // the queue closes only as run() ends
    admission_.release(admitted);
    admission_.release_bytes(bytes);
    refusal = shutting_down();
  }
  if (refusal) {
    ++metrics_.error_replies;
    send(peer, error_reply(id, *refusal), version);
    return;
  }
  ++metrics_.score_requests;
  replies_.wait(id, digest, peer);
}

json Server::Impl::stats_reply(const std::string& id, bool flush) {
  json reply = {{"type", "stats"}, {"id", id}, {"steps", steps_.pending()}};
  reply["flushed"] = json::array();
  if (flush) {
    for (const reward::StepKey& step : steps_.flush_all()) {
      reply["flushed"].push_back(reward::step_json(step));
    }
  }
  const util::ProcessMemory memory = util::process_memory();  // one read of /proc/self/status
  reply["counters"] = {{"queued_samples", metrics_.queued_samples.load()},
                       {"requests", metrics_.requests.load()},
                       {"samples", metrics_.samples.load()},
                       {"busy_replies", metrics_.busy_replies.load()},
                       {"http_admission_waits", metrics_.http_admission_waits.load()},
                       {"deduplicated", metrics_.deduplicated.load()},
                       {"reply_cache_bytes", replies_.bytes()},
                       {"unsent_reply_bytes", unsent_.unsent()},
                       {"replies_dropped_unread", unread_drops_},
                       {"tokens", metrics_.tokens.load()},
                       {"prefix_tokens_saved", metrics_.prefix_tokens_saved.load()},
                       {"refused_connections", zap_ ? zap_->refused() : 0},
                       {"step_rows_unwritten", metrics_.step_rows_unwritten.load()},
                       {"step_rows_dropped", metrics_.step_rows_dropped.load()},
                       {"resident_bytes", memory.resident_bytes},
                       {"peak_resident_bytes", memory.peak_resident_bytes}};
  return reply;
}

int Server::Impl::run() {
  util::log_info("serve",
                 util::cat("listening on ", endpoint_, "; steps logged to ", options_.run_dir));
  zmq::pollitem_t items[] = {{router_.handle(), 0, ZMQ_POLLIN, 0},
                             {outbox_.wake().socket().handle(), 0, ZMQ_POLLIN, 0}};
  auto deliver_replies = [&] {
    for (Outgoing& reply : outbox_.take()) {
      const bool keep = keep_for_retries(reply.error);
      if (!keep) ++metrics_.error_replies;
      for (const Peer& peer : replies_.complete(reply.id, reply.frame, keep)) {
        send_reply(peer, reply.id, reply.frame);
      }
    }
  };
  Clock::time_point next_idle_check = Clock::now();
  while (true) {
    try {
      zmq::poll(items, 2, std::chrono::milliseconds(100));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
      items[0].revents = items[1].revents = 0;  // a signal: go on to the stop check below
    }
    if (items[1].revents & ZMQ_POLLIN) deliver_replies();
    if (items[0].revents & ZMQ_POLLIN) {
      for (int burst = 0; burst < 256; ++burst) {
        std::vector<zmq::message_t> parts;
        if (!zmq::recv_multipart(router_, std::back_inserter(parts), zmq::recv_flags::dontwait)) {
          break;
        }
        if (parts.size() < 2) continue;  // a ROUTER always prefixes the identity frame
        Peer peer{parts[0].to_string(), parts.size() > 2 && parts[1].size() == 0};
        const size_t frames = parts.size() - (peer.delimiter ? 2 : 1);
        if (frames != 1) {
          ++metrics_.requests;
          ++metrics_.error_replies;
          send(peer, error_reply("", {ErrorCode::kBadRequest,
                                      util::cat("a request is one frame holding a msgpack map "
                                                "(after the empty delimiter frame of REQ "
                                                "sockets); got ",
                                                frames, " frames")}));
          continue;
        }
        handle_request(peer, std::string_view(static_cast<const char*>(parts.back().data()),
                                              parts.back().size()));
      }
    }
    const auto now = Clock::now();
    replies_.expire(now);
    if (now >= next_idle_check) {
      // Idle steps are looked for four times a second, not on every message (the engine thread
      // shares the step logs' lock).
      next_idle_check = now + std::chrono::milliseconds(250);
      try {
        steps_.close_idle(now);
      } catch (const std::exception& e) {
        // The step logs cannot be written: say so, and keep scoring (the rows stay held).
        util::log_error("steps", e.what());
      }
      unsent_.forget_idle();
      memory_.tick(now, metrics_.requests.load(), admission_.jobs());
    }
    if (g_stop && !admission_.stopped()) {
      admission_.stop();
      util::log_info("serve",
                     util::cat("stopping; finishing ", admission_.jobs(), " request(s) in flight"));
    }
    if (admission_.stopped() && admission_.jobs() == 0) {
      deliver_replies();  // the last ones, posted before their jobs were released
      break;
    }
  }
  queue_.close();
  if (engine_thread_.joinable()) engine_thread_.join();
  const auto flushed = steps_.flush_all();
  util::log_info("serve", util::cat("stopped; flushed ", flushed.size(), " step(s)"));
  if (const size_t unwritten = steps_.unwritten_rows(); unwritten > 0) {
    // Every reward was delivered; only these statistics are lost. Not an error exit: a
    // supervisor must not take a full disk for a crash.
    util::log_error("steps",
                    util::cat(unwritten, " step row(s) could not be written to ", options_.run_dir,
                              " (", metrics_.step_log_error(), ") and are lost"));
  }
  if (const int64_t dropped = steps_.dropped_rows(); dropped > 0) {
    util::log_error("steps", util::cat(dropped,
                                       " step row(s) were dropped while the run directory "
                                       "could not be written"));
  }
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
