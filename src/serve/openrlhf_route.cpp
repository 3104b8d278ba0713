#include "serve/openrlhf_route.h"

#include <algorithm>
#include <iterator>
#include <string>
#include <utility>

#include "serve/error_reply.h"
#include "serve/http_response.h"
#include "serve/openrlhf.h"
#include "util/error.h"

namespace safrl::serve {
namespace {

using nlohmann::json;

// Parts of one body queued at once: enough to keep the engine busy between them, few enough
// that a small request arriving meanwhile waits for at most two parts.
constexpr size_t kPartsInFlight = 2;

}  // namespace

OpenRlhfRoute::OpenRlhfRoute(const ServerConfig& config, const HttpDeadlines& deadlines,
                             Metrics& metrics, Admission& admission,
                             std::function<bool(Job&)> submit, HttpTransport& transport)
    : config_(config),
      deadlines_(deadlines),
      metrics_(metrics),
      admission_(admission),
      submit_(std::move(submit)),
      transport_(transport),
      decoder_(JsonBounds{}, [mailbox = mailbox_](HttpBodyDecoder::Result result) {
        mailbox->post(std::move(result));
      }) {}

void OpenRlhfRoute::start(const HttpExchange& exchange, HttpRequest request) {
  exchanges_[exchange.connection] = Exchange{exchange.request, true, std::nullopt};
  decoder_.submit(exchange.connection, exchange.request, std::move(request.body));
}

void OpenRlhfRoute::forget(uint64_t connection) {
  exchanges_.erase(connection);
}

void OpenRlhfRoute::deliver(Clock::time_point now) {
  for (Mail& mail : mailbox_->take()) {
    if (auto* part = std::get_if<PartReply>(&mail)) {
      transport_.guarded(part->connection, now, [&] { on_part(*part, now); });
    } else {
      auto& decoded = std::get<HttpBodyDecoder::Result>(mail);
      transport_.guarded(decoded.connection, now, [&] { on_decoded(decoded, now); });
    }
  }
}

bool OpenRlhfRoute::waiting() const {
  return std::any_of(exchanges_.begin(), exchanges_.end(), [](const auto& entry) {
    return entry.second.post && entry.second.post->waiting;
  });
}

void OpenRlhfRoute::retry_waiting(Clock::time_point now) {
  std::vector<uint64_t> ids;  // answering one ends its exchange: collected first
  for (const auto& [id, exchange] : exchanges_) {
    if (exchange.post && exchange.post->waiting) ids.push_back(id);
  }
  for (uint64_t id : ids) {
    auto found = exchanges_.find(id);
    if (found == exchanges_.end()) continue;
    transport_.guarded(id, now, [&] { advance(id, found->second, now); });
  }
}

void OpenRlhfRoute::on_decoded(HttpBodyDecoder::Result& result, Clock::time_point now) {
  auto found = exchanges_.find(result.connection);
  if (found == exchanges_.end()) return;  // the client left meanwhile
  Exchange& exchange = found->second;
  if (!exchange.decoding || exchange.request != result.request) return;
  exchange.decoding = false;
  const uint64_t id = result.connection;
  if (result.error) return transport_.respond(id, json_error(result.error->reply()), now);
  std::vector<reward::Sample>& samples = result.samples;
  Post post;
  post.part_size = static_cast<size_t>(
      std::max<int64_t>(1, std::min(config_.max_queued_samples, config_.max_batch_samples)));
  post.parts = (samples.size() + post.part_size - 1) / post.part_size;
  post.results.resize(post.parts);
  post.samples = std::move(samples);
  post.give_up = now + deadlines_.admission_wait;
  exchange.post = std::move(post);
  if (exchange.post->parts == 0) {
    HttpResponse response;
    response.body = openrlhf::reply_from_results(json::array()).dump();
    return transport_.respond(id, std::move(response), now);
  }
  advance(id, exchange, now);
}

void OpenRlhfRoute::advance(uint64_t id, Exchange& exchange, Clock::time_point now) {
  Post& post = *exchange.post;
  while (post.in_flight < kPartsInFlight && post.next_part < post.parts) {
    const size_t begin = post.next_part * post.part_size;
    const size_t end = std::min(post.samples.size(), begin + post.part_size);
    const int64_t count = static_cast<int64_t>(end - begin);
    // The part's waiter name: its connection and request, unique while the gateway runs.
    const std::string waiter = util::cat("http/", id, "/", exchange.request, "/", post.next_part);
    std::optional<ErrorReply> refusal = admission_.try_admit(count, waiter, /*count_busy=*/false);
    if (refusal && refusal->code == ErrorCode::kBusy && now < post.give_up) {
      if (!post.waiting) ++metrics_.http_admission_waits;  // once per part held
      post.waiting = true;                                 // asked again on the loop's next turns
      return;
    }
    post.waiting = false;
    if (refusal) {
      if (refusal->code == ErrorCode::kBusy) ++metrics_.busy_replies;
      // Parts already queued are still scored (and enter the step statistics).
      return transport_.respond(id, json_error(*refusal), now);
    }
    Job job;
    job.request.type = RequestType::kScore;
    job.request.samples.assign(std::make_move_iterator(post.samples.begin() + begin),
                               std::make_move_iterator(post.samples.begin() + end));
    job.request.group_of.assign(job.request.samples.size(), -1);
    job.arrival = now;
    job.done = [mailbox = mailbox_, id, request = exchange.request,
                part = post.next_part](Reply reply) {
      mailbox->post(PartReply{id, request, part, std::move(reply)});
    };
    if (!submit_(job)) {  // the server stopped between admission and queueing
      admission_.release(count);
      return transport_.respond(id, json_error(shutting_down()), now);
    }
    ++metrics_.score_requests;
    ++post.in_flight;
    ++post.next_part;
  }
}

void OpenRlhfRoute::on_part(PartReply& letter, Clock::time_point now) {
  auto found = exchanges_.find(letter.connection);
  if (found == exchanges_.end()) return;  // the client left; its samples were still scored
  Exchange& exchange = found->second;
  if (!exchange.post || exchange.request != letter.request) return;
  Post& post = *exchange.post;
  --post.in_flight;
  Reply& reply = letter.reply;
  if (reply.error) return transport_.respond(letter.connection, json_error(*reply.error), now);
  post.results[letter.part] = std::move(reply.body["results"]);
  if (++post.answered < post.parts) return advance(letter.connection, exchange, now);
  json results = json::array();
  for (json& part : post.results) {
    for (json& result : part) results.push_back(std::move(result));
  }
  HttpResponse response;
  response.body =
      openrlhf::reply_from_results(results).dump(-1, ' ', false, json::error_handler_t::replace);
  transport_.respond(letter.connection, std::move(response), now);
}

}  // namespace safrl::serve
