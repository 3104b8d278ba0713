// The HTTP request reader: requests split anywhere arrive whole, every bound is checked while
// the bytes come in (before a body is read), and every malformed request is an HttpError with
// the status to answer.
#include "serve/http_request.h"

#include <string>

#include <gtest/gtest.h>

#include "serve/http_response.h"

namespace safrl::serve {
namespace {

using Progress = HttpRequestReader::Progress;

HttpLimits small_limits() {
  HttpLimits limits;
  limits.max_header_bytes = 256;
  limits.max_headers = 5;
  limits.max_body_bytes = 100;
  return limits;
}

// Feeds `bytes` in pieces of `step` and returns the first complete request.
HttpRequest read_whole(const std::string& bytes, size_t step, HttpLimits limits = {}) {
  HttpRequestReader reader(limits);
  bool saw_headers = false;
  for (size_t at = 0; at < bytes.size(); at += step) {
    Progress progress = reader.feed(std::string_view(bytes).substr(at, step));
    while (progress == Progress::kHeadersDone) {
      saw_headers = true;
      progress = reader.feed();
    }
    if (progress == Progress::kComplete) {
      EXPECT_TRUE(saw_headers);
      return reader.take();
    }
  }
  ADD_FAILURE() << "the request never completed";
  return {};
}

// The status of the HttpError that reading `bytes` throws (0: none).
int refusal_status(const std::string& bytes, HttpLimits limits = small_limits(),
                   std::string* message = nullptr) {
  HttpRequestReader reader(limits);
  try {
    Progress progress = reader.feed(bytes);
    while (progress == Progress::kHeadersDone) progress = reader.feed();
  } catch (const HttpError& e) {
    if (message) *message = e.what();
    return e.status();
  }
  return 0;
}

TEST(HttpRequestReader, ARequestSplitAtEveryByteArrivesWhole) {
  const std::string bytes =
      "POST /get_reward?x=1 HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
      "Content-Length: 11\r\n\r\n{\"query\":1}";
  for (size_t step : {1, 2, 3, 7, 1000}) {
    const HttpRequest request = read_whole(bytes, step);
    EXPECT_EQ(request.method, "POST");
    EXPECT_EQ(request.target, "/get_reward?x=1");
    EXPECT_EQ(request.path(), "/get_reward");
    EXPECT_EQ(request.body, "{\"query\":1}");
    EXPECT_EQ(request.header("content-type"), "application/json");
    EXPECT_TRUE(request.keep_alive);
  }
}

TEST(HttpRequestReader, ChunkedBodiesAreJoinedAndTrailersDropped) {
  const std::string bytes =
      "POST /get_reward HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nTrailer: x\r\n\r\n";
  for (size_t step : {1, 5, 1000}) {
    const HttpRequest request = read_whole(bytes, step);
    EXPECT_EQ(request.body, "hello world");
    EXPECT_FALSE(request.content_length);
  }
}

TEST(HttpRequestReader, PipelinedRequestsAreReadOneAfterAnother) {
  HttpRequestReader reader({});
  ASSERT_EQ(reader.feed("\r\nGET /health HTTP/1.1\r\n\r\nGET /metrics HTTP/1.0\n\nPOST"),
            Progress::kHeadersDone);
  ASSERT_EQ(reader.feed(), Progress::kComplete);
  EXPECT_EQ(reader.take().target, "/health");
  EXPECT_GT(reader.buffered(), 0u);
  ASSERT_EQ(reader.feed(), Progress::kHeadersDone);
  ASSERT_EQ(reader.feed(), Progress::kComplete);
  const HttpRequest second = reader.take();
  EXPECT_EQ(second.target, "/metrics");
  EXPECT_FALSE(second.keep_alive);  // HTTP/1.0 without keep-alive
  EXPECT_EQ(reader.feed(), Progress::kNeedMore);
  EXPECT_TRUE(reader.started());
}

TEST(HttpRequestReader, ConnectionAndExpectHeadersAreRead) {
  HttpRequest request = read_whole(
      "POST / HTTP/1.1\r\nConnection: Close\r\nExpect: 100-Continue\r\n"
      "Content-Length: 1\r\n\r\nx",
      1000);
  EXPECT_FALSE(request.keep_alive);
  EXPECT_TRUE(request.expect_continue);
  request = read_whole("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1000);
  EXPECT_TRUE(request.keep_alive);
  // Repeated equal lengths are one length.
  request =
      read_whole("POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\nab", 1000);
  EXPECT_EQ(request.body, "ab");
}

TEST(HttpRequestReader, EveryMalformedRequestHasItsStatus) {
  std::string message;
  // The body bound, from the declared length, before any body byte.
  EXPECT_EQ(refusal_status("POST / HTTP/1.1\r\nContent-Length: 200000000\r\n\r\n", small_limits(),
                           &message),
            413);
  EXPECT_EQ(message, "the body of 200000000 bytes is over the limit of 100 bytes");
  EXPECT_EQ(refusal_status("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
            413);
  // ... and for chunked bodies as they arrive.
  EXPECT_EQ(refusal_status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "50\r\n" +
                           std::string(80, 'x') + "\r\n50\r\n"),
            413);
  EXPECT_EQ(
      refusal_status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n"),
      413);
  // Content-Length that disagrees or is not a number.
  EXPECT_EQ(refusal_status("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                           small_limits(), &message),
            400);
  EXPECT_EQ(message, "the request has two different Content-Length values (5 and 6)");
  EXPECT_EQ(
      refusal_status("POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", small_limits(), &message),
      400);
  EXPECT_EQ(message, "Content-Length \"abc\" is not a number of bytes");
  EXPECT_EQ(refusal_status("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400);
  EXPECT_EQ(refusal_status("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n"), 400);
  // Length and chunked together: the smuggling ambiguity.
  EXPECT_EQ(refusal_status("POST / HTTP/1.1\r\nContent-Length: 3\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n"),
            400);
  EXPECT_EQ(refusal_status("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 501);
  EXPECT_EQ(refusal_status("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
  EXPECT_EQ(refusal_status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), 400);
  EXPECT_EQ(refusal_status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n"),
            400);
  // Strict framing where leniency would let two parsers disagree (request smuggling).
  EXPECT_EQ(refusal_status("POST / HTTP/1.1\r\nTransfer-Encoding: ,\r\nContent-Length: 1\r\n\r\n",
                           small_limits(), &message),
            400);
  EXPECT_EQ(message, "an empty Transfer-Encoding header");
  const std::string chunked = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(refusal_status(chunked + " 3 \r\nabc\r\n0\r\n\r\n"), 400);
  EXPECT_EQ(refusal_status(chunked + "3;a\x01b\r\nabc\r\n0\r\n\r\n"), 400);
  EXPECT_EQ(refusal_status(chunked + "3x\r\nabc\r\n0\r\n\r\n"), 400);
  EXPECT_EQ(refusal_status(chunked + "3 ;a=b\r\nabc\r\n0\r\nnot a trailer\r\n\r\n"), 400);
  EXPECT_EQ(refusal_status(chunked + "3;" + std::string(5000, 'e') + "\r\nabc\r\n"), 400);
  // Headers: count, size, shape.
  std::string many = "GET / HTTP/1.1\r\n";
  for (int k = 0; k < 6; ++k) many += "X-" + std::to_string(k) + ": 1\r\n";
  EXPECT_EQ(refusal_status(many + "\r\n", small_limits(), &message), 431);
  EXPECT_EQ(message, "the request has more than 5 headers");
  EXPECT_EQ(refusal_status("GET / HTTP/1.1\r\nX: " + std::string(300, 'a')), 431);  // unfinished
  EXPECT_EQ(refusal_status("GET / HTTP/1.1\r\nX : 1\r\n\r\n"), 400);
  EXPECT_EQ(refusal_status("GET / HTTP/1.1\r\nNoColon\r\n\r\n"), 400);
  EXPECT_EQ(refusal_status("GET / HTTP/1.1\r\nX: 1\r\n folded\r\n\r\n"), 400);
  EXPECT_EQ(refusal_status(std::string("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 26)), 400);
  // The request line.
  EXPECT_EQ(refusal_status("GET /\r\n\r\n"), 400);
  EXPECT_EQ(refusal_status("GET / HTTP/2.0\r\n\r\n"), 505);
  EXPECT_EQ(refusal_status("GET / FTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(refusal_status("G(T / HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(refusal_status("GET /a b HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(refusal_status("POST / HTTP/1.1\r\nExpect: magic\r\n\r\n"), 417);
}

TEST(HttpRequestReader, NothingIsReadPastTheHeadersUntilAskedAgain) {
  // The caller refuses a request from its headers without the reader touching its body.
  HttpRequestReader reader(small_limits());
  ASSERT_EQ(reader.feed("POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody"),
            Progress::kHeadersDone);
  EXPECT_EQ(reader.request().content_length, 4u);
  EXPECT_TRUE(reader.request().body.empty());
  EXPECT_EQ(reader.buffered(), 4u);
}

TEST(HttpResponse, ErrorsAreJsonWithTheirLengthAndRetryHint) {
  HttpResponse response = json_error({ErrorCode::kBusy, "wait \xff", 1500});
  response.close = true;
  EXPECT_EQ(
      serialize(response),
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
      "Content-Length: 68\r\nConnection: close\r\nRetry-After: 2\r\n\r\n"
      "{\"error\":{\"code\":\"busy\",\"message\":\"wait \xEF\xBF\xBD\",\"retry_after_ms\":1500}}");
  HttpResponse ok;
  ok.content_type = "text/plain";
  ok.body = "ok\n";
  EXPECT_EQ(serialize(ok, /*head_only=*/true),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\n");
}

}  // namespace
}  // namespace safrl::serve
