#include "serve/client.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

#include <zmq.hpp>

#include "io/json_reader.h"

namespace safrl::serve {

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// A version-4 UUID's 128 bits as 32 lowercase hex digits (like Python's uuid4().hex).
std::string random_request_id(std::mt19937_64& random) {
  uint64_t halves[2] = {random(), random()};
  halves[0] = (halves[0] & ~uint64_t{0xf000}) | 0x4000;                  // version 4
  halves[1] = (halves[1] & ~(uint64_t{3} << 62)) | (uint64_t{2} << 62);  // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (uint64_t half : halves) {
    for (int shift = 60; shift >= 0; shift -= 4) id += kHex[(half >> shift) & 0xf];
  }
  return id;
}

// Waits for `events` on the socket until `deadline_s` (polling once even when it has passed);
// false at the deadline.
bool wait_for_event(zmq::socket_t& socket, short events, double deadline_s) {
  while (true) {
    const double left = std::max(0.0, deadline_s - now_s());
    zmq::pollitem_t item = {socket.handle(), 0, events, 0};
    // Rounded up, so a wait shorter than a millisecond does not spin.
    const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(std::ceil(left * 1000)));
    try {
      if (zmq::poll(&item, 1, timeout) > 0) return true;
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
    }
    if (now_s() >= deadline_s) return false;
  }
}

// The reply's "type", or "" when it has none (a reply is read defensively: the client must not
// crash on a server it does not know).
std::string reply_type(const nlohmann::json& reply) {
  const auto found = reply.find("type");
  return found != reply.end() && found->is_string() ? found->get<std::string>() : "";
}

void check_curve_key(const std::string& key, const char* name) {
  uint8_t decoded[32];
  if (key.size() != 40 || zmq_z85_decode(decoded, key.c_str()) == nullptr) {
    throw util::Error(util::cat("CURVE ", name,
                                " must be 40 characters of Z85 text (as "
                                "zmq_curve_keypair prints it), got ",
                                key.size(), " characters"));
  }
}

void validate(const ClientOptions& options) {
  if (options.endpoints.empty()) throw util::Error("the client needs at least one endpoint");
  if (!(options.timeout_s > 0)) {
    throw util::Error(util::cat("timeout_s must be > 0, got ", options.timeout_s));
  }
  if (options.retries < 0) {
    throw util::Error(util::cat("retries must be >= 0, got ", options.retries));
  }
  if (!(options.backoff_s >= 0) || !(options.max_backoff_s >= 0)) {
    throw util::Error(util::cat("backoff_s and max_backoff_s must be >= 0, got ", options.backoff_s,
                                " and ", options.max_backoff_s));
  }
  if (options.curve) {
    if (!zmq_has("curve")) {
      throw util::Error("CURVE keys were given but this libzmq was built without CURVE support");
    }
    check_curve_key(options.curve->server_public_key, "server_public_key");
    check_curve_key(options.curve->client_public_key, "client_public_key");
    check_curve_key(options.curve->client_secret_key, "client_secret_key");
  }
}

bool retryable(ErrorCode code) {
  return code == ErrorCode::kBusy || code == ErrorCode::kDeadlineExceeded ||
         code == ErrorCode::kShuttingDown || code == ErrorCode::kUnavailable;
}

struct ServerError {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  std::optional<double> retry_after_s;
};

ServerError read_error(const nlohmann::json& reply) {
  ServerError error;
  const auto found = reply.find("error");
  if (found == reply.end() || !found->is_object() || !found->contains("code") ||
      !(*found)["code"].is_string()) {
    error.message = "malformed error reply: " +
                    reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return error;
  }
  const auto& body = *found;
  const std::string& name = body["code"].get_ref<const std::string&>();
  if (body.contains("message") && body["message"].is_string()) {
    error.message = body["message"].get<std::string>();
  }
  if (const auto code = parse_error_code(name)) {
    error.code = *code;
  } else {
    error.message = util::cat("unknown error code \"", name, "\": ", error.message);
  }
  if (body.contains("retry_after_ms") && body["retry_after_ms"].is_number() &&
      body["retry_after_ms"].get<double>() > 0) {
    error.retry_after_s = body["retry_after_ms"].get<double>() / 1000;
  }
  return error;
}

// Seeded with 256 bits: every trainer process draws ids for the same server's reply cache, and a
// 32-bit seed would give colliding clients the same id stream (and each other's cached replies).
std::mt19937_64 seeded_random() {
  std::random_device device;
  std::seed_seq seed{device(), device(), device(), device(),
                     device(), device(), device(), device()};
  return std::mt19937_64(seed);
}

}  // namespace

double backoff_delay_s(const ClientOptions& options, int retry, double jitter) {
  const double exponential = options.backoff_s * std::pow(2.0, std::min(retry, 62));
  return std::min(options.max_backoff_s, exponential) * (0.5 + jitter / 2);
}

Client::Client(ClientOptions options) : options_(std::move(options)), random_(seeded_random()) {
  validate(options_);
  context_ = std::make_unique<zmq::context_t>(1);
  socket_ = std::make_unique<zmq::socket_t>(*context_, zmq::socket_type::dealer);
  // Closing must not wait for unsent requests to a server that is gone.
  socket_->set(zmq::sockopt::linger, 0);
  // Queue only on live connections: otherwise round-robin parks every other request behind a
  // dead endpoint until it times out.
  socket_->set(zmq::sockopt::immediate, 1);
  if (options_.curve) {
    socket_->set(zmq::sockopt::curve_serverkey, options_.curve->server_public_key);
    socket_->set(zmq::sockopt::curve_publickey, options_.curve->client_public_key);
    socket_->set(zmq::sockopt::curve_secretkey, options_.curve->client_secret_key);
  }
  for (const auto& endpoint : options_.endpoints) {
    try {
      socket_->connect(endpoint);
    } catch (const zmq::error_t& e) {
      throw util::Error(util::cat("cannot connect to endpoint \"", endpoint, "\": ", e.what()));
    }
  }
}

Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

std::string Client::prepare(nlohmann::json& request, std::string& frame) {
  const io::JsonFail refuse = [](const std::string& message) {
    throw ClientError(ErrorCode::kBadRequest, message);
  };
  const io::JsonReader reader(request, refuse);
  if (!request.is_object()) {
    reader.fail(util::cat("a request must be a JSON object, got ", reader.describe()));
  }
  if (!request.contains("v")) request["v"] = kProtocolVersion;
  if (!request.contains("id")) request["id"] = random_request_id(random_);
  // Replies are matched by id, so it has to be one the server will echo.
  std::string id = reader.at("id").as_string();
  frame.clear();
  nlohmann::json::to_msgpack(request, frame);
  return id;
}

bool Client::send_frame(const std::string& frame, double deadline_s) {
  while (wait_for_event(*socket_, ZMQ_POLLOUT, deadline_s)) {
    if (socket_->send(zmq::buffer(frame), zmq::send_flags::dontwait)) return true;
  }
  return false;
}

std::optional<nlohmann::json> Client::next_reply(double deadline_s) {
  while (wait_for_event(*socket_, ZMQ_POLLIN, deadline_s)) {
    zmq::message_t message;
    if (!socket_->recv(message, zmq::recv_flags::dontwait)) continue;
    // The payload is the last frame (a server may echo an empty delimiter first).
    while (message.more()) {
      if (!socket_->recv(message, zmq::recv_flags::dontwait)) break;
    }
    try {
      return decode_reply(message.to_string_view());
    } catch (const util::Error& e) {
      throw ClientError(ErrorCode::kInternal, e.what());
    }
  }
  return std::nullopt;
}

nlohmann::json Client::call(nlohmann::json request) {
  std::string frame;
  const std::string id = prepare(request, frame);
  std::uniform_real_distribution<double> jitter(0, 1);
  for (int attempt = 0;; ++attempt) {
    const int attempts = attempt + 1;
    const double deadline_s = now_s() + options_.timeout_s;
    std::optional<ServerError> refused;
    if (send_frame(frame, deadline_s)) {
      while (const auto reply = next_reply(deadline_s)) {
        const auto reply_id = reply->find("id");
        const bool is_error = reply_type(*reply) == "error";
        const bool ours =
            reply_id == reply->end() ? is_error : reply_id->is_string() && *reply_id == id;
        if (!ours) continue;  // a late reply to an earlier attempt or request
        if (!is_error) return *reply;
        refused = read_error(*reply);
        break;
      }
    }
    if (refused && !retryable(refused->code)) {
      throw ClientError(
          refused->code,
          util::cat("request ", id, ": ", error_code_name(refused->code), ": ", refused->message),
          refused->message);
    }
    if (attempt >= options_.retries) {
      if (refused) {
        throw ClientError(refused->code,
                          util::cat("request ", id, ": still ", error_code_name(refused->code),
                                    " after ", attempts, " attempts: ", refused->message),
                          refused->message);
      }
      std::string endpoints;
      for (const auto& endpoint : options_.endpoints) endpoints += " " + endpoint;
      throw ClientError(
          ErrorCode::kDeadlineExceeded,
          util::cat("request ", id, ": no reply within ", options_.timeout_s, " s in ", attempts,
                    " attempts; is a server up at", endpoints, "?"),
          "", true);
    }
    double delay_s = backoff_delay_s(options_, attempt, jitter(random_));
    // The server knows best when it will have room, but a broken value must not stall the
    // caller longer than a lost reply would.
    if (refused && refused->retry_after_s) {
      delay_s = std::max(delay_s, std::min(*refused->retry_after_s, options_.timeout_s));
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(delay_s));
  }
}

nlohmann::json Client::call_expecting(nlohmann::json request, const char* expected_type) {
  nlohmann::json reply = call(std::move(request));
  if (serve::reply_type(reply) != expected_type) {
    throw ClientError(ErrorCode::kInternal,
                      util::cat("expected a \"", expected_type, "\" reply, got \"",
                                serve::reply_type(reply), "\""));
  }
  return reply;
}

std::vector<nlohmann::json> Client::score(const std::vector<nlohmann::json>& samples,
                                          std::optional<int64_t> step) {
  return score_items("samples", samples, step);
}

std::vector<nlohmann::json> Client::score_groups(const std::vector<nlohmann::json>& groups,
                                                 std::optional<int64_t> step) {
  return score_items("groups", groups, step);
}

std::vector<nlohmann::json> Client::score_items(const char* key,
                                                const std::vector<nlohmann::json>& items,
                                                std::optional<int64_t> step) {
  nlohmann::json request = {{"type", "score"}, {key, items}};
  if (step) request["step"] = *step;
  nlohmann::json reply = call_expecting(std::move(request), "score");
  if (!reply.contains("results") || !reply["results"].is_array()) {
    throw ClientError(ErrorCode::kInternal, "the score reply has no \"results\" array");
  }
  return reply["results"].get<std::vector<nlohmann::json>>();
}

nlohmann::json Client::ping() {
  return call_expecting({{"type", "ping"}}, "pong");
}

nlohmann::json Client::info(bool deep) {
  nlohmann::json request = {{"type", "info"}};
  if (deep) request["deep"] = true;
  return call_expecting(std::move(request), "info");
}

nlohmann::json Client::stats(bool flush) {
  nlohmann::json request = {{"type", "stats"}};
  if (flush) request["flush"] = true;
  return call_expecting(std::move(request), "stats");
}

std::string Client::send(nlohmann::json request) {
  std::string frame;
  const std::string id = prepare(request, frame);
  if (!send_frame(frame, now_s() + options_.timeout_s)) {
    throw ClientError(ErrorCode::kDeadlineExceeded,
                      util::cat("request ", id, ": no server connection took it within ",
                                options_.timeout_s, " s"),
                      "", true);
  }
  return id;
}

std::optional<nlohmann::json> Client::receive(double timeout_s) {
  return next_reply(now_s() + timeout_s);
}

}  // namespace safrl::serve
