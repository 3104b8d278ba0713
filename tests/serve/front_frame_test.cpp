// The fields the front routes by, read straight from a frame's bytes: the prompt of a one-turn
// request, and for a version 2 conversation the bytes of its messages.
#include "serve/front_frame.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace safrl::serve {
namespace {

using nlohmann::json;

std::string msgpack(const json& value) {
  std::string frame;
  json::to_msgpack(value, frame);
  return frame;
}

json conversation(const std::string& question) {
  return json::array(
      {{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", question}}});
}

TEST(FrameFields, ThePromptOfTheFirstGroupOrSampleRoutesTheRequest) {
  json map = {{"v", 1}, {"id", "r"}, {"type", "score"}, {"deadline_ms", 40}};
  map["samples"] = {{{"id", 1}, {"prompt", "sample prompt"}, {"response", "r"}}};
  auto fields = read_frame_fields(msgpack(map));
  ASSERT_TRUE(fields.has_value());
  EXPECT_EQ(fields->id, "r");
  EXPECT_EQ(fields->deadline_ms, 40);
  EXPECT_EQ(fields->first_prompt, "sample prompt");
  map["groups"] = {{{"prompt", "group prompt"}, {"responses", {"a"}}}};
  EXPECT_EQ(read_frame_fields(msgpack(map))->first_prompt, "group prompt");
}

TEST(FrameFields, AConversationRoutesByItsMessagesBytes) {
  json map = {{"v", 2}, {"id", "r"}, {"type", "score"}};
  map["groups"] = {{{"messages", conversation("Where is Lyon?")}, {"responses", {"a", "b"}}}};
  const auto fields = read_frame_fields(msgpack(map));
  ASSERT_TRUE(fields.has_value());
  EXPECT_EQ(fields->first_prompt, msgpack(conversation("Where is Lyon?")));
  // Another request with the same conversation routes alike; another conversation does not.
  json same = map;
  same["id"] = "other";
  same["groups"][0]["responses"] = {"c"};
  EXPECT_EQ(read_frame_fields(msgpack(same))->first_prompt, fields->first_prompt);
  json other = map;
  other["groups"][0]["messages"] = conversation("Where is Nice?");
  EXPECT_NE(read_frame_fields(msgpack(other))->first_prompt, fields->first_prompt);
  // A sample's messages too, when there is no group.
  json sample = {{"v", 2}, {"id", "s"}, {"type", "score"}};
  sample["samples"] = {{{"id", 1}, {"messages", conversation("Hi")}, {"response", "r"}}};
  EXPECT_EQ(read_frame_fields(msgpack(sample))->first_prompt, msgpack(conversation("Hi")));
}

}  // namespace
}  // namespace safrl::serve
