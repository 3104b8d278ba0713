// The client against an in-process fake server: a ROUTER on a thread that decodes each request
// with the real codec (so refusals carry the server's exact codes and messages) and answers what
// the test's handler says.
#include "serve/client.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <zmq.hpp>

namespace safrl::serve {
namespace {

using nlohmann::json;

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The replies to send for the `index`-th request (0-based), in order; empty sends nothing.
using Handler = std::function<std::vector<json>(const json& request, int index)>;

struct FakeServerOptions {
  size_t max_bytes = 1 << 20;
  // Hold every reply until this many requests came, then send them all in reverse order.
  int hold_until = 0;
  std::optional<std::string> curve_secret_key;
};

class FakeServer {
 public:
  explicit FakeServer(Handler handler, FakeServerOptions options = {})
      : handler_(std::move(handler)),
        options_(std::move(options)),
        socket_(context_, zmq::socket_type::router) {
    socket_.set(zmq::sockopt::linger, 0);
    if (options_.curve_secret_key) {
      socket_.set(zmq::sockopt::curve_server, 1);
      socket_.set(zmq::sockopt::curve_secretkey, *options_.curve_secret_key);
    }
    socket_.bind("tcp://127.0.0.1:*");
    endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
    // The socket moves to the server thread here; the thread start is the memory barrier ZeroMQ
    // asks for when a socket changes threads.
    thread_ = std::thread([this] { run(); });
  }
  ~FakeServer() {
    stop_ = true;
    thread_.join();
  }

  const std::string& endpoint() const { return endpoint_; }
  // The requests received so far, as sent.
  std::vector<json> received() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return received_;
  }
  // What was received once `count` requests are in, or after 10 s: the server thread records an
  // attempt asynchronously, and a loaded machine may run it late.
  std::vector<json> received_at_least(size_t count) const {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (received().size() < count && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return received();
  }
  std::vector<double> received_at_s() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return received_at_s_;
  }

 private:
  void run() {
    std::vector<std::pair<std::string, std::string>> held;  // (routing id, reply frame)
    while (!stop_) {
      zmq::pollitem_t item = {socket_.handle(), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&item, 1, std::chrono::milliseconds(10)) == 0) continue;
      std::vector<zmq::message_t> parts;
      do {
        parts.emplace_back();
        (void)socket_.recv(parts.back());
      } while (parts.back().more());
      const std::string routing_id = parts.front().to_string();
      const std::string frame = parts.back().to_string();
      std::vector<json> replies;
      try {
        decode_request(frame, options_.max_bytes);
        const json request = json::from_msgpack(frame);
        int index;
        {
          std::lock_guard<std::mutex> lock(mutex_);
          index = static_cast<int>(received_.size());
          received_.push_back(request);
          received_at_s_.push_back(now_s());
        }
        replies = handler_(request, index);
      } catch (const ProtocolError& e) {
        replies = {error_reply(e.request_id(), e.reply())};
      }
      for (const auto& reply : replies) held.emplace_back(routing_id, encode(reply));
      if (static_cast<int>(received().size()) < options_.hold_until) continue;
      if (options_.hold_until > 0) std::reverse(held.begin(), held.end());
      for (const auto& [to, reply] : held) {
        socket_.send(zmq::buffer(to), zmq::send_flags::sndmore);
        socket_.send(zmq::buffer(reply));
      }
      held.clear();
    }
  }

  Handler handler_;
  FakeServerOptions options_;
  zmq::context_t context_;
  zmq::socket_t socket_;
  std::string endpoint_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::vector<json> received_;
  std::vector<double> received_at_s_;
  std::thread thread_;
};

json pong(const json& request, int64_t time_ms) {
  return {{"id", request["id"]}, {"type", "pong"}, {"time_ms", time_ms}};
}

// One result per sample of a score request: its id and a reward of 0.5 * (index + 1).
json score_reply(const json& request) {
  json results = json::array();
  for (const auto& sample : request["samples"]) {
    results.push_back({{"id", sample["id"]}, {"reward", 0.5 * (results.size() + 1)}});
  }
  return {{"id", request["id"]}, {"type", "score"}, {"results", results}};
}

json refusal(const json& request, ErrorCode code, std::optional<int64_t> retry_after_ms = {}) {
  return error_reply(request["id"].get<std::string>(),
                     {code, "refused for the test", retry_after_ms});
}

ClientOptions fast_options(const std::vector<std::string>& endpoints) {
  ClientOptions options;
  options.endpoints = endpoints;
  options.timeout_s = 2;
  options.retries = 3;
  options.backoff_s = 0.01;
  options.max_backoff_s = 0.02;
  return options;
}

// An endpoint nothing listens on: bound once for a free port, then closed.
std::string dead_endpoint() {
  zmq::context_t context;
  zmq::socket_t socket(context, zmq::socket_type::router);
  socket.set(zmq::sockopt::linger, 0);
  socket.bind("tcp://127.0.0.1:*");
  return socket.get(zmq::sockopt::last_endpoint);
}

json sample(const std::string& id) {
  return {{"id", id}, {"prompt", "p"}, {"response", "r"}};
}

TEST(Client, PingFillsVersionAndAFreshRandomId) {
  FakeServer server([](const json& request, int index) {
    return std::vector<json>{pong(request, 1000 + index)};
  });
  Client client(fast_options({server.endpoint()}));
  EXPECT_EQ(client.ping()["time_ms"], 1000);
  EXPECT_EQ(client.ping()["time_ms"], 1001);

  const auto received = server.received();
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[0]["v"], kProtocolVersion);
  EXPECT_EQ(received[0]["type"], "ping");
  const std::string id = received[0]["id"];
  ASSERT_EQ(id.size(), 32u);
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(id[12], '4');  // a version-4 UUID
  EXPECT_NE(received[1]["id"], received[0]["id"]);
}

TEST(Client, CallKeepsTheCallersIdAndVersion) {
  FakeServer server([](const json& request, int) { return std::vector<json>{pong(request, 7)}; });
  Client client(fast_options({server.endpoint()}));
  const json reply = client.call({{"type", "ping"}, {"id", "my-request"}});
  EXPECT_EQ(reply["id"], "my-request");
  EXPECT_EQ(reply["type"], "pong");
  EXPECT_EQ(reply["v"], kProtocolVersion);
  EXPECT_EQ(server.received().at(0)["id"], "my-request");
}

TEST(Client, ScoreSendsSamplesAndStepAndReturnsResults) {
  FakeServer server(
      [](const json& request, int) { return std::vector<json>{score_reply(request)}; });
  Client client(fast_options({server.endpoint()}));
  const auto results = client.score({sample("a"), sample("b")}, 12);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0]["id"], "a");
  EXPECT_EQ(results[0]["reward"], 0.5);
  EXPECT_EQ(results[1]["id"], "b");
  EXPECT_EQ(results[1]["reward"], 1.0);
  const json sent = server.received().at(0);
  EXPECT_EQ(sent["type"], "score");
  EXPECT_EQ(sent["step"], 12);
  EXPECT_EQ(sent["samples"][1]["id"], "b");
  EXPECT_FALSE(sent.contains("groups"));
}

TEST(Client, ScoreGroupsSendsGroups) {
  FakeServer server([](const json& request, int) {
    json results = json::array();
    for (const auto& group : request["groups"]) {
      for (const auto& response : group["responses"]) results.push_back({{"answer", response}});
    }
    return std::vector<json>{{{"id", request["id"]}, {"type", "score"}, {"results", results}}};
  });
  Client client(fast_options({server.endpoint()}));
  const auto results = client.score_groups({{{"prompt", "p"}, {"responses", {"x", "y"}}}});
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[1]["answer"], "y");
  EXPECT_FALSE(server.received().at(0).contains("step"));
}

TEST(Client, InfoAndStatsSendTheirFlagsOnlyWhenSet) {
  FakeServer server([](const json& request, int) {
    return std::vector<json>{{{"id", request["id"]}, {"type", request["type"]}}};
  });
  Client client(fast_options({server.endpoint()}));
  EXPECT_EQ(client.info()["type"], "info");
  EXPECT_EQ(client.info(true)["type"], "info");
  EXPECT_EQ(client.stats(true)["type"], "stats");
  const auto received = server.received();
  ASSERT_EQ(received.size(), 3u);
  EXPECT_FALSE(received[0].contains("deep"));
  EXPECT_EQ(received[1]["deep"], true);
  EXPECT_EQ(received[2]["flush"], true);
}

TEST(Client, BusyTwiceThenSuccessResendsTheSameIdAfterRetryAfter) {
  FakeServer server([](const json& request, int index) {
    if (index == 0) return std::vector<json>{refusal(request, ErrorCode::kBusy, 80)};
    if (index == 1) return std::vector<json>{refusal(request, ErrorCode::kBusy, 120)};
    return std::vector<json>{pong(request, 3)};
  });
  Client client(fast_options({server.endpoint()}));
  const double start = now_s();
  EXPECT_EQ(client.ping()["time_ms"], 3);
  EXPECT_GE(now_s() - start, 0.200);

  const auto received = server.received();
  ASSERT_EQ(received.size(), 3u);
  EXPECT_EQ(received[1]["id"], received[0]["id"]);
  EXPECT_EQ(received[2]["id"], received[0]["id"]);
  const auto at = server.received_at_s();
  EXPECT_GE(at[1] - at[0], 0.080);
  EXPECT_GE(at[2] - at[1], 0.120);
}

TEST(Client, DeadlineExceededShuttingDownAndUnavailableAreRetried) {
  FakeServer server([](const json& request, int index) {
    if (index == 0) return std::vector<json>{refusal(request, ErrorCode::kDeadlineExceeded)};
    if (index == 1) return std::vector<json>{refusal(request, ErrorCode::kShuttingDown)};
    if (index == 2) return std::vector<json>{refusal(request, ErrorCode::kUnavailable)};
    return std::vector<json>{pong(request, 9)};
  });
  Client client(fast_options({server.endpoint()}));
  EXPECT_EQ(client.ping()["time_ms"], 9);
  const auto received = server.received();
  ASSERT_EQ(received.size(), 4u);
  EXPECT_EQ(received[2]["id"], received[0]["id"]);
  EXPECT_EQ(received[3]["id"], received[0]["id"]);
}

TEST(Client, BusyAfterTheRetryBudgetThrowsBusy) {
  FakeServer server([](const json& request, int) {
    return std::vector<json>{refusal(request, ErrorCode::kBusy, 1)};
  });
  ClientOptions options = fast_options({server.endpoint()});
  options.retries = 2;
  Client client(options);
  try {
    client.ping();
    FAIL() << "expected ClientError";
  } catch (const ClientError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kBusy);
    EXPECT_FALSE(e.timed_out());
    EXPECT_EQ(e.server_message(), "refused for the test");
    EXPECT_NE(std::string(e.what()).find("still busy after 3 attempts"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(server.received().size(), 3u);
}

TEST(Client, NoReplyTimesOutAfterEveryRetry) {
  FakeServer server([](const json&, int) { return std::vector<json>{}; });
  ClientOptions options = fast_options({server.endpoint()});
  options.timeout_s = 0.1;
  options.retries = 2;
  Client client(options);
  const double start = now_s();
  try {
    client.ping();
    FAIL() << "expected ClientError";
  } catch (const ClientError& e) {
    EXPECT_TRUE(e.timed_out());
    EXPECT_EQ(e.code(), ErrorCode::kDeadlineExceeded);
    EXPECT_TRUE(e.server_message().empty());
    EXPECT_NE(std::string(e.what()).find("no reply within 0.1 s in 3 attempts"), std::string::npos)
        << e.what();
  }
  EXPECT_GE(now_s() - start, 0.3);
  const auto received = server.received_at_least(3);
  ASSERT_EQ(received.size(), 3u);
  EXPECT_EQ(received[1]["id"], received[0]["id"]);
  EXPECT_EQ(received[2]["id"], received[0]["id"]);
}

TEST(Client, NoServerAtAllTimesOut) {
  ClientOptions options = fast_options({dead_endpoint()});
  options.timeout_s = 0.05;
  options.retries = 1;
  Client client(options);
  try {
    client.ping();
    FAIL() << "expected ClientError";
  } catch (const ClientError& e) {
    EXPECT_TRUE(e.timed_out());
  }
  try {
    client.send({{"type", "ping"}});
    FAIL() << "expected ClientError";
  } catch (const ClientError& e) {
    EXPECT_TRUE(e.timed_out());
    EXPECT_NE(std::string(e.what()).find("no server connection took it"), std::string::npos);
  }
}

TEST(Client, StaleRepliesToOtherIdsAreIgnored) {
  FakeServer server([](const json& request, int) {
    // A late answer and a late refusal to earlier requests come first; neither is this call's.
    return std::vector<json>{
        {{"id", "earlier-request"}, {"type", "pong"}, {"time_ms", 1}},
        error_reply("earlier-request", {ErrorCode::kBadRequest, "stale"}),
        pong(request, 2),
    };
  });
  Client client(fast_options({server.endpoint()}));
  EXPECT_EQ(client.ping()["time_ms"], 2);
  EXPECT_EQ(server.received().size(), 1u);
}

TEST(Client, ALateReplyToATimedOutAttemptDoesNotAnswerTheNextCall) {
  // The first attempt of call 1 is answered only after the client gave up on it, together with
  // the retry's answer; call 2 must then get its own reply, not the duplicate.
  FakeServer server([](const json& request, int index) {
    if (index == 0) return std::vector<json>{};
    if (index == 1) return std::vector<json>{pong(request, 10), pong(request, 11)};
    return std::vector<json>{pong(request, 20)};
  });
  ClientOptions options = fast_options({server.endpoint()});
  // Long enough that the retry's prompt answer always beats it on a loaded machine.
  options.timeout_s = 1.0;
  Client client(options);
  EXPECT_EQ(client.ping()["time_ms"], 10);
  EXPECT_EQ(client.ping()["time_ms"], 20);
  EXPECT_EQ(server.received().size(), 3u);
}

TEST(Client, BadRequestIsThrownAtOnceWithTheServersMessage) {
  FakeServer server([](const json& request, int) { return std::vector<json>{pong(request, 0)}; });
  Client client(fast_options({server.endpoint()}));
  try {
    client.score({sample("a"), {{"id", "b"}, {"prompt", "p"}}});
    FAIL() << "expected ClientError";
  } catch (const ClientError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kBadRequest);
    EXPECT_FALSE(e.timed_out());
    EXPECT_EQ(e.server_message(), "samples[1]: missing \"response\" (or \"answer\")");
    EXPECT_NE(std::string(e.what()).find("bad_request: samples[1]: missing"), std::string::npos)
        << e.what();
  }
  // Refused by the codec before the handler saw it, and never resent.
  EXPECT_EQ(server.received().size(), 0u);
}

TEST(Client, UnsupportedVersionIsThrownAtOnce) {
  FakeServer server([](const json& request, int) { return std::vector<json>{pong(request, 0)}; });
  Client client(fast_options({server.endpoint()}));
  try {
    client.call({{"type", "ping"}, {"v", kProtocolVersion + 1}});
    FAIL() << "expected ClientError";
  } catch (const ClientError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupportedVersion);
    EXPECT_NE(e.server_message().find("protocol version 3"), std::string::npos);
  }
  EXPECT_EQ(server.received().size(), 0u);
}

TEST(Client, TooLargeWithoutAnIdIsTakenAsTheAnswer) {
  FakeServerOptions server_options;
  server_options.max_bytes = 64;
  FakeServer server([](const json& request, int) { return std::vector<json>{pong(request, 0)}; },
                    server_options);
  Client client(fast_options({server.endpoint()}));
  try {
    client.score({sample(std::string(100, 'x'))});
    FAIL() << "expected ClientError";
  } catch (const ClientError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kTooLarge);
    EXPECT_NE(e.server_message().find("over the server's limit of 64 bytes"), std::string::npos)
        << e.server_message();
  }
}

TEST(Client, AReplyOfTheWrongTypeIsAnError) {
  FakeServer server([](const json& request, int) { return std::vector<json>{pong(request, 0)}; });
  Client client(fast_options({server.endpoint()}));
  try {
    client.score({sample("a")});
    FAIL() << "expected ClientError";
  } catch (const ClientError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInternal);
    EXPECT_STREQ(e.what(), "expected a \"score\" reply, got \"pong\"");
  }
}

TEST(Client, TwoEndpointsWithOneDeadStillAnswerEveryRequest) {
  FakeServer server(
      [](const json& request, int index) { return std::vector<json>{pong(request, index)}; });
  ClientOptions options = fast_options({dead_endpoint(), server.endpoint()});
  options.timeout_s = 1;
  options.retries = 0;  // a request parked behind the dead endpoint would fail the test
  Client client(options);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(client.ping()["time_ms"], i);
}

TEST(Client, AHungEndpointCostsOneTimeoutThenTheRetryGoesToTheOther) {
  FakeServer hung([](const json&, int) { return std::vector<json>{}; });
  FakeServer live(
      [](const json& request, int index) { return std::vector<json>{pong(request, index)}; });
  ClientOptions options = fast_options({hung.endpoint(), live.endpoint()});
  // Long enough that the live server's answer always beats it on a loaded machine.
  options.timeout_s = 1.0;
  options.retries = 1;
  Client client(options);
  // Let both connections come up, so round-robin alternates between them.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(client.ping()["time_ms"], i);
  // Each call reaches the hung server at most once; the retry after it goes to the live one.
  EXPECT_LE(hung.received().size(), 4u);
  EXPECT_EQ(live.received().size(), 4u);
}

TEST(Client, PipelinesAHundredRequestsAndMatchesRepliesById) {
  FakeServerOptions server_options;
  server_options.hold_until = 100;
  FakeServer server(
      [](const json& request, int) { return std::vector<json>{score_reply(request)}; },
      server_options);
  Client client(fast_options({server.endpoint()}));
  std::vector<std::string> ids;
  for (int i = 0; i < 100; ++i) {
    ids.push_back(client.send({{"type", "score"}, {"samples", {sample(std::to_string(i))}}}));
  }
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 100u);
  std::vector<json> replies;
  while (replies.size() < 100) {
    auto reply = client.receive(2);
    ASSERT_TRUE(reply.has_value()) << "after " << replies.size() << " replies";
    replies.push_back(std::move(*reply));
  }
  EXPECT_FALSE(client.receive(0.05).has_value());
  // The server answered in reverse order; each reply still carries its own request's sample.
  for (int i = 0; i < 100; ++i) {
    const json& reply = replies[99 - i];
    EXPECT_EQ(reply["id"], ids[i]);
    EXPECT_EQ(reply["results"][0]["id"], std::to_string(i));
  }
}

TEST(Client, ReceiveThrowsOnAReplyThatIsNotMsgpack) {
  zmq::context_t context;
  zmq::socket_t router(context, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.bind("tcp://127.0.0.1:*");
  Client client(fast_options({router.get(zmq::sockopt::last_endpoint)}));
  client.send({{"type", "ping"}});
  zmq::message_t routing_id;
  zmq::message_t frame;
  ASSERT_TRUE(router.recv(routing_id));
  ASSERT_TRUE(router.recv(frame));
  router.send(routing_id, zmq::send_flags::sndmore);
  router.send(zmq::str_buffer("\xc1"));
  try {
    client.receive(2);
    FAIL() << "expected ClientError";
  } catch (const ClientError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInternal);
    EXPECT_NE(std::string(e.what()).find("not msgpack"), std::string::npos) << e.what();
  }
}

TEST(Client, CurveEncryptedRoundTrip) {
  if (!zmq_has("curve")) GTEST_SKIP() << "libzmq without CURVE";
  char server_public[41], server_secret[41], client_public[41], client_secret[41];
  ASSERT_EQ(zmq_curve_keypair(server_public, server_secret), 0);
  ASSERT_EQ(zmq_curve_keypair(client_public, client_secret), 0);
  FakeServerOptions server_options;
  server_options.curve_secret_key = server_secret;
  FakeServer server([](const json& request, int) { return std::vector<json>{pong(request, 5)}; },
                    server_options);

  ClientOptions options = fast_options({server.endpoint()});
  options.curve = CurveClientKeys{server_public, client_public, client_secret};
  EXPECT_EQ(Client(options).ping()["time_ms"], 5);

  // A plain client never completes the handshake, so nothing is sent.
  ClientOptions plain = fast_options({server.endpoint()});
  plain.timeout_s = 0.1;
  plain.retries = 0;
  Client plain_client(plain);
  EXPECT_THROW(plain_client.ping(), ClientError);
  EXPECT_EQ(server.received().size(), 1u);
}

TEST(Client, InvalidOptionsAreRefusedAtConstruction) {
  ClientOptions options;
  options.curve = CurveClientKeys{"short", std::string(40, 'a'), std::string(40, 'a')};
  if (zmq_has("curve")) {
    try {
      Client client(options);
      FAIL() << "expected util::Error";
    } catch (const util::Error& e) {
      EXPECT_STREQ(e.what(),
                   "CURVE server_public_key must be 40 characters of Z85 text (as "
                   "zmq_curve_keypair prints it), got 5 characters");
    }
  }
  ClientOptions no_endpoints;
  no_endpoints.endpoints.clear();
  EXPECT_THROW(Client{no_endpoints}, util::Error);
  ClientOptions bad_endpoint;
  bad_endpoint.endpoints = {"nonsense"};
  try {
    Client client(bad_endpoint);
    FAIL() << "expected util::Error";
  } catch (const util::Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot connect to endpoint \"nonsense\""),
              std::string::npos);
  }
  ClientOptions zero_timeout;
  zero_timeout.timeout_s = 0;
  EXPECT_THROW(Client{zero_timeout}, util::Error);
}

TEST(Client, ARequestThatIsNotAMapOrHasANonStringIdIsRefusedLocally) {
  Client client(fast_options({dead_endpoint()}));
  try {
    client.call(json::array({1, 2}));
    FAIL() << "expected ClientError";
  } catch (const ClientError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kBadRequest);
    EXPECT_STREQ(e.what(), "a request must be a JSON object, got an array");
  }
  try {
    client.call({{"type", "ping"}, {"id", 5}});
    FAIL() << "expected ClientError";
  } catch (const ClientError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kBadRequest);
    EXPECT_STREQ(e.what(), "id: must be a string, got a number (5)");
  }
}

TEST(Client, BackoffDoublesUpToTheCapWithJitterBetweenHalfAndAll) {
  ClientOptions options;
  options.backoff_s = 0.2;
  options.max_backoff_s = 1.0;
  EXPECT_DOUBLE_EQ(backoff_delay_s(options, 0, 0.0), 0.1);
  EXPECT_DOUBLE_EQ(backoff_delay_s(options, 0, 1.0), 0.2);
  EXPECT_DOUBLE_EQ(backoff_delay_s(options, 1, 1.0), 0.4);
  EXPECT_DOUBLE_EQ(backoff_delay_s(options, 2, 0.5), 0.6);
  EXPECT_DOUBLE_EQ(backoff_delay_s(options, 3, 1.0), 1.0);
  EXPECT_DOUBLE_EQ(backoff_delay_s(options, 1000, 0.0), 0.5);
}

}  // namespace
}  // namespace safrl::serve
