// The output file of `safrl score` as a resumable log: whole lines read back, a torn end measured
// and cut off, appends that land after what is there.
#include "cli/score_output.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/test_support.h"
#include "util/error.h"

namespace safrl::cli {
namespace {

using nlohmann::json;

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(ScoreOutput, AMissingFileIsAnEmptyOutput) {
  testing::TempDir dir;
  const EarlierOutput earlier = read_earlier_output(dir.file("none.jsonl"));
  EXPECT_TRUE(earlier.lines.empty());
  EXPECT_EQ(earlier.complete_bytes, 0u);
  EXPECT_EQ(earlier.torn_bytes, 0u);
}

TEST(ScoreOutput, ATornLastLineIsMeasuredAndCutOff) {
  testing::TempDir dir;
  const std::string path = dir.file("out.jsonl");
  // Two whole lines of 10 and 11 bytes (newlines counted), then 8 of an interrupted write.
  std::ofstream(path, std::ios::binary) << "{\"id\": 1}\n{\"id\": 22}\n{\"id\": 3";
  const EarlierOutput earlier = read_earlier_output(path);
  ASSERT_EQ(earlier.lines.size(), 2u);
  EXPECT_EQ(earlier.lines[0], (json{{"id", 1}}));
  EXPECT_EQ(earlier.lines[1], (json{{"id", 22}}));
  EXPECT_EQ(earlier.complete_bytes, 21u);
  EXPECT_EQ(earlier.torn_bytes, 8u);  // "{\"id\": 3" is 8 bytes
  cut_torn_line(path, earlier);
  EXPECT_EQ(read_all(path), "{\"id\": 1}\n{\"id\": 22}\n");
  // Appending after the cut continues the file with whole lines only.
  DurableAppender(path).append("{\"id\": 3}\n");
  const EarlierOutput resumed = read_earlier_output(path);
  EXPECT_EQ(resumed.lines.size(), 3u);
  EXPECT_EQ(resumed.torn_bytes, 0u);
  EXPECT_EQ(resumed.complete_bytes, 21u + 10u);
}

TEST(ScoreOutput, AFileOfAnythingElseIsRefusedNamingItsLine) {
  testing::TempDir dir;
  const std::string path = dir.file("notes.txt");
  std::ofstream(path, std::ios::binary) << "{\"id\": 1}\nsome notes\n";
  try {
    read_earlier_output(path);
    FAIL() << "no error";
  } catch (const util::Error& e) {
    EXPECT_TRUE(testing::contains_all(
        e.what(), {path + " line 2 is not a scored sample (",
                   "this file was not written by safrl score. Move it away or give another "
                   "--output"}));
  }
}

TEST(ScoreOutput, TheAppenderCreatesTheFileAndAppendsToWhatIsThere) {
  testing::TempDir dir;
  const std::string path = dir.file("out.jsonl");
  DurableAppender(path).append("a\n");
  EXPECT_EQ(read_all(path), "a\n");
  DurableAppender appender(path);
  appender.append("b\n");
  appender.append("");
  appender.append("c\n");
  EXPECT_EQ(read_all(path), "a\nb\nc\n");
  EXPECT_THROW(DurableAppender(dir.file("no/such/dir/out.jsonl")), util::Error);
}

}  // namespace
}  // namespace safrl::cli
