// `safrl tokenize`, run as a process on JSON lines.
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/qwen3_tokenizer.h"
#include "support/test_support.h"

namespace safrl::cli {
namespace {

struct RunResult {
  int exit_code;
  std::string out;
  std::string err;
};

RunResult run_safrl(const std::string& arguments, const std::string& input) {
  testing::TempDir dir;
  std::ofstream(dir.file("in.jsonl")) << input;
  const std::string command = std::string("'") + SAFRL_BINARY_DIR "/src/cli/safrl' " + arguments +
                              " < '" + dir.file("in.jsonl") + "' 2> '" + dir.file("err.txt") + "'";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed");
  std::string out;
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
  const int status = ::pclose(pipe);
  std::stringstream err;
  err << std::ifstream(dir.file("err.txt")).rdbuf();
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out, err.str()};
}

const std::string kTokenize = "tokenize --tokenizer '" + testing::kQwen3TokenizerDir + "'";

TEST(TokenizeCommand, EncodesTextLines) {
  const RunResult result = run_safrl(
      kTokenize,
      "{\"text\": \"Safety: Safe\"}\n\n{\"text\": \"<|im_start|>user\\n\\u4f60\\u597d\"}\n");
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "{\"ids\":[73037,25,22291]}\n{\"ids\":[151644,872,198,108386]}\n");
  EXPECT_EQ(result.err, "");
}

TEST(TokenizeCommand, DecodesIdLinesKeepingSpecialTokens) {
  const RunResult result =
      run_safrl(kTokenize + " --decode", "{\"ids\": [151644, 872, 198, 108386, 151645]}\n");
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "{\"text\":\"<|im_start|>user\\n你好<|im_end|>\"}\n");
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> result;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) result.push_back(line);
  return result;
}

TEST(TokenizeCommand, ReportsBadLinesAndGoesOn) {
  const RunResult result = run_safrl(kTokenize,
                                     "{\"txt\": \"x\"}\n"
                                     "{\"text\": 5}\n"
                                     "not json\n"
                                     "[1]\n"
                                     "{\"text\": \"ok\"}\n");
  EXPECT_EQ(result.exit_code, 1);
  const std::vector<std::string> out = lines(result.out);
  ASSERT_EQ(out.size(), 5u) << result.out;
  EXPECT_EQ(out[0], R"x({"error":"missing field \"text\" (expected {\"text\": \"...\"})"})x");
  EXPECT_EQ(out[1], R"({"error":"field \"text\" must be a string, got number"})");
  EXPECT_EQ(out[2].rfind(R"({"error":"not valid JSON)", 0), 0u) << out[2];
  EXPECT_EQ(out[4], R"({"ids":[562]})");
  const std::vector<std::string> err = lines(result.err);
  ASSERT_EQ(err.size(), 4u) << result.err;
  EXPECT_EQ(err[0], R"(line 1: missing field "text" (expected {"text": "..."}))");
  EXPECT_EQ(err[1], R"(line 2: field "text" must be a string, got number)");
  EXPECT_EQ(err[2].rfind("line 3: not valid JSON", 0), 0u) << err[2];
  EXPECT_EQ(err[3], R"(line 4: missing field "text" (expected {"text": "..."}))");
}

TEST(TokenizeCommand, ReportsBadIds) {
  const RunResult result = run_safrl(kTokenize + " --decode",
                                     "{\"ids\": [9707, 151669]}\n"
                                     "{\"ids\": [1.5]}\n"
                                     "{\"ids\": \"9707\"}\n"
                                     "{\"text\": \"x\"}\n"
                                     "{\"ids\": [-3]}\n"
                                     "{\"ids\": [9707]}\n");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.err,
            "line 1: ids[1] = 151669 is not a token id (the vocabulary has ids 0..151668)\n"
            "line 2: ids[0] = 1.5 is not an integer\n"
            "line 3: field \"ids\" must be an array of token ids, got string\n"
            "line 4: missing field \"ids\" (expected {\"ids\": [1, 2, 3]})\n"
            "line 5: ids[0] = -3 is not a token id (the vocabulary has ids 0..151668)\n");
  EXPECT_NE(result.out.find("{\"text\":\"Hello\"}"), std::string::npos) << result.out;
}

TEST(TokenizeCommand, MissingTokenizerIsALoadError) {
  const RunResult result = run_safrl("tokenize --tokenizer /nonexistent/dir", "");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("safrl: cannot open /nonexistent/dir/tokenizer.json"),
            std::string::npos)
      << result.err;
}

}  // namespace
}  // namespace safrl::cli
