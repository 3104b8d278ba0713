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

// score_request({x}) with x a json: clang reads a one-element list of a json as a copy of it
// (CWG 2137), gcc as an array of one; an explicit list keeps it an array under both.
json score_request(std::initializer_list<json> samples) {
  json array = json::array();
  for (const json& sample : samples) array.push_back(sample);
  return score_request(std::move(array));
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
  const std::string message = "id: must be a string of 1 to 128 bytes";
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
  expect_bad(map, "v: must be an integer (the protocol version)");
  map["v"] = "1";
  expect_bad(map, "v: must be an integer (the protocol version)");
  map["v"] = 3;
  expect_refused(msgpack(map), ErrorCode::kUnsupportedVersion,
                 "protocol version 3 is not spoken here; this server speaks versions 1 and 2");
  map["v"] = 0;
  expect_refused(msgpack(map), ErrorCode::kUnsupportedVersion,
                 "protocol version 0 is not spoken here; this server speaks versions 1 and 2");
  // The version is checked before anything else a newer protocol might change.
  map["v"] = 3;
  map["id"] = 42;
  expect_refused(msgpack(map), ErrorCode::kUnsupportedVersion, "protocol version 3", "");
}

TEST(DecodeRequest, BothVersionsAreSpokenAndTheReplySpeaksTheRequests) {
  json map = request("ping");
  EXPECT_EQ(decode_request(msgpack(map), kMaxBytes).version, 1);
  map["v"] = 2;
  EXPECT_EQ(decode_request(msgpack(map), kMaxBytes).version, 2);
  // A refused request's reply speaks its version when it was one spoken here, else the newest.
  for (int version : {1, 2}) {
    map["v"] = version;
    map["type"] = "scores";
    try {
      decode_request(msgpack(map), kMaxBytes);
      ADD_FAILURE() << "expected a refusal";
    } catch (const ProtocolError& e) {
      EXPECT_EQ(e.version(), version);
    }
  }
  map["v"] = 7;
  try {
    decode_request(msgpack(map), kMaxBytes);
    ADD_FAILURE() << "expected a refusal";
  } catch (const ProtocolError& e) {
    EXPECT_EQ(e.version(), kProtocolVersion);
  }
}

TEST(DecodeRequest, Type) {
  json map = request("ping");
  map.erase("type");
  expect_bad(map, "type: must be a string: score, ping, info or stats");
  map["type"] = 3;
  expect_bad(map, "type: must be a string: score, ping, info or stats");
  map["type"] = "scores";
  expect_bad(map, "type: unknown type \"scores\"; use score, ping, info or stats");
}

TEST(DecodeRequest, UnknownKeysAreRefusedNamingTheAllowedOnes) {
  json ping = request("ping");
  ping["deep"] = true;
  expect_bad(ping, "deep: unknown key; allowed here: v, id, type");
  json info = request("info");
  info["flush"] = true;
  expect_bad(info, "flush: unknown key; allowed here: v, id, type, deep");
  json stats = request("stats");
  stats["deep"] = true;
  expect_bad(stats, "deep: unknown key; allowed here: v, id, type, flush");
  json score = score_request({sample("a")});
  score["sample"] = json::array();
  expect_bad(score,
             "sample: unknown key; allowed here: v, id, type, samples, groups, step, deadline_ms");
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
  expect_bad(info, "deep: must be true or false, got a number (1)");

  json stats = request("stats");
  stats["flush"] = true;
  const Request flush = decode_request(msgpack(stats), kMaxBytes);
  EXPECT_EQ(flush.type, RequestType::kStats);
  EXPECT_TRUE(flush.flush);
  stats["flush"] = "yes";
  expect_bad(stats, "flush: must be true or false, got a string (\"yes\")");
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
  EXPECT_EQ(decoded.samples[0].last_user_text(), "p");
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
  expect_bad(map, "samples: must be an array, got an object");
  expect_bad(score_request({sample("a"), {{"id", "b"}, {"prompt", "p"}}}),
             "samples[1]: missing \"response\" (or \"answer\")");
  expect_bad(score_request({sample("a"), 5}),
             "samples[1]: a sample must be a JSON object, got a number (5)");
  json misspelt = sample("c");
  misspelt["respones"] = "r";
  expect_bad(score_request({sample("a"), sample("b"), misspelt}),
             "samples[2].respones: unknown key; allowed here: id, prompt");
  json bad_step = sample("a");
  bad_step["step"] = -1;
  expect_bad(score_request({bad_step}),
             "samples[0].step: must be an integer >= 0, got a number (-1)");
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
  EXPECT_EQ(decoded.samples[1].last_user_text(), "p0");
  EXPECT_EQ(decoded.samples[1].answer, "a");
  EXPECT_EQ(decoded.samples[2].id, "0/1");
  EXPECT_EQ(decoded.samples[2].answer, "b");
  EXPECT_EQ(decoded.samples[3].id, "mine");
  EXPECT_EQ(decoded.samples[3].last_user_text(), "p1");
  EXPECT_EQ(decoded.samples[4].id, "2/0");
  EXPECT_EQ(decoded.group_of, (std::vector<int>{-1, 0, 0, 1, 2}));
}

TEST(DecodeRequest, BadGroups) {
  json map = request("score");
  map["groups"] = {{"prompt", "p"}};
  expect_bad(map, "groups: must be an array, got an object");
  map["groups"] = {5};
  expect_bad(map, "groups[0]: must be an object, got a number (5)");
  map["groups"] = {{{"prompt", "p"}, {"responses", {"a"}}}, {{"responses", {"a"}}}};
  expect_bad(map, "groups[1]: needs a string \"prompt\"");
  map["groups"] = {{{"prompt", "p"}, {"responses", json::array()}}};
  expect_bad(map, "groups[0].responses: must be a non-empty array, got an empty one");
  map["groups"] = {{{"prompt", "p"}, {"responses", "a"}}};
  expect_bad(map, "groups[0].responses: must be a non-empty array, got a string (\"a\")");
  map["groups"] = {{{"prompt", "p"}, {"responses", {"a", "b"}}, {"ids", {"x"}}}};
  expect_bad(map,
             "groups[0].ids: must be an array with one id per response (2), got an array of 1");
  map["groups"] = {{{"prompt", "p"}, {"responses", {"a", 5}}}};
  expect_bad(map, "groups[0].responses[1]: must be a string, got a number (5)");
  map["groups"] = {{{"prompt", "p"}, {"responses", {"a"}}, {"ids", {1.5}}}};
  expect_bad(map, "groups[0].ids[0]: must be a string or an integer, got a number (1.5)");
  map["groups"] = {{{"prompt", "p"}, {"responses", {"a"}}, {"answers", {"a"}}}};
  expect_bad(map, "groups[0].answers: unknown key; allowed here: prompt, responses, ids, step");
  map["groups"] = {{{"messages", {{{"role", "user"}, {"content", "q"}}}}, {"responses", {"a"}}}};
  expect_bad(map, "groups[0].messages: needs protocol version 2");
  map["groups"] = {{{"prompt", "p"}, {"responses", {"a"}}, {"step", -2}}};
  expect_bad(map, "groups[0].step: must be an integer >= 0, got a number (-2)");
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
  expect_bad(map, "step: must be an integer >= 0, got a number (-1)");
  map["step"] = "7";
  expect_bad(map, "step: must be an integer >= 0, got a string (\"7\")");
}

json user(const std::string& text) {
  return {{"role", "user"}, {"content", text}};
}

// A two-turn agent context: a system prompt, the user's question, the policy's tool call and the
// tool's result (policy_turns_from 2).
json agent_messages() {
  return json::array(
      {{{"role", "system"}, {"content", "You are a travel agent."}},
       user("Weather in Paris?"),
       {{"role", "assistant"},
        {"content", ""},
        {"tool_calls",
         {{{"type", "function"},
           {"function", {{"name", "weather"}, {"arguments", "{\"city\": \"Paris\"}"}}}}}}},
       {{"role", "tool"}, {"content", "18 C, cloudy"}}});
}

TEST(DecodeRequest, ErrorsNameTheKeyPathOfTheValueAtFault) {
  // The fourth sample's prompt is a number: the message names samples[3].prompt, the code stays
  // bad_request and the request's id is echoed.
  json bad_prompt = sample("d");
  bad_prompt["prompt"] = 5;
  expect_refused(msgpack(score_request({sample("a"), sample("b"), sample("c"), bad_prompt})),
                 ErrorCode::kBadRequest, "samples[3].prompt: must be a string, got a number (5)");
  json map = request("score");
  map["v"] = 2;
  map["groups"] = {
      {{"messages", {user("q"), {{"role", "user"}, {"content", {1}}}}}, {"responses", {"a"}}}};
  expect_bad(map, "groups[0].messages[1].content: must be a string, got an array");
}

TEST(DecodeRequest, Version2KeysInAVersion1RequestAskForVersion2) {
  const std::string hint = ": needs protocol version 2; send \"v\": 2";
  json with_messages = {{"id", "a"}, {"messages", {user("q")}}, {"response", "r"}};
  expect_bad(score_request({sample("s"), with_messages}), "samples[1].messages" + hint);
  for (const char* key :
       {"policy_turns_from", "tool_calls", "judge", "judge_prompt", "judge_tool_results"}) {
    json one = sample("a");
    one[key] = true;
    expect_bad(score_request({one}), std::string("samples[0].") + key + hint);
  }
  json map = score_request({sample("a")});
  map["judge"] = "all_turns";
  expect_bad(map, "judge" + hint);
  map.erase("judge");
  map["groups"] = {{{"messages", {user("q")}}, {"responses", {"r"}}}};
  expect_bad(map, "groups[0].messages" + hint);
  // The same requests are version 2's.
  map["v"] = 2;
  EXPECT_EQ(decode_request(msgpack(map), kMaxBytes).samples.size(), 2u);
}

TEST(DecodeRequest, Version1RequestsDecodeAsBefore) {
  json map = score_request({sample("a")});
  map["groups"] = {{{"prompt", "p0"}, {"responses", {"x", "y"}}}};
  const Request decoded = decode_request(msgpack(map), kMaxBytes);
  EXPECT_EQ(decoded.version, 1);
  ASSERT_EQ(decoded.samples.size(), 3u);
  for (const reward::Sample& s : decoded.samples) {
    ASSERT_EQ(s.messages.size(), 1u);
    EXPECT_EQ(s.messages[0].role, "user");
    EXPECT_EQ(s.policy_turns_from, 1u);
    EXPECT_FALSE(s.judge.has_value());
    EXPECT_FALSE(s.judge_prompt.has_value());
    EXPECT_FALSE(s.judge_tool_results.has_value());
    EXPECT_TRUE(s.tool_calls.empty());
  }
  EXPECT_EQ(decoded.samples[1].messages[0].content, "p0");
  EXPECT_EQ(decoded.samples[2].answer, "y");
}

TEST(DecodeRequest, Version2SamplesCarryConversationsAndToolCalls) {
  json agent = {{"id", "agent"},
                {"messages", agent_messages()},
                {"policy_turns_from", 2},
                {"answer", "It is 18 C."},
                {"thinking", "The tool said so."}};
  json calling = {{"id", "calling"},
                  {"messages", {user("Book a flight")}},
                  {"answer", ""},
                  {"tool_calls", {{{"name", "book"}, {"arguments", "{}"}}}}};
  json map = score_request({agent, calling});
  map["v"] = 2;
  const Request decoded = decode_request(msgpack(map), kMaxBytes);
  EXPECT_EQ(decoded.version, 2);
  ASSERT_EQ(decoded.samples.size(), 2u);
  const reward::Sample& a = decoded.samples[0];
  ASSERT_EQ(a.messages.size(), 4u);
  EXPECT_EQ(a.messages[0].role, "system");
  EXPECT_EQ(a.messages[2].tool_calls.at(0).name, "weather");
  EXPECT_EQ(a.messages[2].tool_calls.at(0).arguments, "{\"city\": \"Paris\"}");
  EXPECT_EQ(a.messages[3].role, "tool");
  EXPECT_EQ(a.policy_turns_from, 2u);
  EXPECT_EQ(a.last_user_text(), "Weather in Paris?");
  EXPECT_EQ(a.thinking, "The tool said so.");
  const reward::Sample& c = decoded.samples[1];
  ASSERT_EQ(c.tool_calls.size(), 1u);
  EXPECT_EQ(c.tool_calls[0].name, "book");
  EXPECT_EQ(c.policy_turns_from, 1u);
}

TEST(DecodeRequest, RequestSwitchesAreDefaultsGroupAndSampleSwitchesWin) {
  json own = sample("own");
  own["judge"] = "last";
  own["judge_prompt"] = false;
  json map = score_request({sample("plain"), own});
  map["v"] = 2;
  map["judge"] = "all_turns";
  map["judge_prompt"] = true;
  map["groups"] = {
      {{"messages", agent_messages()}, {"responses", {"a"}}},
      {{"prompt", "p"}, {"responses", {"b"}}, {"judge", "last"}, {"judge_tool_results", true}}};
  const Request decoded = decode_request(msgpack(map), kMaxBytes);
  ASSERT_EQ(decoded.samples.size(), 4u);
  EXPECT_EQ(decoded.samples[0].judge, reward::JudgeTurns::kAllTurns);
  EXPECT_EQ(decoded.samples[0].judge_prompt, true);
  EXPECT_FALSE(decoded.samples[0].judge_tool_results.has_value());
  EXPECT_EQ(decoded.samples[1].judge, reward::JudgeTurns::kLast);
  EXPECT_EQ(decoded.samples[1].judge_prompt, false);
  EXPECT_EQ(decoded.samples[2].judge, reward::JudgeTurns::kAllTurns);
  EXPECT_EQ(decoded.samples[2].judge_prompt, true);
  EXPECT_EQ(decoded.samples[3].judge, reward::JudgeTurns::kLast);
  EXPECT_EQ(decoded.samples[3].judge_prompt, true);
  EXPECT_EQ(decoded.samples[3].judge_tool_results, true);

  map["judge"] = "every_turn";
  expect_bad(map, "judge: ");
  map["judge"] = 1;
  expect_bad(map, "judge: must be \"last\" or \"all_turns\", got a number (1)");
  map["judge"] = "last";
  map["judge_prompt"] = "yes";
  expect_bad(map, "judge_prompt: must be true or false, got a string (\"yes\")");
  map["judge_prompt"] = true;
  map["groups"][1]["judge_tool_results"] = 1;
  expect_bad(map, "groups[1].judge_tool_results: must be true or false, got a number (1)");
}

TEST(DecodeRequest, TokenSafetyIsARequestFlagEverySampleAndGroupMemberCarries) {
  json map = score_request({sample("a")});
  map["v"] = 2;
  map["groups"] = {{{"prompt", "p"}, {"responses", {"b", "c"}}}};
  // Absent: no sample asks.
  for (const reward::Sample& s : decode_request(msgpack(map), kMaxBytes).samples) {
    EXPECT_FALSE(s.token_safety);
  }
  map["token_safety"] = true;
  const Request asked = decode_request(msgpack(map), kMaxBytes);
  ASSERT_EQ(asked.samples.size(), 3u);
  for (const reward::Sample& s : asked.samples) EXPECT_TRUE(s.token_safety);
  map["token_safety"] = false;
  EXPECT_FALSE(decode_request(msgpack(map), kMaxBytes).samples[2].token_safety);

  map["token_safety"] = "yes";
  expect_bad(map, "token_safety: must be true or false, got a string (\"yes\")");
  map["token_safety"] = 1;
  expect_bad(map, "token_safety: must be true or false, got a number (1)");
  // A sample does not set it: it is the request's.
  map["token_safety"] = true;
  map["samples"][0]["token_safety"] = true;
  expect_bad(map, "samples[0].token_safety: unknown key");
  map["samples"][0].erase("token_safety");
  // Version 1 does not have it.
  map["v"] = 1;
  map.erase("groups");
  expect_bad(map, "token_safety: needs protocol version 2; send \"v\": 2");
}

TEST(DecodeRequest, AGroupSharesItsConversationWithEveryResponse) {
  json map = request("score");
  map["v"] = 2;
  map["step"] = 4;
  map["groups"] = {{{"messages", agent_messages()},
                    {"policy_turns_from", 2},
                    {"responses", {"Sunny.", "<think>t</think>Rainy."}},
                    {"ids", {"x", "y"}}}};
  const Request decoded = decode_request(msgpack(map), kMaxBytes);
  ASSERT_EQ(decoded.samples.size(), 2u);
  EXPECT_EQ(decoded.group_of, (std::vector<int>{0, 0}));
  for (const reward::Sample& s : decoded.samples) {
    EXPECT_EQ(s.messages, decoded.samples[0].messages);
    EXPECT_EQ(s.messages.size(), 4u);
    EXPECT_EQ(s.policy_turns_from, 2u);
    EXPECT_EQ(s.step, 4);
  }
  EXPECT_EQ(decoded.samples[0].id, "x");
  EXPECT_EQ(decoded.samples[0].answer, "Sunny.");
  EXPECT_EQ(decoded.samples[1].thinking, "t");
  EXPECT_EQ(decoded.samples[1].answer, "Rainy.");
}

TEST(DecodeRequest, BadConversationsNameTheGroupOrSampleAndTheMessage) {
  json map = request("score");
  map["v"] = 2;
  json messages = agent_messages();
  messages[1]["role"] = "bot";
  map["groups"] = {{{"prompt", "p"}, {"responses", {"a"}}},
                   {{"messages", messages}, {"responses", {"a", "b"}}}};
  expect_bad(map,
             "groups[1].messages[1].role: unknown role \"bot\"; valid roles: system, user, "
             "assistant, tool");
  map["groups"][1]["messages"] = agent_messages();
  map["groups"][1]["prompt"] = "p";
  expect_bad(map, "groups[1]: has both \"prompt\" and \"messages\"; give one");
  map["groups"][1].erase("prompt");
  map["groups"][1].erase("messages");
  expect_bad(map, "groups[1]: needs a string \"prompt\" or an array \"messages\"");
  map["groups"][1]["messages"] = agent_messages();
  map["groups"][1]["policy_turns_from"] = 9;
  expect_bad(map, "groups[1].policy_turns_from: must be an integer from 0 to 4");
  map["groups"][1]["policy_turns_from"] = 2;
  map["groups"][1]["tools"] = json::array();
  expect_bad(map,
             "groups[1].tools: unknown key; allowed here: prompt, messages, responses, ids, step, "
             "policy_turns_from, judge, judge_prompt, judge_tool_results");

  json content = {{"id", "s"}, {"messages", agent_messages()}, {"response", "r"}};
  content["messages"][3]["content"] = 5;
  json sample_map = score_request({sample("a"), content});
  sample_map["v"] = 2;
  expect_bad(sample_map, "samples[1].messages[3].content: must be a string, got a number (5)");
  content["messages"] = {user("q"), {{"role", "assistant"}, {"content", "a"}}};
  sample_map["samples"][1] = content;
  expect_bad(sample_map, "samples[1].messages[1].role: messages ends with an assistant turn");
}

TEST(DecodeRequest, DeadlineMs) {
  json map = score_request({sample("a")});
  map["deadline_ms"] = 250;
  EXPECT_EQ(decode_request(msgpack(map), kMaxBytes).deadline_ms, 250);
  map["deadline_ms"] = 0;
  expect_bad(map, "deadline_ms: must be an integer from 1 to 86400000, got a number (0)");
  map["deadline_ms"] = 2.5;
  expect_bad(map, "deadline_ms: must be an integer from 1 to 86400000, got a number (2.5)");
  map["deadline_ms"] = 86400001;
  expect_bad(map, "deadline_ms: must be an integer from 1 to 86400000, got a number (86400001)");
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
  expect_bad(map, "samples[1].meta: nested deeper than 16 levels; flatten it");

  map["samples"][1]["meta"] = std::string(kMaxMetaBytes - 5, 'm');  // str32: 5 bytes of header
  EXPECT_EQ(decode_request(msgpack(map), 4 * kMaxMetaBytes)
                .samples.at(1)
                .meta.get_ref<const std::string&>()
                .size(),
            kMaxMetaBytes - 5);
  map["samples"][1]["meta"] = json::array({std::string(kMaxMetaBytes - 5, 'm')});
  expect_refused(msgpack(map), ErrorCode::kTooLarge,
                 "samples[1].meta: 1048577 bytes of msgpack, over the limit of 1048576 bytes "
                 "per sample; keep large data out of meta",
                 "r1", 4 * kMaxMetaBytes);
}

TEST(DecodeRequest, InvalidUtf8IsABadRequestNamingWhere) {
  // Built by hand: nlohmann would not serialise invalid UTF-8. {"v":1,"id":"r1","type":"score",
  // "step":"\xff","samples":[]}
  std::string frame = "\x85\xa1v\x01\xa2id\xa2r1\xa4type\xa5score\xa4step\xa1\xff\xa7samples\x90";
  expect_refused(frame, ErrorCode::kBadRequest, "step: must be valid UTF-8", "");
  // {"v":1,"\xc3(":1}: a bad key is named by its path, the bad byte shown as U+FFFD.
  std::string key = "\x82\xa1v\x01\xa2\xc3(\x01";
  expect_refused(key, ErrorCode::kBadRequest, "[\"\xef\xbf\xbd(\"]: this key must be valid UTF-8",
                 "");
}

TEST(DecodeRequest, InvalidUtf8DeepInAMessageIsNamedByItsKeyPath) {
  // A valid request, then the marker "Q#Q" replaced by "Q\xffQ" in its msgpack bytes (the same
  // length, so every length prefix still holds): the second message's content of sample 0.
  json map = request("score");
  map["v"] = 2;
  map["samples"] =
      json::array({{{"id", "a"},
                    {"messages", json::array({{{"role", "user"}, {"content", "hi"}},
                                              {{"role", "assistant"}, {"content", "ok Q#Q"}},
                                              {{"role", "user"}, {"content", "and?"}}})},
                    {"response", "r"}}});
  std::string frame = msgpack(map);
  const size_t marker = frame.find("Q#Q");
  ASSERT_NE(marker, std::string::npos);
  frame[marker + 1] = '\xff';
  expect_refused(frame, ErrorCode::kBadRequest,
                 "samples[0].messages[1].content: must be valid UTF-8", "");
  // The same byte in a meta key: the path names the key with U+FFFD for the bad byte.
  map = request("score");
  map["samples"] = json::array(
      {{{"id", "a"}, {"prompt", "p"}, {"response", "r"}, {"meta", {{"tags", {{"xQ#Q", 1}}}}}}});
  frame = msgpack(map);
  frame[frame.find("Q#Q") + 1] = '\xff';
  expect_refused(frame, ErrorCode::kBadRequest,
                 "samples[0].meta.tags[\"xQ\xef\xbf\xbdQ\"]: this key must be valid UTF-8", "");
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
  const std::string frame = encode(reply, 1);
  json expected = reply;
  expected["v"] = 1;
  EXPECT_EQ(json::from_msgpack(frame), expected);
  EXPECT_EQ(decode_reply(frame), expected);
  EXPECT_EQ(encode({{"v", 9}, {"type", "pong"}}, 1), msgpack({{"v", 1}, {"type", "pong"}}));
  // Without a version (replies to frames too broken to have one): the newest.
  EXPECT_EQ(encode({{"type", "pong"}}), msgpack({{"v", 2}, {"type", "pong"}}));
}

TEST(Replies, AVersion1ResultHasOnlyTheFieldsVersion1Replied) {
  const nlohmann::json line = {
      {"id", "s"},
      {"reward", 2.0},
      {"case", "helpful"},
      {"channels", {{"safety", 1.0}, {"refusal", 0.0}, {"helpfulness", 2.0}}},
      {"injection", nlohmann::json::array()},
      {"answer_tokens", 7}};
  nlohmann::json v2 = line;
  fit_result_to_version(v2, 2);
  EXPECT_EQ(v2, line);
  nlohmann::json v1 = line;
  fit_result_to_version(v1, 1);
  EXPECT_EQ(v1, nlohmann::json({{"id", "s"}, {"reward", 2.0}, {"case", "helpful"}}));
}

TEST(Replies, DecodeReplyRefusesWhatIsNotAMap) {
  EXPECT_THROW(decode_reply("\xc1"), util::Error);
  EXPECT_THROW(decode_reply(msgpack(json::array({1}))), util::Error);
}

TEST(Replies, ErrorReply) {
  const json busy = error_reply("r1", {ErrorCode::kBusy, "queue full", 250});
  EXPECT_EQ(
      busy,
      json({{"id", "r1"},
            {"type", "error"},
            {"error", {{"code", "busy"}, {"message", "queue full"}, {"retry_after_ms", 250}}}}));
  const json anonymous = error_reply("", {ErrorCode::kTooLarge, "too big"});
  EXPECT_FALSE(anonymous.contains("id"));
  EXPECT_FALSE(anonymous["error"].contains("retry_after_ms"));
  EXPECT_EQ(anonymous["error"]["code"], "too_large");
}

}  // namespace
}  // namespace safrl::serve
