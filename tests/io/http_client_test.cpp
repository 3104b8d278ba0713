// io::HttpClient against a loopback socket that answers as scripted: the request it sends, the
// answer it returns, and failures (nobody listening, no answer in time) as values.
#include "io/http_client.h"

#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include "support/scripted_http_server.h"

namespace safrl::io {
namespace {

using safrl::testing::answer;
using safrl::testing::ScriptedServer;

TEST(HttpClient, PostsJsonAndReadsTheAnswerOnOneKeptConnection) {
  ScriptedServer server({answer(200, R"({"data": []})"), answer(400, R"({"error": 1})")});
  HttpClient client({"Authorization: Bearer s3cret"});
  const HttpResponse first = client.post_json(server.url("/classify"), R"({"input": [[1]]})", 5);
  EXPECT_EQ(first.status, 200);
  EXPECT_TRUE(first.ok());
  EXPECT_EQ(first.body, R"({"data": []})");
  EXPECT_EQ(first.error, "");
  const HttpResponse second = client.get(server.url("/v1/models"), 5);
  EXPECT_EQ(second.status, 400);  // any status is an answer
  EXPECT_TRUE(second.answered());
  EXPECT_FALSE(second.ok());
  EXPECT_EQ(second.body, R"({"error": 1})");
  ASSERT_EQ(server.requests().size(), 2u);
  const std::string& post = server.requests()[0];
  EXPECT_EQ(post.rfind("POST /classify HTTP/1.1\r\n", 0), 0u) << post;
  EXPECT_NE(post.find("Content-Type: application/json\r\n"), std::string::npos) << post;
  EXPECT_EQ(post.find("Expect:"), std::string::npos) << post;
  EXPECT_EQ(post.substr(post.size() - 16), R"({"input": [[1]]})");
  EXPECT_EQ(server.requests()[1].rfind("GET /v1/models HTTP/1.1\r\n", 0), 0u);
  for (const std::string& request : server.requests()) {  // the caller's headers go with each
    EXPECT_NE(request.find("\r\nAuthorization: Bearer s3cret\r\n"), std::string::npos) << request;
  }
  EXPECT_EQ(server.connections(), 1);  // kept alive
}

TEST(HttpClient, NobodyListeningIsAValue) {
  int port;
  {
    ScriptedServer closed({});  // binds a free port, then closes it
    port = std::stoi(closed.url("").substr(17));
  }
  HttpClient client;
  const HttpResponse response = client.get("http://127.0.0.1:" + std::to_string(port) + "/", 5);
  EXPECT_FALSE(response.answered());
  EXPECT_EQ(response.status, 0);
  EXPECT_NE(response.error.find("Couldn't connect to server"), std::string::npos) << response.error;
}

TEST(HttpClient, NoAnswerInTimeIsAValueAfterTheTimeout) {
  ScriptedServer server({""});
  HttpClient client;
  const auto start = std::chrono::steady_clock::now();
  const HttpResponse response = client.post_json(server.url("/pooling"), "{}", 0.3);
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_FALSE(response.answered());
  EXPECT_NE(response.error.find("Timeout was reached"), std::string::npos) << response.error;
  EXPECT_GE(waited, 0.28);  // curl's timer may fire up to a millisecond or so early
  // The server never answers: without the timeout the call would hang. A loaded machine may
  // wake the client late, so the upper bound only tells a working timeout from none.
  EXPECT_LT(waited, 10.0);
}

}  // namespace
}  // namespace safrl::io
