// The reader of `safrl score`'s input and of the developer subcommands' JSON lines: every way a
// line can be wrong is one reported line, by its number, and the lines around it are read.
#include "cli/score_input.h"

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli/json_lines.h"
#include "util/error.h"
#include "util/utf8.h"

namespace safrl::cli {
namespace {

using nlohmann::json;

std::string good(int id) {
  return json{{"id", id}, {"prompt", "p"}, {"response", "r"}}.dump();
}

std::string nested(size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

// An array of n zeros: n + 1 values.
std::string zeros(size_t n) {
  std::string text = "[0";
  for (size_t i = 1; i < n; ++i) text += ",0";
  return text + "]";
}

ScoreInput read(const std::string& text, const LineLimits& limits = {}) {
  std::istringstream in(text);
  return read_score_input(in, limits);
}

std::vector<size_t> sample_lines(const ScoreInput& input) {
  std::vector<size_t> numbers;
  for (const auto& line : input.samples) numbers.push_back(line.number);
  return numbers;
}

std::vector<size_t> bad_lines(const ScoreInput& input) {
  std::vector<size_t> numbers;
  for (const auto& line : input.bad) numbers.push_back(line.number);
  return numbers;
}

TEST(LineReader, NumbersEveryLineAndReadsTheLastOneWithoutANewline) {
  std::istringstream in("a\r\n\n \t\nb\r\nc");
  LineReader reader(in, 100);
  std::vector<std::pair<size_t, std::string>> lines;
  for (RawLine line; reader.next(line);) lines.emplace_back(line.number, line.text);
  EXPECT_EQ(lines, (std::vector<std::pair<size_t, std::string>>{{1, "a"}, {4, "b"}, {5, "c"}}));
}

TEST(LineReader, SkipsALineLongerThanTheLimitWithoutHoldingIt) {
  std::istringstream in("{}\n" + std::string(1000, 'x') + "\n" + std::string(1000, ' ') + "\n[]");
  LineReader reader(in, 8);
  RawLine line;
  ASSERT_TRUE(reader.next(line));
  EXPECT_EQ(line.text, "{}");
  ASSERT_TRUE(reader.next(line));
  EXPECT_EQ(line.number, 2u);
  EXPECT_EQ(line.too_long, 1000u);
  EXPECT_EQ(line.text, "");
  EXPECT_LT(line.text.capacity(), 100u);
  // A blank line is skipped however long it is.
  ASSERT_TRUE(reader.next(line));
  EXPECT_EQ(line.number, 4u);
  EXPECT_EQ(line.text, "[]");
  EXPECT_FALSE(reader.next(line));
}

TEST(ParseJsonLine, RefusesInvalidUtf8NamingTheByteAndWhere) {
  const RawLine line{7, "{\"prompt\": \"ab\xff\"}", 0};
  try {
    parse_json_line(line, {});
    FAIL() << "accepted a line that is not UTF-8";
  } catch (const util::InputError& e) {
    EXPECT_EQ(std::string(e.what()),
              "not UTF-8: byte 0xFF at byte 15 of the line does not belong to a UTF-8 character; "
              "write the file as UTF-8 (binary data in a field must be encoded, e.g. as base64)");
  }
  // Overlong encodings and surrogates are not UTF-8 either, though their lead bytes look right.
  for (const std::string bad : {"\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"a\xe2\x82\""}) {
    EXPECT_THROW(parse_json_line({1, bad, 0}, {}), util::InputError) << bad;
  }
}

TEST(ParseJsonLine, RefusesANulRatherThanDropTheRestOfTheLine) {
  // nlohmann alone reads {"a":1} and stops at the NUL, dropping what follows it.
  const std::string text = std::string(R"({"a":1})") + '\0' + R"({"b":2})";
  EXPECT_EQ(json::parse(text.begin(), text.end()), (json{{"a", 1}}));
  try {
    parse_json_line({1, text, 0}, {});
    FAIL() << "accepted a line with a NUL";
  } catch (const util::InputError& e) {
    EXPECT_EQ(std::string(e.what()),
              "the line holds a NUL byte at byte 8; JSON text cannot hold one (inside a string, "
              "write \\u0000)");
  }
}

TEST(ParseJsonLine, BoundsDepthAndValueCountWhileReading) {
  LineLimits limits;
  limits.max_depth = 64;
  EXPECT_EQ(parse_json_line({1, nested(64), 0}, limits), json::parse(nested(64)));
  try {
    parse_json_line({1, nested(100'000), 0}, limits);
    FAIL() << "accepted a line nested 100,000 deep";
  } catch (const util::InputError& e) {
    EXPECT_EQ(std::string(e.what()),
              "the line is nested deeper than 64 levels of arrays and objects (the line itself is "
              "one); flatten \"meta\"");
  }
  limits.max_values = 10;
  EXPECT_EQ(parse_json_line({1, "[1,2,3,4,5,6,7,8,9]", 0}, limits).size(), 9u);
  EXPECT_THROW(parse_json_line({1, "[1,2,3,4,5,6,7,8,9,10]", 0}, limits), util::InputError);
}

TEST(ParseJsonLine, ItsMessagesAreUtf8EvenWhenNlohmannQuotesHalfACharacter) {
  // The lexer stops on the first byte of "é" and quotes that byte alone.
  try {
    parse_json_line({1, "{\xc3\xa9}", 0}, {});
    FAIL();
  } catch (const util::InputError& e) {
    EXPECT_TRUE(util::utf8::is_valid(e.what())) << e.what();
    EXPECT_NE(std::string(e.what()).find("not valid JSON"), std::string::npos);
  }
}

TEST(ScoreInput, EveryKindOfBadLineIsReportedOnceByNumberAndTheRestIsRead) {
  LineLimits limits;
  limits.max_bytes = 256 << 10;
  limits.max_values = 1000;
  const std::vector<std::string> lines = {
      good(1),
      R"({"id": 2, "prompt": "p)"
      "\xff"
      R"(", "response": "r"})",  // 2: invalid UTF-8 in a string
      good(3),
      "\xfe\xff{}",               // 4: invalid UTF-8 outside
      good(5) + '\0' + good(50),  // 5: a NUL, which nlohmann takes for the end of the input
      R"({"id": 6, "prompt": "p", "response": "r", "meta": )" + nested(100'000) + "}",  // 6
      R"({"id": 7, "prompt": "p", "response": "r", "meta": )" + zeros(1001) + "}",      // 7
      good(8),
      R"({"id": 9, "prompt": "p", "response": "r", "meta": 1e400})",  // 9: a number past double
      R"([1, 2])",                                                    // 10: not an object
      R"({"id": 1.5, "prompt": "p", "response": "r"})",               // 11: id of another type
      R"({"id": 12, "prompt": 12, "response": "r"})",                 // 12: prompt of another type
      R"({"id": 13, "prompt": "p", "response": "r", "step": "1"})",   // 13: step of another type
      R"({"id": 14, "prompt": "p", "response": "r", "step": -1})",    // 14: negative step
      good(1),                                                        // 15: id used on line 1
      R"({"id": 16, "prompt": "p", "respones": "r"})",                // 16: misspelt field
      R"({"id": 17, "prompt": "p", "response": "r")",                 // 17: cut short
      good(18) + " x",                                                // 18: trailing text
      R"({"id": 19, "prompt": "\ud800", "response": "r"})",           // 19: a lone surrogate
      R"({"id": 20, "prompt": ")" + std::string(300'000, 'a') + R"(", "response": "r"})",  // 20
      R"({"id": 21, "prompt": "p", "answer": "a", "thinking": 3})",  // 21: thinking of a type
      good(22),
  };
  std::string file;
  for (const auto& line : lines) file += line + "\n";
  file.pop_back();  // the last line has no newline
  const ScoreInput input = read(file, limits);

  EXPECT_EQ(sample_lines(input), (std::vector<size_t>{1, 3, 8, 22}));
  EXPECT_EQ(bad_lines(input), (std::vector<size_t>{2, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17,
                                                   18, 19, 20, 21}));
  std::map<size_t, std::string> error;
  for (const auto& bad : input.bad) {
    error[bad.number] = bad.error;
    // What is written to OUT.errors.jsonl must be writable as strict JSON.
    EXPECT_NO_THROW(json({{"line", bad.number}, {"id", bad.id}, {"error", bad.error}}).dump());
  }
  EXPECT_EQ(error[2].rfind("not UTF-8: byte 0xFF at byte 23 of the line", 0), 0u) << error[2];
  EXPECT_EQ(error[4].rfind("not UTF-8: byte 0xFE at byte 1 of the line", 0), 0u) << error[4];
  EXPECT_EQ(error[5],
            "the line holds a NUL byte at byte 37; JSON text cannot hold one (inside a string, "
            "write \\u0000)");
  EXPECT_EQ(error[6].rfind("the line is nested deeper than 64 levels", 0), 0u) << error[6];
  EXPECT_EQ(error[7].rfind("the line holds more than 1000 JSON values", 0), 0u) << error[7];
  EXPECT_NE(error[9].find("number overflow"), std::string::npos) << error[9];
  EXPECT_EQ(error[10], "a sample must be a JSON object, got an array");
  EXPECT_EQ(error[11], "id: must be a string or an integer, got a number (1.5)");
  EXPECT_EQ(error[12], "prompt: must be a string, got a number (12)");
  EXPECT_EQ(error[13], "step: must be an integer >= 0, got a string (\"1\")");
  EXPECT_EQ(error[14], "step: must be an integer >= 0, got a number (-1)");
  EXPECT_EQ(error[15], "id 1 was already used on line 1; ids must be unique");
  EXPECT_EQ(error[16].rfind("respones: unknown key; allowed here: id, prompt", 0), 0u) << error[16];
  EXPECT_EQ(error[17].rfind("not valid JSON", 0), 0u) << error[17];
  EXPECT_EQ(error[18].rfind("not valid JSON", 0), 0u) << error[18];
  EXPECT_NE(error[19].find("surrogate"), std::string::npos) << error[19];
  EXPECT_EQ(error[20].rfind("the line is 300041 bytes, more than the limit of 262144", 0), 0u)
      << error[20];
  EXPECT_EQ(error[21], "thinking: must be a string, got a number (3)");
  // The id is kept where the line had one, for the errors file.
  EXPECT_EQ(input.bad[input.bad.size() - 1].id, 21);
  EXPECT_EQ(input.bad[0].id, nullptr);
  EXPECT_EQ(input.samples.back().sample.id, 22);
}

TEST(ScoreInput, ABomAndCrlfLineEndsAreRead) {
  const ScoreInput input = read("\xef\xbb\xbf" + good(1) + "\r\n" + good(2) + "\r\n");
  EXPECT_EQ(sample_lines(input), (std::vector<size_t>{1, 2}));
  EXPECT_TRUE(input.bad.empty());
}

TEST(JsonLines, ABadLineIsAnsweredInPlaceAndTheLoopGoesOn) {
  std::istringstream in("{\"n\": 1}\n\"\xff\"\n" + std::string(R"({"n": )") + nested(100'000) +
                        "}\n{\"n\": 2}\n");
  std::ostringstream out, err;
  const int code = run_json_lines(in, out, err, [](const json& line) { return line["n"]; });
  EXPECT_EQ(code, 1);
  std::istringstream written(out.str());
  std::vector<json> answers;
  for (std::string text; std::getline(written, text);) answers.push_back(json::parse(text));
  ASSERT_EQ(answers.size(), 4u);
  EXPECT_EQ(answers[0], 1);
  EXPECT_EQ(answers[1]["error"].get<std::string>().rfind("not UTF-8: byte 0xFF at byte 2", 0), 0u);
  EXPECT_EQ(answers[2]["error"].get<std::string>().rfind("the line is nested deeper", 0), 0u);
  EXPECT_EQ(answers[3], 2);
  EXPECT_NE(err.str().find("line 2: not UTF-8"), std::string::npos);
  EXPECT_NE(err.str().find("line 3: the line is nested deeper"), std::string::npos);
}

TEST(DumpLine, NeverThrowsOnTextThatIsNotUtf8) {
  EXPECT_EQ(dump_line(json{{"meta", "a\xff"}}), "{\"meta\":\"a\xef\xbf\xbd\"}");
}

}  // namespace
}  // namespace safrl::cli
