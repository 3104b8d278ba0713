// Expected strings are what Python 3.11's json.dumps(value, ensure_ascii=False) prints for the
// same value (keys sorted, as nlohmann gives them).
#include "chat/python_json.h"

#include <gtest/gtest.h>

namespace safrl::chat {
namespace {

std::string dumps(const char* json_text) {
  return python_json_dumps(nlohmann::json::parse(json_text));
}

TEST(PythonJsonDumps, UsesPythonSeparatorsAndKeepsUnicode) {
  EXPECT_EQ(dumps(R"({"b": [1, true, null], "a": {"x": "caf\u00e9"}})"),
            "{\"a\": {\"x\": \"caf\xc3\xa9\"}, \"b\": [1, true, null]}");
  EXPECT_EQ(dumps("{}"), "{}");
  EXPECT_EQ(dumps("[]"), "[]");
  EXPECT_EQ(dumps(R"({"k": [[], {}]})"), "{\"k\": [[], {}]}");
}

TEST(PythonJsonDumps, EscapesWhatPythonEscapes) {
  EXPECT_EQ(dumps(R"(["q\"b\\s/\n\t\r\b\f\u0001\u001f\u007f"])"),
            "[\"q\\\"b\\\\s/\\n\\t\\r\\b\\f\\u0001\\u001f\x7f\"]");
}

TEST(PythonJsonDumps, WritesFloatsAsPythonRepr) {
  EXPECT_EQ(dumps("[1.0, -0.0, 0.5, 1.5e-7, 0.0001, 0.00001, 123456789012345.6]"),
            "[1.0, -0.0, 0.5, 1.5e-07, 0.0001, 1e-05, 123456789012345.6]");
  EXPECT_EQ(dumps("[1e15, 1e16, 1.25e17, 1e300, 0.1, 2.5, 100.0, -3]"),
            "[1000000000000000.0, 1e+16, 1.25e+17, 1e+300, 0.1, 2.5, 100.0, -3]");
  EXPECT_EQ(dumps("[18446744073709551615, -9223372036854775808]"),
            "[18446744073709551615, -9223372036854775808]");
}

}  // namespace
}  // namespace safrl::chat
