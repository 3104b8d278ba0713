// The one typed error and its edges: every error code's JSON object, protocol reply and HTTP
// status, written out by hand (docs/protocol.md, "Error codes"; docs/trainers/openrlhf.md,
// "Errors"), the retry hint in body and header, and the transport's own statuses.
#include "serve/error_reply.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "serve/http_response.h"
#include "serve/job.h"
#include "serve/protocol.h"

namespace safrl::serve {
namespace {

using nlohmann::json;

struct CodeCase {
  ErrorCode code;
  int status;
  std::string body;  // the HTTP body of {code, "m"}
};

const std::vector<CodeCase> kEveryCode = {
    {ErrorCode::kBadRequest, 400, R"({"error":{"code":"bad_request","message":"m"}})"},
    {ErrorCode::kUnsupportedVersion, 500,
     R"({"error":{"code":"unsupported_version","message":"m"}})"},
    {ErrorCode::kTooLarge, 413, R"({"error":{"code":"too_large","message":"m"}})"},
    {ErrorCode::kTooLong, 400, R"({"error":{"code":"too_long","message":"m"}})"},
    {ErrorCode::kBusy, 503, R"({"error":{"code":"busy","message":"m"}})"},
    {ErrorCode::kDeadlineExceeded, 504, R"({"error":{"code":"deadline_exceeded","message":"m"}})"},
    {ErrorCode::kShuttingDown, 503, R"({"error":{"code":"shutting_down","message":"m"}})"},
    {ErrorCode::kUnavailable, 503, R"({"error":{"code":"unavailable","message":"m"}})"},
    {ErrorCode::kModelError, 500, R"({"error":{"code":"model_error","message":"m"}})"},
    {ErrorCode::kInternal, 500, R"({"error":{"code":"internal","message":"m"}})"},
};

std::string msgpack(const json& value) {
  std::string frame;
  json::to_msgpack(value, frame);
  return frame;
}

TEST(ErrorReply, EveryCodeHasItsHttpStatusAndBody) {
  // kInternal is the last enumerator: ten codes, each listed once above.
  ASSERT_EQ(kEveryCode.size(), static_cast<size_t>(ErrorCode::kInternal) + 1);
  for (const CodeCase& c : kEveryCode) {
    SCOPED_TRACE(std::string(error_code_name(c.code)));
    EXPECT_EQ(http_status(c.code), c.status);
    const HttpResponse response = json_error({c.code, "m"});
    EXPECT_EQ(response.status, c.status);
    EXPECT_EQ(response.content_type, "application/json");
    EXPECT_EQ(response.body, c.body);
    EXPECT_TRUE(response.headers.empty());  // no retry hint, no Retry-After
  }
}

TEST(ErrorReply, EveryCodeIsTheSameObjectInTheProtocolReply) {
  for (const CodeCase& c : kEveryCode) {
    SCOPED_TRACE(std::string(error_code_name(c.code)));
    const json object = json::parse(c.body)["error"];
    EXPECT_EQ(error_json({c.code, "m"}), object);
    EXPECT_EQ(error_reply("r1", {c.code, "m"}),
              json({{"type", "error"}, {"id", "r1"}, {"error", object}}));
  }
}

TEST(ErrorReply, TheProtocolReplyHasTheSameShapeInVersions1And2) {
  const json reply = error_reply("r7", {ErrorCode::kUnavailable, "vLLM did not answer", 5000});
  const json error = {
      {"code", "unavailable"}, {"message", "vLLM did not answer"}, {"retry_after_ms", 5000}};
  EXPECT_EQ(encode(reply, 1),
            msgpack({{"v", 1}, {"type", "error"}, {"id", "r7"}, {"error", error}}));
  EXPECT_EQ(encode(reply, 2),
            msgpack({{"v", 2}, {"type", "error"}, {"id", "r7"}, {"error", error}}));
  // A request too broken to have an id gets a reply without one.
  EXPECT_EQ(
      error_reply("", {ErrorCode::kBadRequest, "not msgpack"}),
      json({{"type", "error"}, {"error", {{"code", "bad_request"}, {"message", "not msgpack"}}}}));
}

TEST(ErrorReply, ARetryHintIsInTheBodyAndInRetryAfterRoundedUpToSeconds) {
  HttpResponse response = json_error({ErrorCode::kBusy, "wait", 1001});
  // Body: {"error":{"code":"busy","message":"wait","retry_after_ms":1001}} is 64 bytes;
  // Retry-After: ceil(1001 / 1000) = 2.
  EXPECT_EQ(serialize(response),
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            "Content-Length: 64\r\nRetry-After: 2\r\n\r\n"
            R"({"error":{"code":"busy","message":"wait","retry_after_ms":1001}})");
  // ceil(1000 / 1000) = 1; ceil(50 / 1000) = 1: a hint under a second is still a second's wait.
  EXPECT_EQ(json_error({ErrorCode::kShuttingDown, "stopping", 1000}).headers,
            (std::vector<std::pair<std::string, std::string>>{{"Retry-After", "1"}}));
  EXPECT_EQ(json_error({ErrorCode::kBusy, "wait", 50}).headers,
            (std::vector<std::pair<std::string, std::string>>{{"Retry-After", "1"}}));
}

TEST(ErrorReply, AStatusOfTheTransportsOwnKeepsTheCodeInTheBody) {
  const HttpResponse missing = json_error(404, {ErrorCode::kBadRequest, "no endpoint /x"});
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body, R"({"error":{"code":"bad_request","message":"no endpoint /x"}})");
  EXPECT_EQ(json_error(408, {ErrorCode::kBadRequest, "late"}).status, 408);
}

TEST(ErrorReply, TransportStatusesGiveTheirBodysCode) {
  EXPECT_EQ(error_code_of_http_status(413), ErrorCode::kTooLarge);  // body over the bound
  EXPECT_EQ(error_code_of_http_status(431), ErrorCode::kTooLarge);  // headers over the bound
  EXPECT_EQ(error_code_of_http_status(503), ErrorCode::kBusy);      // bodies held over the bound
  for (int status : {400, 408, 417, 501, 505}) {
    EXPECT_EQ(error_code_of_http_status(status), ErrorCode::kBadRequest) << status;
  }
}

TEST(ErrorReply, AProtocolErrorAnswersWithItsCodeAndMessage) {
  const ProtocolError error(ErrorCode::kTooLarge, "the frame is 9 bytes", "r9");
  const ErrorReply reply = error.reply();
  EXPECT_EQ(reply.code, ErrorCode::kTooLarge);
  EXPECT_EQ(reply.message, "the frame is 9 bytes");
  EXPECT_FALSE(reply.retry_after_ms.has_value());
  EXPECT_EQ(error.request_id(), "r9");
}

TEST(ErrorReply, AJobsReplyIsABodyOrARefusalNeverBoth) {
  const Reply refused = ErrorReply{ErrorCode::kDeadlineExceeded, "late", std::nullopt};
  ASSERT_TRUE(refused.error.has_value());
  EXPECT_EQ(refused.error->code, ErrorCode::kDeadlineExceeded);
  EXPECT_TRUE(refused.body.is_null());
  const Reply scored(json{{"type", "score"}});
  EXPECT_FALSE(scored.error.has_value());
  EXPECT_EQ(scored.body, json({{"type", "score"}}));
}

}  // namespace
}  // namespace safrl::serve
