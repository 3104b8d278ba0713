#include "io/json_reader.h"

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/test_support.h"
#include "util/error.h"

namespace safrl::io {
namespace {

using nlohmann::json;
using testing::load_error;

// An error type of a layer above io, carrying a field of its own as serve's ProtocolError does.
struct CodedError : std::runtime_error {
  CodedError(int code, const std::string& message) : std::runtime_error(message), code(code) {}
  int code;
};

const json kRequest = json::parse(R"({
  "samples": [
    {"id": 1, "prompt": "a"},
    {"id": "two", "prompt": 5, "step": -1, "ok": true, "score": 0.5, "list": [1, 2]},
    {"id": 3, "prompt": "", "huge": 18446744073709551615}
  ],
  "weird key": {"x": null}
})");

JsonReader sample(size_t i) {
  return JsonReader(kRequest, throw_as<util::LoadError>()).at("samples").index(i);
}

TEST(JsonReader, ReadsTypedValuesOfNestedKeys) {
  const JsonReader second = sample(1);
  EXPECT_EQ(second.path(), "samples[1]");
  EXPECT_EQ(second.at("id").as_string(), "two");
  EXPECT_EQ(second.at("id").path(), "samples[1].id");
  EXPECT_TRUE(second.at("ok").as_bool());
  EXPECT_EQ(second.at("score").as_double(), 0.5);
  EXPECT_EQ(second.at("step").as_int(-1, 0), -1);
  EXPECT_EQ(sample(0).at("prompt").as_nonempty_string(), "a");
  const auto list = second.at("list").items();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[1].as_int(), 2);
  EXPECT_EQ(list[1].path(), "samples[1].list[1]");
}

TEST(JsonReader, WrongKindNamesThePathAndWhatItGot) {
  EXPECT_EQ(load_error([] { sample(1).at("prompt").as_string(); }),
            "samples[1].prompt: must be a string, got a number (5)");
  EXPECT_EQ(load_error([] { sample(1).at("id").as_int(); }),
            "samples[1].id: must be an integer, got a string (\"two\")");
  EXPECT_EQ(load_error([] { sample(1).at("list").as_bool(); }),
            "samples[1].list: must be true or false, got an array");
  EXPECT_EQ(load_error([] { sample(1).at("ok").as_double(); }),
            "samples[1].ok: must be a number, got a boolean (true)");
  EXPECT_EQ(load_error([] { sample(1).at("ok").as_array(); }),
            "samples[1].ok: must be an array, got a boolean (true)");
  EXPECT_EQ(load_error([] { sample(1).at("list").at("x"); }),
            "samples[1].list: must be an object, got an array");
  EXPECT_EQ(load_error([] { sample(2).at("prompt").as_nonempty_string(); }),
            "samples[2].prompt: must not be empty");
}

TEST(JsonReader, IntegerRangeIsInTheMessage) {
  // -1 is below 0; 18446744073709551615 = 2^64 - 1 is past int64's 2^63 - 1.
  EXPECT_EQ(load_error([] { sample(1).at("step").as_int(0); }),
            "samples[1].step: must be an integer >= 0, got a number (-1)");
  EXPECT_EQ(load_error([] { sample(1).at("step").as_int(1, 10); }),
            "samples[1].step: must be an integer from 1 to 10, got a number (-1)");
  EXPECT_EQ(load_error([] { sample(1).at("step").as_int(-5, -2); }),
            "samples[1].step: must be an integer from -5 to -2, got a number (-1)");
  EXPECT_EQ(load_error([] { sample(2).at("huge").as_int(); }),
            "samples[2].huge: must be an integer no larger than 9223372036854775807, got a number "
            "(18446744073709551615)");
  EXPECT_EQ(load_error([] { sample(1).at("score").as_int(); }),
            "samples[1].score: must be an integer, got a number (0.5)");
}

TEST(JsonReader, MissingAndOptionalKeys) {
  EXPECT_EQ(load_error([] { sample(0).at("response"); }), "samples[0].response: missing");
  EXPECT_EQ(load_error([] { sample(0).at("response", "give a string"); }),
            "samples[0].response: missing; give a string");
  EXPECT_FALSE(sample(0).optional("response").has_value());
  const JsonReader root(kRequest, throw_as<util::LoadError>());
  // An explicit null is present for `has`, absent for `optional`.
  EXPECT_TRUE(root.at("weird key").has("x"));
  EXPECT_FALSE(root.at("weird key").optional("x").has_value());
  EXPECT_EQ(sample(0).optional("prompt")->as_string(), "a");
  // child: an absent key reads as null, so the type check names it.
  EXPECT_EQ(load_error([] { sample(0).child("thinking").as_string(); }),
            "samples[0].thinking: must be a string, got null");
}

TEST(JsonReader, KeysThatAreNotNamesAreQuoted) {
  const JsonReader root(kRequest, throw_as<util::LoadError>());
  EXPECT_EQ(root.at("weird key").at("x").path(), "[\"weird key\"].x");
  EXPECT_EQ(load_error([&] { root.at("weird key").at("x").as_string(); }),
            "[\"weird key\"].x: must be a string, got null");
}

TEST(JsonReader, IndexPastTheEndFails) {
  EXPECT_EQ(
      load_error([] { JsonReader(kRequest, throw_as<util::LoadError>()).at("samples").index(3); }),
      "samples: has 3 elements, no element 3");
}

TEST(JsonReader, UnknownKeyNamesItAndTheAllowedOnes) {
  EXPECT_NO_THROW(sample(0).allow_keys({"id", "prompt"}));
  EXPECT_EQ(load_error([] {
              sample(2).allow_keys({"id", "prompt"});
            }),
            "samples[2].huge: unknown key; allowed here: id, prompt");
}

TEST(JsonReader, RootErrorsHaveNoPathPrefix) {
  const json number = 7;
  EXPECT_EQ(load_error([&] { JsonReader(number, throw_as<util::LoadError>()).as_object(); }),
            "must be an object, got a number (7)");
  EXPECT_EQ(load_error([&] {
              JsonReader(number, throw_as<util::LoadError>(), "config.json").as_string();
            }),
            "config.json: must be a string, got a number (7)");
}

TEST(JsonReader, LongStringsAreDescribedByKindOnly) {
  const json text = std::string(100, 'x');
  EXPECT_EQ(JsonReader(text, throw_as<util::LoadError>()).describe(), "a string");
  const json short_text = "hi";
  EXPECT_EQ(JsonReader(short_text, throw_as<util::LoadError>()).describe(), "a string (\"hi\")");
}

TEST(JsonReader, ThrowsTheCallersErrorType) {
  EXPECT_THROW(sample(1).at("prompt").as_string(), util::LoadError);
  try {
    JsonReader(kRequest, throw_as<util::InputError>()).at("samples").index(1).at("ok").as_int();
    ADD_FAILURE() << "expected an InputError";
  } catch (const util::InputError& e) {
    EXPECT_STREQ(e.what(), "samples[1].ok: must be an integer, got a boolean (true)");
  }
  const JsonFail coded = [](const std::string& message) { throw CodedError(42, message); };
  try {
    JsonReader(kRequest, coded).at("samples").index(0).at("id").as_string();
    ADD_FAILURE() << "expected a CodedError";
  } catch (const CodedError& e) {
    EXPECT_EQ(e.code, 42);
    EXPECT_STREQ(e.what(), "samples[0].id: must be a string, got a number (1)");
  }
}

TEST(JsonReader, AFailThatReturnsIsALogicError) {
  const JsonFail returns = [](const std::string&) {};
  EXPECT_THROW(JsonReader(kRequest, returns).as_array(), std::logic_error);
}

}  // namespace
}  // namespace safrl::io
