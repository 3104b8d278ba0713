// JSON text and msgpack bytes parsed under a depth and a value bound, with UTF-8 tracking.
#include "util/bounded_json.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace safrl::util {
namespace {

using nlohmann::json;

std::string msgpack(const json& value) {
  const std::vector<uint8_t> bytes = json::to_msgpack(value);
  return std::string(bytes.begin(), bytes.end());
}

BoundedJson parse_msgpack(const std::string& bytes, JsonLimits limits, bool check_utf8 = false) {
  return parse_bounded(bytes, limits, json::input_format_t::msgpack, check_utf8);
}

TEST(ParseBounded, BuildsTheValueWithinTheBounds) {
  const BoundedJson parsed = parse_bounded(R"({"a": [1, 2.5, "x", null, true]})", {2, 8});
  EXPECT_EQ(parsed.stopped, JsonStop::kNone);
  EXPECT_EQ(parsed.value, json::parse(R"({"a": [1, 2.5, "x", null, true]})"));
  EXPECT_TRUE(parsed.all_utf8);
}

TEST(ParseBounded, KeysCountAsValues) {
  // {"a": 1, "b": 2} is the object, two keys and two values: five.
  EXPECT_EQ(parse_bounded(R"({"a": 1, "b": 2})", {1, 5}).stopped, JsonStop::kNone);
  EXPECT_EQ(parse_bounded(R"({"a": 1, "b": 2})", {1, 4}).stopped, JsonStop::kTooMany);
}

TEST(ParseBounded, StopsAtTheFirstLevelPastTheDepth) {
  EXPECT_EQ(parse_bounded("[[[1]]]", {3, 100}).stopped, JsonStop::kNone);
  EXPECT_EQ(parse_bounded("7", {0, 1}).stopped, JsonStop::kNone);
  const BoundedJson deep = parse_bounded("[[[1]]]", {2, 100});
  EXPECT_EQ(deep.stopped, JsonStop::kTooDeep);
  EXPECT_EQ(deep.value, json::parse("[[]]"));  // what was built before the third level
  // 16 MiB of "[" is refused at level 65, never built and never read to the end.
  EXPECT_EQ(parse_bounded(std::string(16 << 20, '['), {64, 1 << 20}).stopped, JsonStop::kTooDeep);
}

TEST(ParseBounded, StopsAtTheFirstValuePastTheCount) {
  const BoundedJson many = parse_bounded("[1, 2, 3, 4]", {8, 3});
  EXPECT_EQ(many.stopped, JsonStop::kTooMany);
  EXPECT_EQ(many.value, json::parse("[1, 2]"));  // the array and two values fill the bound
  EXPECT_EQ(parse_bounded("[1, 2]", {8, 3}).stopped, JsonStop::kNone);
  // Opening a level counts before it is checked for depth.
  EXPECT_EQ(parse_bounded("[[]]", {1, 1}).stopped, JsonStop::kTooMany);
}

TEST(ParseBounded, InputThatIsNotOneValueThrows) {
  for (const std::string text : {"", "{", "[1,]", "1 2", "{\"a\": \"\xff\"}"}) {
    EXPECT_THROW(parse_bounded(text, {64, 100}), json::exception) << text;
  }
  EXPECT_THROW(parse_msgpack("\x92\x01", {64, 100}), json::exception);  // an array cut short
  EXPECT_THROW(parse_msgpack("\xc1", {64, 100}), json::exception);      // never used
}

TEST(ParseBounded, ReadsMsgpackUnderTheSameBounds) {
  const json value = {{"id", "r1"}, {"samples", {{{"prompt", "p"}, {"meta", {1, 2}}}}}};
  const BoundedJson parsed = parse_msgpack(msgpack(value), {4, 100});
  EXPECT_EQ(parsed.stopped, JsonStop::kNone);
  EXPECT_EQ(parsed.value, value);
  // map, "id", "r1", "samples", array, map, "prompt", "p", "meta", array, 1, 2: twelve.
  EXPECT_EQ(parse_msgpack(msgpack(value), {4, 12}).stopped, JsonStop::kNone);
  const BoundedJson many = parse_msgpack(msgpack(value), {4, 11});
  EXPECT_EQ(many.stopped, JsonStop::kTooMany);
  EXPECT_EQ(many.value["id"], "r1");  // read before the bound, so a refusal can name the request
  EXPECT_EQ(parse_msgpack(msgpack(value), {3, 100}).stopped, JsonStop::kTooDeep);
}

TEST(ParseBounded, TracksWhetherEveryStringAndKeyIsUtf8WhenAsked) {
  const std::string bad = "a\xff";
  const std::string in_string = msgpack({{"k", bad}});
  const std::string in_key = msgpack({{bad, "v"}});
  const std::string good = msgpack({{"k\xc3\xa9", "v\xc3\xa9"}});
  EXPECT_FALSE(parse_msgpack(in_string, {4, 100}, true).all_utf8);
  EXPECT_FALSE(parse_msgpack(in_key, {4, 100}, true).all_utf8);
  EXPECT_TRUE(parse_msgpack(good, {4, 100}, true).all_utf8);
  // Not asked: not checked, and the bytes are kept as they came.
  const BoundedJson unchecked = parse_msgpack(in_string, {4, 100});
  EXPECT_TRUE(unchecked.all_utf8);
  EXPECT_EQ(unchecked.value["k"], bad);
}

}  // namespace
}  // namespace safrl::util
