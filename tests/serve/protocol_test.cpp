// The wire codec: every refusal of decode_request with its code and message, the defaults it
// fills in (group member ids, steps), and the reply round trip.
#include "serve/protocol.h"

#include <gtest/gtest.h>

namespace safrl::serve {
namespace {

using nlohmann::json;

constexpr size_t kMaxBytes = 1 << 20;

std::string msgpack(const json& value) {
  std::string frame;
  json::to_msgpack(value, frame);
  return frame;
}

json request(const std::string& type) {
  return {{"v", 1}, {"id", "r1"}, {"type", type}};
}

json score_request(json samples) {
  json map = request("score");
  map["samples"] = std::move(samples);
  return map;
}

json sample(json id) {
  return {{"id", std::move(id)}, {"prompt", "p"}, {"response", "r"}};
}

// Decodes a frame that must be refused; checks the code, a message substring and the echoed id.
void expect_refused(const std::string& frame, ErrorCode code, const std::string& message,
                    const std::string& request_id = "r1", size_t max_bytes = kMaxBytes) {
  try {
    decode_request(frame, max_bytes);
    ADD_FAILURE() << "expected ProtocolError containing: " << message;
  } catch (const ProtocolError& e) {
    EXPECT_EQ(error_code_name(e.code()), error_code_name(code)) << e.what();
    EXPECT_NE(std::string(e.what()).find(message), std::string::npos)
        << "message: " << e.what() << "\nwanted: " << message;
    EXPECT_EQ(e.request_id(), request_id);
  }
}

void expect_bad(const json& map, const std::string& message) {
  expect_refused(msgpack(map), ErrorCode::kBadRequest, message);
}

TEST(DecodeRequest, FramesThatAreNotMsgpackMaps) {
  expect_refused("", ErrorCode::kBadRequest, "the frame is not valid msgpack", "");
  expect_refused("\xc1", ErrorCode::kBadRequest, "the frame is not valid msgpack", "");
  // A map header promising one entry and nothing after it.
  expect_refused("\x81", ErrorCode::kBadRequest, "the frame is not valid msgpack", "");
  expect_refused(msgpack(json::array({1, 2})), ErrorCode::kBadRequest,
                 "a request must be a msgpack map, got array", "");
  expect_refused(msgpack("ping"), ErrorCode::kBadRequest,
                 "a request must be a msgpack map, got string", "");
}

TEST(DecodeRequest, TheIdMustBeAStringOf1To128Bytes) {
  const std::string message = "\"id\" must be a string of 1 to 128 bytes";
  json map = request("ping");
  map.erase("id");
  expect_refused(msgpack(map), ErrorCode::kBadRequest, message, "");
  map["id"] = "";
  expect_refused(msgpack(map), ErrorCode::kBadRequest, message, "");
  map["id"] = 17;
  expect_refused(msgpack(map), ErrorCode::kBadRequest, message, "");
  map["id"] = std::string(129, 'a');
  expect_refused(msgpack(map), ErrorCode::kBadRequest, message, "");
  map["id"] = std::string(128, 'a');
  EXPECT_EQ(decode_request(msgpack(map), kMaxBytes).id, std::string(128, 'a'));
}

TEST(DecodeRequest, Version) {
  json map = request("ping");
  map.erase("v");
  expect_bad(map, "\"v\" (the protocol version) must be an integer");
  map["v"] = "1";
  expect_bad(map, "\"v\" (the protocol version) must be an integer");
  map["v"] = 2;
  expect_refused(msgpack(map), ErrorCode::kUnsupportedVersion,
                 "protocol version 2 is not spoken here; this server speaks version 1");
  // The version is checked before anything else a newer protocol might change.
  map["id"] = 42;
  expect_refused(msgpack(map), ErrorCode::kUnsupportedVersion, "protocol version 2", "");
}

TEST(DecodeRequest, Type) {
  json map = request("ping");
  map.erase("type");
  expect_bad(map, "\"type\" must be a string: score, ping, info or stats");
  map["type"] = 3;
  expect_bad(map, "\"type\" must be a string: score, ping, info or stats");
  map["type"] = "scores";
  expect_bad(map, "unknown type \"scores\"; use score, ping, info or stats");
}

TEST(DecodeRequest, UnknownKeysAreRefusedNamingTheAllowedOnes) {
  json ping = request("ping");
  ping["deep"] = true;
  expect_bad(ping, "unknown key \"deep\" in a ping request; allowed: v, id, type");
  json info = request("info");
  info["flush"] = true;
  expect_bad(info, "unknown key \"flush\" in an info request; allowed: v, id, type, deep");
  json stats = request("stats");
  stats["deep"] = true;
  expect_bad(stats, "unknown key \"deep\" in a stats request; allowed: v, id, type, flush");
  json score = score_request({sample("a")});
  score["sample"] = json::array();
  expect_bad(score,
             "unknown key \"sample\" in a score request; allowed: v, id, type, samples, groups, "
             "step, deadline_ms");
}

TEST(DecodeRequest, PingInfoStats) {
  const Request ping = decode_request(msgpack(request("ping")), kMaxBytes);
  EXPECT_EQ(ping.type, RequestType::kPing);
  EXPECT_EQ(ping.id, "r1");

  json info = request("info");
  EXPECT_FALSE(decode_request(msgpack(info), kMaxBytes).deep);
  info["deep"] = true;
  const Request deep = decode_request(msgpack(info), kMaxBytes);
  EXPECT_EQ(deep.type, RequestType::kInfo);
  EXPECT_TRUE(deep.deep);
  info["deep"] = 1;
  expect_bad(info, "\"deep\" must be true or false");

  json stats = request("stats");
  stats["flush"] = true;
  const Request flush = decode_request(msgpack(stats), kMaxBytes);
  EXPECT_EQ(flush.type, RequestType::kStats);
  EXPECT_TRUE(flush.flush);
  stats["flush"] = "yes";
  expect_bad(stats, "\"flush\" must be true or false");
}

TEST(DecodeRequest, Samples) {
  const Request decoded = decode_request(msgpack(score_request({sample("a"),
                                                                {{"id", 7},
                                                                 {"prompt", "q"},
                                                                 {"answer", "y"},
                                                                 {"thinking", "t"},
                                                                 {"meta", {{"k", 1}}}}})),
                                         kMaxBytes);
  EXPECT_EQ(decoded.type, RequestType::kScore);
  ASSERT_EQ(decoded.samples.size(), 2u);
  EXPECT_EQ(decoded.samples[0].id, "a");
  EXPECT_EQ(decoded.samples[0].prompt, "p");
  EXPECT_EQ(decoded.samples[0].answer, "r");
  EXPECT_FALSE(decoded.samples[0].step.has_value());
  EXPECT_EQ(decoded.samples[1].id, 7);
  EXPECT_EQ(decoded.samples[1].thinking, "t");
  EXPECT_EQ(decoded.samples[1].meta, json({{"k", 1}}));
  EXPECT_EQ(decoded.group_of, (std::vector<int>{-1, -1}));
  EXPECT_FALSE(decoded.deadline_ms.has_value());
}

TEST(DecodeRequest, BadSamplesNameTheirIndex) {
  json map = score_request({sample("a")});
  map["samples"] = sample("a");
  expect_bad(map, "\"samples\" must be an array");
  expect_bad(score_request({sample("a"), {{"id", "b"}, {"prompt", "p"}}}),
             "samples[1]: missing \"response\" (or \"answer\")");
  expect_bad(score_request({sample("a"), 5}),
             "samples[1]: a sample must be a JSON object, got number");
  json misspelt = sample("c");
  misspelt["respones"] = "r";
  expect_bad(score_request({sample("a"), sample("b"), misspelt}),
             "samples[2]: unknown field \"respones\"");
  json bad_step = sample("a");
  bad_step["step"] = -1;
  expect_bad(score_request({bad_step}),
             "samples[0]: \"step\" must be a non-negative integer, got -1");
}

TEST(DecodeRequest, AScoreRequestNeedsSomethingToScore) {
  expect_bad(request("score"), "a score request needs at least one sample or group");
  expect_bad(score_request(json::array()), "a score request needs at least one sample or group");
}

TEST(DecodeRequest, GroupsExpandToMembersAfterTheSamplesWithDefaultIds) {
  json map = score_request({sample("s")});
  map["groups"] = {{{"prompt", "p0"}, {"responses", {"a", "b"}}},
                   {{"prompt", "p1"}, {"responses", {"c"}}, {"ids", {"mine"}}},
                   {{"prompt", "p2"}, {"responses", {"d"}}}};
  const Request decoded = decode_request(msgpack(map), kMaxBytes);
  ASSERT_EQ(decoded.samples.size(), 5u);
  EXPECT_EQ(decoded.samples[0].id, "s");
  EXPECT_EQ(decoded.samples[1].id, "0/0");
  EXPECT_EQ(decoded.samples[1].prompt, "p0");
  EXPECT_EQ(decoded.samples[1].answer, "a");
  EXPECT_EQ(decoded.samples[2].id, "0/1");
  EXPECT_EQ(decoded.samples[2].answer, "b");
  EXPECT_EQ(decoded.samples[3].id, "mine");
  EXPECT_EQ(decoded.samples[3].prompt, "p1");
  EXPECT_EQ(decoded.samples[4].id, "2/0");
  EXPECT_EQ(decoded.group_of, (std::vector<int>{-1, 0, 0, 1, 2}));
}

TEST(DecodeRequest, BadGroups) {
  json map = request("score");
  map["groups"] = {{"prompt", "p"}};
  expect_bad(map, "\"groups\" must be an array");
  map["groups"] = {5};
  expect_bad(map, "groups[0] must be a map");
  map["groups"] = {{{"prompt", "p"}, {"responses", {"a"}}}, {{"responses", {"a"}}}};
  expect_bad(map, "groups[1] needs a string \"prompt\"");
  map["groups"] = {{{"prompt", "p"}, {"responses", json::array()}}};
  expect_bad(map, "groups[0] needs a non-empty array \"responses\"");
  map["groups"] = {{{"prompt", "p"}, {"responses", "a"}}};
  expect_bad(map, "groups[0] needs a non-empty array \"responses\"");
  map["groups"] = {{{"prompt", "p"}, {"responses", {"a", "b"}}, {"ids", {"x"}}}};
  expect_bad(map, "groups[0]: \"ids\" must be an array with one id per response (2)");
  map["groups"] = {{{"prompt", "p"}, {"responses", {"a", 5}}}};
  expect_bad(map, "groups[0] response 1: \"response\" must be a string, got number");
  map["groups"] = {{{"prompt", "p"}, {"responses", {"a"}}, {"ids", {1.5}}}};
  expect_bad(map, "groups[0] response 0: \"id\" must be a string or an integer, got number");
  map["groups"] = {{{"prompt", "p"}, {"responses", {"a"}}, {"answers", {"a"}}}};
  expect_bad(map, "unknown key \"answers\" in groups[0]; allowed: prompt, responses, ids, step");
  map["groups"] = {{{"prompt", "p"}, {"responses", {"a"}}, {"step", -2}}};
  expect_bad(map, "\"step\" in groups[0] must be an integer >= 0, got -2");
}

TEST(DecodeRequest, TheRequestStepIsTheDefaultForSamplesAndGroups) {
  json own_step = sample("b");
  own_step["step"] = 3;
  json map = score_request({sample("a"), own_step});
  map["step"] = 7;
  map["groups"] = {{{"prompt", "p"}, {"responses", {"x"}}},
                   {{"prompt", "p"}, {"responses", {"y"}}, {"step", 9}}};
  const Request decoded = decode_request(msgpack(map), kMaxBytes);
  ASSERT_EQ(decoded.samples.size(), 4u);
  EXPECT_EQ(decoded.samples[0].step, 7);
  EXPECT_EQ(decoded.samples[1].step, 3);
  EXPECT_EQ(decoded.samples[2].step, 7);
  EXPECT_EQ(decoded.samples[3].step, 9);

  map.erase("step");
  const Request without = decode_request(msgpack(map), kMaxBytes);
  EXPECT_FALSE(without.samples[0].step.has_value());
  EXPECT_EQ(without.samples[1].step, 3);
  EXPECT_FALSE(without.samples[2].step.has_value());
  EXPECT_EQ(without.samples[3].step, 9);

  map["step"] = -1;
  expect_bad(map, "\"step\" in the request must be an integer >= 0, got -1");
  map["step"] = "7";
  expect_bad(map, "\"step\" in the request must be an integer >= 0, got \"7\"");
}

TEST(DecodeRequest, DeadlineMs) {
  json map = score_request({sample("a")});
  map["deadline_ms"] = 250;
  EXPECT_EQ(decode_request(msgpack(map), kMaxBytes).deadline_ms, 250);
  map["deadline_ms"] = 0;
  expect_bad(map, "\"deadline_ms\" in the request must be an integer >= 1, got 0");
  map["deadline_ms"] = 2.5;
  expect_bad(map, "\"deadline_ms\" in the request must be an integer >= 1, got 2.5");
  map["deadline_ms"] = 86400001;
  expect_bad(map, "\"deadline_ms\" must be at most 86400000 (one day)");
}

TEST(DecodeRequest, DeepNestingIsRefusedWithoutRecursingIntoIt) {
  // 300,000 one-element arrays: a recursive reader would overflow the stack.
  const std::string frame = std::string(300000, '\x91') + '\xc0';
  expect_refused(frame, ErrorCode::kBadRequest, "the request is nested deeper than 64 levels", "");
  json meta = json::array();
  for (int i = 0; i < 70; ++i) meta = json::array({meta});
  json map = score_request({sample("a")});
  map["samples"][0]["meta"] = meta;
  // The id came before the bound stopped the reader: the refusal carries it.
  expect_refused(msgpack(map), ErrorCode::kBadRequest, "nested deeper than 64 levels", "r1");
}

// A score request of one sample whose meta is an array of `nils` nils; 18 elements besides them
// (the maps, arrays, keys and values of the request and its sample).
std::string request_with_nils(size_t nils) {
  json map = score_request({sample("a")});
  map["samples"][0]["meta"] = json::array();
  const std::string frame = msgpack(map);
  // The empty array after the key "meta" becomes an array32 header and the nils.
  const std::string empty_meta = "\xa4meta\x90";
  const size_t at = frame.find(empty_meta);
  std::string nil_array = "\xa4meta\xdd";
  for (int shift = 24; shift >= 0; shift -= 8) {
    nil_array += static_cast<char>((nils >> shift) & 0xff);
  }
  nil_array.append(nils, '\xc0');
  return frame.substr(0, at) + nil_array + frame.substr(at + empty_meta.size());
}

TEST(DecodeRequest, ReadingStopsAtTheElementBoundNamingIt) {
  constexpr size_t kOthers = 18;
  const Request at_bound =
      decode_request(request_with_nils(kMaxRequestElements - kOthers), kMaxBytes);
  EXPECT_EQ(at_bound.samples.at(0).meta.size(), kMaxRequestElements - kOthers);
  const std::string message =
      "the request holds more than 262144 msgpack elements (values, keys, arrays and maps); "
      "send fewer samples per request, or less in meta";
  expect_refused(request_with_nils(kMaxRequestElements - kOthers + 1), ErrorCode::kTooLarge,
                 message, "r1");
  // The probe's frame: 16 M nils in meta (a 1.3 GB tree and 23 s before reading stopped early).
  expect_refused(request_with_nils(16 << 20), ErrorCode::kTooLarge, message, "r1", 64 << 20);
}

TEST(DecodeRequest, MetaIsBoundedInDepthAndBytes) {
  json meta = "leaf";
  for (int i = 0; i < kMaxMetaDepth; ++i) meta = json::array({meta});
  json map = score_request({sample("a"), sample("b")});
  map["samples"][1]["meta"] = meta;
  EXPECT_EQ(decode_request(msgpack(map), kMaxBytes).samples.at(1).meta, meta);
  map["samples"][1]["meta"] = json::object({{"deeper", meta}});
  expect_bad(map, "samples[1].meta is nested deeper than 16 levels; flatten it");

  map["samples"][1]["meta"] = std::string(kMaxMetaBytes - 5, 'm');  // str32: 5 bytes of header
  EXPECT_EQ(decode_request(msgpack(map), 4 * kMaxMetaBytes)
                .samples.at(1)
                .meta.get_ref<const std::string&>()
                .size(),
            kMaxMetaBytes - 5);
  map["samples"][1]["meta"] = json::array({std::string(kMaxMetaBytes - 5, 'm')});
  expect_refused(msgpack(map), ErrorCode::kTooLarge,
                 "samples[1].meta is 1048577 bytes of msgpack, over the limit of 1048576 bytes "
                 "per sample; keep large data out of meta",
                 "r1", 4 * kMaxMetaBytes);
}

TEST(DecodeRequest, InvalidUtf8IsABadRequestNamingWhere) {
  // Built by hand: nlohmann would not serialise invalid UTF-8. {"v":1,"id":"r1","type":"score",
  // "step":"\xff","samples":[]}
  std::string frame = "\x85\xa1v\x01\xa2id\xa2r1\xa4type\xa5score\xa4step\xa1\xff\xa7samples\x90";
  expect_refused(frame, ErrorCode::kBadRequest, "request.step is not valid UTF-8", "");
  std::string key = "\x82\xa1v\x01\xa2\xc3(\x01";
  expect_refused(key, ErrorCode::kBadRequest, "request (a key) is not valid UTF-8", "");
}

TEST(DecodeRequest, TooLargeIsRefusedBeforeDecoding) {
  const std::string frame = msgpack(request("ping"));
  const size_t limit = frame.size();
  // Garbage would be bad_request if it were decoded; over the limit it is never looked at.
  expect_refused(std::string(limit + 1, '\xc1'), ErrorCode::kTooLarge,
                 "request of " + std::to_string(limit + 1) +
                     " bytes is over the server's limit of " + std::to_string(limit) +
                     " bytes; send fewer samples per request",
                 "", limit);
  EXPECT_EQ(decode_request(frame, limit).id, "r1");
}

TEST(ErrorCodes, NamesRoundTrip) {
  const std::vector<std::pair<ErrorCode, std::string>> names = {
      {ErrorCode::kBadRequest, "bad_request"},
      {ErrorCode::kUnsupportedVersion, "unsupported_version"},
      {ErrorCode::kTooLarge, "too_large"},
      {ErrorCode::kTooLong, "too_long"},
      {ErrorCode::kBusy, "busy"},
      {ErrorCode::kDeadlineExceeded, "deadline_exceeded"},
      {ErrorCode::kShuttingDown, "shutting_down"},
      {ErrorCode::kUnavailable, "unavailable"},
      {ErrorCode::kModelError, "model_error"},
      {ErrorCode::kInternal, "internal"}};
  for (const auto& [code, name] : names) {
    EXPECT_EQ(error_code_name(code), name);
    EXPECT_EQ(parse_error_code(name), code);
  }
  EXPECT_FALSE(parse_error_code("Busy").has_value());
}

TEST(Replies, EncodeSetsTheVersionAndDecodeReplyRoundTrips) {
  const json reply = {{"id", "r1"},
                      {"type", "score"},
                      {"results", {{{"id", "a"}, {"reward", 0.25}, {"safe", true}}}},
                      {"timing", {{"queue_ms", 1}, {"compute_ms", 2.5}}}};
  const std::string frame = encode(reply);
  json expected = reply;
  expected["v"] = 1;
  EXPECT_EQ(json::from_msgpack(frame), expected);
  EXPECT_EQ(decode_reply(frame), expected);
  EXPECT_EQ(encode({{"v", 9}, {"type", "pong"}}), msgpack({{"v", 1}, {"type", "pong"}}));
}

TEST(Replies, DecodeReplyRefusesWhatIsNotAMap) {
  EXPECT_THROW(decode_reply("\xc1"), util::Error);
  EXPECT_THROW(decode_reply(msgpack(json::array({1}))), util::Error);
}

TEST(Replies, ErrorReply) {
  const json busy = error_reply("r1", ErrorCode::kBusy, "queue full", 250);
  EXPECT_EQ(
      busy,
      json({{"id", "r1"},
            {"type", "error"},
            {"error", {{"code", "busy"}, {"message", "queue full"}, {"retry_after_ms", 250}}}}));
  const json anonymous = error_reply("", ErrorCode::kTooLarge, "too big");
  EXPECT_FALSE(anonymous.contains("id"));
  EXPECT_FALSE(anonymous["error"].contains("retry_after_ms"));
  EXPECT_EQ(anonymous["error"]["code"], "too_large");
}

}  // namespace
}  // namespace safrl::serve
