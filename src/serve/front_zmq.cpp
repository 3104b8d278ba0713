#include "serve/front_zmq.h"

#include <algorithm>
#include <functional>
#include <map>
#include <thread>
#include <vector>

#include <zmq_addon.hpp>

#include "serve/front_frame.h"
#include "serve/protocol.h"
#include "util/error.h"
#include "util/log.h"

namespace safrl::serve {

namespace {

using Clock = std::chrono::steady_clock;
using Frames = std::vector<zmq::message_t>;

constexpr auto kTick = std::chrono::milliseconds(50);
constexpr int kMaxSockets = 65536;
// After the engine stopped for good, replies it sent last may still be on their way.
constexpr auto kFinalReplies = std::chrono::milliseconds(500);

// ZeroMQ shares a large message's bytes between copies (reference counted): a resend costs no copy.
Frames copy_of(Frames& frames) {
  Frames copy(frames.size());
  for (size_t i = 0; i < frames.size(); ++i) copy[i].copy(frames[i]);
  return copy;
}

// An error reply in the request's envelope: a REQ client's empty delimiter frame goes back first,
// as the engine would send it.
Frames error_frames(const Frames& request, const std::string& id, const ErrorReply& error) {
  Frames frames;
  if (request.size() > 1 && request.front().size() == 0) frames.emplace_back();
  frames.emplace_back(encode(error_reply(id, error)));
  return frames;
}

size_t bytes_of(const Frames& frames) {
  size_t bytes = 0;
  for (const auto& f : frames) bytes += f.size();
  return bytes;
}

}  // namespace

struct ZmqFront::Impl {
  // A kept request: its client, its frames as received (after the routing id), where it goes, when
  // it stops waiting for an engine, and the engine generation it was last sent to (0: not sent).
  struct Pending {
    std::string client;
    std::string id;
    Frames frames;
    size_t bytes = 0;
    size_t home = 0;  // the engine its prompt belongs to
    Clock::time_point hold_until;
    Clock::time_point sent_at;
    bool client_deadline = false;
    size_t engine = 0;  // where it was sent
    uint64_t sent_to = 0;
    bool lost = false;  // an engine took it and died, or refused it draining
    // An engine that refused it draining, at that generation: not sent there again.
    std::optional<std::pair<size_t, uint64_t>> refused_by;
  };
  // A client's DEALER towards one engine, for one engine generation.
  struct Link {
    std::unique_ptr<zmq::socket_t> dealer;
    Clock::time_point used;
  };
  using LinkKey = std::pair<std::string, size_t>;  // client, engine

  Impl(ZmqFrontOptions options, std::vector<const EngineState*> engines, FrontCounters& counters);
  void run();
  void step();
  void on_request(Frames frames);
  void on_reply(const LinkKey& link, Frames frames);
  std::optional<size_t> engine_for(const Pending& p) const;
  void send_to_engine(Pending& p, size_t engine);
  bool try_send(uint64_t seq);  // sends a kept request where it can go, or answers busy
  void send_held();
  void reply(const std::string& client, Frames frames);
  void refuse(uint64_t seq, const ErrorReply& error);
  void forget(uint64_t seq);  // drops a kept request
  void expire(Clock::time_point now);
  void notice_engines();
  bool live(size_t e) const;  // engine e is up, of the generation its links were made for
  bool stopping() const;
  bool finished() const;
  Link& link(const std::string& client, size_t engine);

  ZmqFrontOptions options_;
  std::vector<const EngineState*> engines_;
  FrontCounters& counters_;
  zmq::context_t context_{1};
  zmq::socket_t router_;
  std::string endpoint_;
  std::map<LinkKey, Link> links_;
  std::map<uint64_t, Pending> pending_;     // by arrival, so held requests go out in order
  std::map<std::string, uint64_t> by_key_;  // client + '\0' + request id -> pending_ key
  uint64_t next_seq_ = 1;
  size_t pending_bytes_ = 0;
  std::vector<uint64_t> generation_;  // per engine: the generation its links were made for
  std::vector<bool> up_;              // per engine, as last seen
  std::optional<Clock::time_point> finish_at_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

namespace {

std::string key_of(const std::string& client, const std::string& id) {
  return client + '\0' + id;
}

}  // namespace

ZmqFront::Impl::Impl(ZmqFrontOptions options, std::vector<const EngineState*> engines,
                     FrontCounters& counters)
    : options_(std::move(options)),
      engines_(std::move(engines)),
      counters_(counters),
      generation_(engines_.size(), 0),
      up_(engines_.size(), false) {
  // One DEALER per client and engine: ZeroMQ's default of 1023 sockets would cap the clients.
  context_.set(zmq::ctxopt::max_sockets, kMaxSockets);
  router_ = zmq::socket_t(context_, zmq::socket_type::router);
  router_.set(zmq::sockopt::router_mandatory, 1);
  router_.set(zmq::sockopt::linger, 1000);
  router_.set(zmq::sockopt::maxmsgsize, options_.max_message_bytes * 2 + (1 << 20));
  try {
    router_.bind(options_.endpoint);
  } catch (const zmq::error_t& e) {
    throw util::LoadError(util::cat(
        "cannot bind ", options_.endpoint, ": ", e.what(), "; ",
        e.num() == EADDRINUSE
            ? "another process listens there: stop it, or give another port (--endpoint or "
              "server.endpoint)"
            : "give a loopback address (tcp://127.0.0.1:PORT) or an ipc:// path in a directory "
              "that exists"));
  }
  endpoint_ = router_.get(zmq::sockopt::last_endpoint);
  thread_ = std::thread([this] { run(); });
}

void ZmqFront::Impl::run() {
  while (!done_) {
    try {
      step();
    } catch (const std::exception& e) {
      // Nothing may end the front's thread while the engine runs: say what happened, go on.
      util::log_error("front", util::cat("ZeroMQ: ", e.what()));
    }
  }
}

bool ZmqFront::Impl::live(size_t e) const {
  // As the engine is now, not as this loop last saw it: one that died since takes nothing.
  return engines_[e]->up() && engines_[e]->generation() == generation_[e];
}

bool ZmqFront::Impl::stopping() const {
  return std::any_of(engines_.begin(), engines_.end(), [](auto* e) { return e->stopping(); });
}

bool ZmqFront::Impl::finished() const {
  return std::all_of(engines_.begin(), engines_.end(), [](auto* e) { return e->finished(); });
}

ZmqFront::Impl::Link& ZmqFront::Impl::link(const std::string& client, size_t engine) {
  Link& l = links_[{client, engine}];
  if (!l.dealer) {
    l.dealer = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer);
    l.dealer->set(zmq::sockopt::linger, 0);
    // No queue bound of ZeroMQ's own, whose default (1000) would block the loop on a client
    // with many requests in flight: the kept requests are bounded in bytes already.
    l.dealer->set(zmq::sockopt::sndhwm, 0);
    l.dealer->connect(options_.engine_endpoints[engine]);
  }
  l.used = Clock::now();
  return l;
}

std::optional<size_t> ZmqFront::Impl::engine_for(const Pending& p) const {
  // Its prompt's engine, or while that one restarts the next one up.
  for (size_t k = 0; k < engines_.size(); ++k) {
    const size_t e = (p.home + k) % engines_.size();
    if (!live(e) || (p.refused_by && *p.refused_by == std::make_pair(e, generation_[e]))) continue;
    return e;
  }
  return std::nullopt;
}

void ZmqFront::Impl::send_to_engine(Pending& p, size_t engine) {
  Link& l = link(p.client, engine);
  Frames copy = copy_of(p.frames);
  for (size_t i = 0; i < copy.size(); ++i) {
    l.dealer->send(copy[i], i + 1 < copy.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
  if (p.lost) ++counters_.resent;
  p.lost = false;
  p.engine = engine;
  p.sent_to = generation_[engine];
  p.sent_at = Clock::now();
}

bool ZmqFront::Impl::try_send(uint64_t seq) {
  Pending& p = pending_.at(seq);
  const std::optional<size_t> engine = engine_for(p);
  if (!engine) return false;
  try {
    send_to_engine(p, *engine);
    return true;
  } catch (const zmq::error_t& e) {
    // Out of sockets or descriptors: an answer now, not a request stuck unsent.
    refuse(seq, {ErrorCode::kBusy,
                 util::cat("the front cannot open a socket to its engine (", e.what(),
                           "); retry later, same id"),
                 1000});
    return false;
  }
}

void ZmqFront::Impl::send_held() {
  std::vector<uint64_t> held;
  for (const auto& [seq, p] : pending_) {
    if (p.sent_to == 0) held.push_back(seq);
  }
  for (uint64_t seq : held) try_send(seq);
}

void ZmqFront::Impl::reply(const std::string& client, Frames frames) {
  try {
    router_.send(zmq::buffer(client), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    for (size_t i = 0; i < frames.size(); ++i) {
      router_.send(frames[i], i + 1 < frames.size()
                                  ? zmq::send_flags::sndmore | zmq::send_flags::dontwait
                                  : zmq::send_flags::dontwait);
    }
  } catch (const zmq::error_t& e) {
    // The client left (EHOSTUNREACH under ROUTER_MANDATORY): its reply has no one to go to.
    if (e.num() != EHOSTUNREACH && e.num() != EAGAIN) throw;
  }
}

void ZmqFront::Impl::refuse(uint64_t seq, const ErrorReply& error) {
  auto it = pending_.find(seq);
  if (it == pending_.end()) return;
  Pending& p = it->second;
  ++counters_.refused;
  reply(p.client, error_frames(p.frames, p.id, error));
  forget(seq);
}

void ZmqFront::Impl::forget(uint64_t seq) {
  auto it = pending_.find(seq);
  if (it == pending_.end()) return;
  Pending& p = it->second;
  by_key_.erase(key_of(p.client, p.id));
  pending_bytes_ -= p.bytes;
  pending_.erase(it);
}

void ZmqFront::Impl::on_request(Frames frames) {
  if (frames.size() < 2) return;
  // Engines as they are now: one that came up while the loop polled takes its prompts.
  notice_engines();
  const std::string client = frames.front().to_string();
  frames.erase(frames.begin());
  const auto fields = read_frame_fields(frames.back().to_string_view());
  if (!fields || !fields->id) {
    // No id to keep it by: an engine answers what it can read of it, or, with none up, the
    // front says what is missing.
    size_t up = 0;
    while (up < engines_.size() && !live(up)) ++up;
    if (up < engines_.size() && !stopping()) {
      Link& l = link(client, up);
      for (size_t i = 0; i < frames.size(); ++i) {
        l.dealer->send(frames[i],
                       i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
      }
    } else {
      ++counters_.refused;
      reply(client, error_frames(frames, "",
                                 {ErrorCode::kBadRequest,
                                  "the request is not one msgpack map with a string \"id\" "
                                  "(docs/protocol.md); send one frame holding such a map"}));
    }
    return;
  }
  const std::string key = key_of(client, *fields->id);
  if (const auto kept = by_key_.find(key); kept != by_key_.end()) {
    // A retry: its one reply answers both. A different request under the same id must not get
    // the first one's results.
    if (pending_.at(kept->second).frames.back() != frames.back()) {
      ++counters_.refused;
      reply(client, error_frames(frames, *fields->id,
                                 {ErrorCode::kBadRequest,
                                  "id reused with a different request while the first is being "
                                  "scored; give each request an id of its own"}));
    }
    return;
  }
  const auto now = Clock::now();
  Pending p;
  p.client = client;
  p.id = *fields->id;
  p.home = std::hash<std::string>{}(fields->first_prompt.value_or(p.id)) % engines_.size();
  p.bytes = bytes_of(frames);
  p.frames = std::move(frames);
  p.client_deadline = fields->deadline_ms.has_value();
  p.hold_until = p.client_deadline
                     ? now + std::chrono::milliseconds(std::max<int64_t>(0, *fields->deadline_ms))
                     : now + options_.hold;
  const uint64_t seq = next_seq_++;
  pending_bytes_ += p.bytes;
  by_key_[key] = seq;
  pending_.emplace(seq, std::move(p));
  ++counters_.requests;
  if (stopping()) {
    return refuse(seq, {ErrorCode::kShuttingDown,
                        "the front is stopping; retry on another endpoint or later, same id"});
  }
  if (pending_bytes_ > options_.max_pending_bytes) {
    return refuse(seq, {ErrorCode::kBusy,
                        util::cat("the front holds ", options_.max_pending_bytes,
                                  " bytes of requests already; retry later, same id"),
                        1000});
  }
  try_send(seq);
}

void ZmqFront::Impl::on_reply(const LinkKey& link, Frames frames) {
  const auto& [client, engine] = link;
  if (frames.empty()) return;
  const auto fields = read_frame_fields(frames.back().to_string_view());
  if (!fields || !fields->id) return reply(client, std::move(frames));
  auto found = by_key_.find(key_of(client, *fields->id));
  if (found == by_key_.end()) {
    ++counters_.dropped_replies;
    return;
  }
  // An engine draining on its own (a SIGTERM not from the front) is about to be replaced: the
  // request goes to another engine, or waits for its successor.
  if (fields->error_code == "shutting_down" && !stopping()) {
    Pending& p = pending_.at(found->second);
    p.sent_to = 0;
    p.lost = true;
    p.refused_by = std::make_pair(engine, generation_[engine]);
    return;
  }
  forget(found->second);
  reply(client, std::move(frames));
}

void ZmqFront::Impl::expire(Clock::time_point now) {
  std::vector<uint64_t> expired;
  std::vector<uint64_t> unanswered;
  for (const auto& [seq, p] : pending_) {
    if (p.sent_to == 0 && now >= p.hold_until) expired.push_back(seq);
    // The engine took it and never answered (it was not a request it answers): its client
    // gave up long ago, and the copy goes.
    if (p.sent_to != 0 && now - p.sent_at > options_.hold) unanswered.push_back(seq);
  }
  for (uint64_t seq : unanswered) forget(seq);
  for (uint64_t seq : expired) {
    if (pending_.at(seq).client_deadline) {
      refuse(seq, {ErrorCode::kDeadlineExceeded,
                   "the engine was restarting until the request's deadline passed; retry with a "
                   "new deadline, same id"});
    } else {
      refuse(seq, {ErrorCode::kUnavailable,
                   util::cat("the engine was not back within ", options_.hold.count(),
                             " s; retry later, same id"),
                   5000});
    }
  }
  for (auto it = links_.begin(); it != links_.end();) {
    const std::string prefix = it->first.first + '\0';
    const auto kept = by_key_.lower_bound(prefix);
    const bool waiting =
        kept != by_key_.end() && kept->first.compare(0, prefix.size(), prefix) == 0;
    it =
        !waiting && now - it->second.used > options_.client_idle ? links_.erase(it) : std::next(it);
  }
}

void ZmqFront::Impl::notice_engines() {
  // An engine gone down or of a new generation took its requests in flight with it: its
  // sockets go, and those requests are sent again (to it once back, or to another engine up).
  for (size_t e = 0; e < engines_.size(); ++e) {
    const bool up = engines_[e]->up();
    const uint64_t generation = engines_[e]->generation();
    if (generation != generation_[e] || (up_[e] && !up)) {
      for (auto it = links_.begin(); it != links_.end();) {
        it = it->first.second == e ? links_.erase(it) : std::next(it);
      }
      for (auto& [seq, p] : pending_) {
        if (p.sent_to != 0 && p.engine == e) {
          p.lost = true;
          p.sent_to = 0;
        }
      }
      generation_[e] = generation;
    }
    up_[e] = up;
  }
}

void ZmqFront::Impl::step() {
  const auto now = Clock::now();
  notice_engines();
  if (stopping()) {
    std::vector<uint64_t> held;
    for (const auto& [seq, p] : pending_) {
      if (p.sent_to == 0) held.push_back(seq);
    }
    for (uint64_t seq : held) {
      refuse(seq, {ErrorCode::kShuttingDown,
                   "the front is stopping; retry on another endpoint or later, same id"});
    }
  } else {
    send_held();
  }
  expire(now);
  counters_.held = static_cast<int64_t>(pending_.size());

  if (finished()) {
    if (!finish_at_) finish_at_ = now + kFinalReplies;
    if (now >= *finish_at_ || pending_.empty()) {
      while (!pending_.empty()) {
        refuse(
            pending_.begin()->first,
            {ErrorCode::kShuttingDown,
             "the engine stopped before answering; retry on another endpoint or later, same id"});
      }
      done_ = true;
      return;
    }
  }

  std::vector<zmq::pollitem_t> items{{router_.handle(), 0, ZMQ_POLLIN, 0}};
  std::vector<LinkKey> keys;
  for (const auto& [key, l] : links_) {
    items.push_back({l.dealer->handle(), 0, ZMQ_POLLIN, 0});
    keys.push_back(key);
  }
  zmq::poll(items.data(), items.size(), kTick);
  for (int n = 0; n < 1000 && (items[0].revents & ZMQ_POLLIN); ++n) {
    Frames frames;
    if (!zmq::recv_multipart(router_, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
      break;
    }
    on_request(std::move(frames));
  }
  for (size_t i = 1; i < items.size(); ++i) {
    if (!(items[i].revents & ZMQ_POLLIN)) continue;
    const LinkKey& key = keys[i - 1];
    auto it = links_.find(key);
    Frames frames;
    while (it != links_.end() && zmq::recv_multipart(*it->second.dealer, std::back_inserter(frames),
                                                     zmq::recv_flags::dontwait)) {
      on_reply(key, std::move(frames));
      frames.clear();
      it = links_.find(key);
    }
  }
}

ZmqFront::ZmqFront(ZmqFrontOptions options, std::vector<const EngineState*> engines,
                   FrontCounters& counters)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(engines), counters)) {}

ZmqFront::~ZmqFront() {
  if (impl_->thread_.joinable()) impl_->thread_.join();
}

std::string ZmqFront::endpoint() const {
  return impl_->endpoint_;
}

}  // namespace safrl::serve
