#include "util/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/test_support.h"
#include "util/error.h"

namespace safrl::util {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

// 2026-12-07T19:45:01.123Z: 20,794 days after 1970-01-01 (56 years with 14 leap days = 20,454,
// plus 340 days from January 1st to December 7th), so 20,794 * 86,400 s + 19 h 45 min 1 s
// = 1,796,601,600 + 71,101 = 1,796,672,701 s, and 123 ms.
const system_clock::time_point kWhen{milliseconds(1'796'672'701'123)};

// Sends file descriptor 2 to a file for the object's life; text() gives what was written.
class CapturedStderr {
 public:
  CapturedStderr() : path_(dir_.file("stderr")) {
    std::fflush(stderr);
    saved_ = ::dup(2);
    const int file = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(file, 2);
    ::close(file);
  }
  ~CapturedStderr() { restore(); }

  std::string text() {
    restore();
    std::ifstream in(path_);
    std::stringstream all;
    all << in.rdbuf();
    return all.str();
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }

  testing::TempDir dir_;
  std::string path_;
  int saved_ = -1;
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The logger's settings are process-wide: every test starts from, and leaves, the defaults.
class Log : public ::testing::Test {
 protected:
  void SetUp() override { reset(); }
  void TearDown() override { reset(); }
  static void reset() {
    set_log_level(LogLevel::kInfo);
    set_log_json(false);
  }
};

TEST_F(Log, TextLineIsUtcTimestampLevelComponentMessage) {
  EXPECT_EQ(format_log_line(LogLevel::kWarn, "serve", "listening on ipc:///tmp/s", kWhen, false),
            "2026-12-07T19:45:01.123Z WARN serve: listening on ipc:///tmp/s");
  EXPECT_EQ(format_log_line(LogLevel::kDebug, "http", "m", kWhen + milliseconds(877), false),
            "2026-12-07T19:45:02.000Z DEBUG http: m");
}

// One millisecond before the epoch is 1969-12-31T23:59:59.999Z: the milliseconds are floored
// with the seconds, not truncated towards zero (which would print 00:00:00 with -1 ms).
TEST_F(Log, TimeBeforeTheEpochFloorsTheMilliseconds) {
  EXPECT_EQ(format_log_line(LogLevel::kInfo, "cli", "m", system_clock::time_point(milliseconds(-1)),
                            false),
            "1969-12-31T23:59:59.999Z INFO cli: m");
}

TEST_F(Log, JsonLineHasTheFourFieldsInOrderOnOneLine) {
  EXPECT_EQ(format_log_line(LogLevel::kError, "front", "engine \"1\"\nstopped", kWhen, true),
            R"({"ts":"2026-12-07T19:45:01.123Z","level":"error","component":"front",)"
            R"("message":"engine \"1\"\nstopped"})");
}

// A client's bytes quoted in a message need not be UTF-8: the line is still written, with
// U+FFFD (EF BF BD) in place of the invalid byte.
TEST_F(Log, JsonLineReplacesInvalidUtf8) {
  const std::string line = format_log_line(LogLevel::kWarn, "http", "bad \xff byte", kWhen, true);
  EXPECT_EQ(nlohmann::json::parse(line)["message"], "bad \xEF\xBF\xBD byte");
}

TEST_F(Log, LinesBelowTheLevelAreDropped) {
  set_log_level(LogLevel::kWarn);
  CapturedStderr captured;
  log_debug("steps", "d");
  log_info("steps", "i");
  log_warn("steps", "w");
  log_error("steps", "e");
  const std::vector<std::string> lines = lines_of(captured.text());
  ASSERT_EQ(lines.size(), 2u);
  const std::regex shape(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (WARN|ERROR) steps: (w|e))");
  std::smatch match;
  ASSERT_TRUE(std::regex_match(lines[0], match, shape)) << lines[0];
  EXPECT_EQ(match[1], "WARN");
  EXPECT_EQ(match[2], "w");
  ASSERT_TRUE(std::regex_match(lines[1], match, shape)) << lines[1];
  EXPECT_EQ(match[1], "ERROR");
  EXPECT_EQ(match[2], "e");
}

TEST_F(Log, DebugLevelWritesDebugLines) {
  set_log_level(LogLevel::kDebug);
  EXPECT_TRUE(log_enabled(LogLevel::kDebug));
  CapturedStderr captured;
  log_debug("serve", "details");
  EXPECT_NE(captured.text().find(" DEBUG serve: details\n"), std::string::npos);
}

TEST_F(Log, JsonModeWritesLinesThatParse) {
  set_log_json(true);
  CapturedStderr captured;
  log_info("serve", "listening on tcp://127.0.0.1:5555");
  const std::vector<std::string> lines = lines_of(captured.text());
  ASSERT_EQ(lines.size(), 1u);
  const nlohmann::json line = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(line["level"], "info");
  EXPECT_EQ(line["component"], "serve");
  EXPECT_EQ(line["message"], "listening on tcp://127.0.0.1:5555");
  EXPECT_TRUE(std::regex_match(line["ts"].get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
}

TEST_F(Log, ParsesTheFourLevelNamesAndRefusesOthersNamingThem) {
  EXPECT_EQ(parse_log_level("debug"), LogLevel::kDebug);
  EXPECT_EQ(parse_log_level("info"), LogLevel::kInfo);
  EXPECT_EQ(parse_log_level("warn"), LogLevel::kWarn);
  EXPECT_EQ(parse_log_level("error"), LogLevel::kError);
  for (const char* wrong : {"WARN", "warning", ""}) {
    try {
      parse_log_level(wrong);
      ADD_FAILURE() << "accepted '" << wrong << "'";
    } catch (const InputError& e) {
      EXPECT_EQ(std::string(e.what()),
                cat("unknown log level '", wrong, "': use debug, info, warn or error"));
    }
  }
}

TEST_F(Log, ParsesTheTwoFormatsAndRefusesOthersNamingThem) {
  EXPECT_FALSE(parse_log_format_is_json("text"));
  EXPECT_TRUE(parse_log_format_is_json("json"));
  try {
    parse_log_format_is_json("jsonl");
    ADD_FAILURE() << "accepted 'jsonl'";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "unknown log format 'jsonl': use text or json");
  }
}

// 8 threads write 200 lines of 2,000 bytes each at once (far above the 4,096-byte pipe atomicity
// a single unsynchronised write would need): every line arrives whole, none lost.
TEST_F(Log, ConcurrentWritersGiveWholeLines) {
  constexpr int kThreads = 8;
  constexpr int kLinesEach = 200;
  CapturedStderr captured;
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([t] {
      const std::string message(2000, static_cast<char>('a' + t));
      for (int i = 0; i < kLinesEach; ++i) log_info(cat("writer", t), message);
    });
  }
  for (std::thread& writer : writers) writer.join();
  const std::vector<std::string> lines = lines_of(captured.text());
  ASSERT_EQ(lines.size(), static_cast<size_t>(kThreads * kLinesEach));
  std::map<int, int> per_writer;
  const std::regex head(R"(\S+ INFO writer(\d): )");
  for (const std::string& line : lines) {
    std::smatch match;
    ASSERT_TRUE(std::regex_search(line, match, head) && match.position(0) == 0)
        << line.substr(0, 80);
    const int writer = std::stoi(match[1]);
    EXPECT_EQ(match.suffix().str(), std::string(2000, static_cast<char>('a' + writer)));
    ++per_writer[writer];
  }
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(per_writer[t], kLinesEach) << "writer " << t;
}

}  // namespace
}  // namespace safrl::util
