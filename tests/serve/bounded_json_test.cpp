// JSON parsed under depth and value bounds (the HTTP gateway's /get_reward bodies).
#include "serve/bounded_json.h"

#include <gtest/gtest.h>

#include <string>

#include "serve/protocol.h"

namespace safrl::serve {
namespace {

ProtocolError refusal(const std::string& text, JsonBounds bounds = {}) {
  try {
    parse_bounded_json(text, bounds, "the body");
  } catch (const ProtocolError& e) {
    return e;
  }
  ADD_FAILURE() << "accepted: " << text.substr(0, 80);
  return ProtocolError(ErrorCode::kInternal, "");
}

TEST(BoundedJson, ParsesWhatFitsTheBounds) {
  const auto body = parse_bounded_json(R"({"query": ["a", "b"], "prompts": ["a", "b"], "n": 1.5})",
                                       {2, 11}, "the body");
  EXPECT_EQ(body["query"][1], "b");
  EXPECT_EQ(body["n"], 1.5);
}

TEST(BoundedJson, RefusesNestingPastTheDepthAtTheFirstLevelOver) {
  const ProtocolError e = refusal(std::string(16 << 20, '['));
  EXPECT_EQ(e.code(), ErrorCode::kBadRequest);
  EXPECT_STREQ(e.what(), "the body nests arrays and objects deeper than 64");
  EXPECT_EQ(refusal(R"({"a": [[1]]})", {2, 100}).code(), ErrorCode::kBadRequest);
}

TEST(BoundedJson, RefusesMoreValuesThanTheBoundAsTooLarge) {
  // Keys count: an object of 2 members is 1 + 2 keys + 2 values.
  EXPECT_NO_THROW(parse_bounded_json(R"({"a": 1, "b": 2})", {4, 5}, "the body"));
  const ProtocolError e = refusal(R"({"a": 1, "b": 2})", {4, 4});
  EXPECT_EQ(e.code(), ErrorCode::kTooLarge);
  EXPECT_STREQ(e.what(), "the body holds more than 4 JSON values; send fewer queries per request");
}

TEST(BoundedJson, TextThatIsNotJsonIsABadRequest) {
  for (const std::string text : {"", "{", "[1,]", "{\"a\": \"\xff\"}", "nul"}) {
    const ProtocolError e = refusal(text);
    EXPECT_EQ(e.code(), ErrorCode::kBadRequest) << text;
    EXPECT_EQ(std::string(e.what()).rfind("the body is not JSON: ", 0), 0u) << e.what();
  }
}

}  // namespace
}  // namespace safrl::serve
