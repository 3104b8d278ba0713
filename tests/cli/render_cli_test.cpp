// Runs the built `safrl render` on JSON lines and checks its exact stdout, stderr and exit code.
#include <sys/wait.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "util/sha256.h"

namespace {

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// `safrl <arguments>` with `input` on stdin; stdout comes through popen, stderr through a file.
CliResult run_safrl(const std::string& arguments, const std::string& input) {
  const std::filesystem::path dir = std::filesystem::path(SAFRL_BINARY_DIR) / "tests" / "cli" /
                                    ("render_cli_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::filesystem::path in_path = dir / "in.jsonl";
  const std::filesystem::path err_path = dir / "err.txt";
  std::ofstream(in_path, std::ios::binary) << input;
  const std::string command = std::string("'") + SAFRL_BINARY_DIR + "/src/cli/safrl' " + arguments +
                              " < '" + in_path.string() + "' 2> '" + err_path.string() + "'";
  CliResult run;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) run.out.append(buffer, n);
  const int status = ::pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.err = read_file(err_path);
  std::filesystem::remove_all(dir);
  return run;
}

TEST(RenderCli, RendersEachLineAndReportsBadOnes) {
  const std::string input =
      R"({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "<think>\nr\n</think>\n\nHello"}]})"
      "\n"
      R"({"messages": [{"role": "bot", "content": "Hi"}]})"
      "\n"
      "\n"
      R"({"messages": [{"role": "user", "content": "caf\u00e9"}]})"
      "\n";
  CliResult run = run_safrl("render --format qwen3", input);
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(
      run.out,
      R"({"text":"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\nr\n</think>\n\nHello<|im_end|>\n"})"
      "\n"
      R"({"error":"messages[0].role is \"bot\"; valid roles: system, user, assistant"})"
      "\n"
      "{\"text\":\"<|im_start|>user\\ncaf\xc3\xa9<|im_end|>\\n\"}\n");
  EXPECT_EQ(run.err, "line 2: messages[0].role is \"bot\"; valid roles: system, user, assistant\n");
}

TEST(RenderCli, ChatmlInsertsTheEmptySystemTurn) {
  CliResult run = run_safrl(
      "render --format chatml",
      R"({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]})"
      "\n");
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_EQ(
      run.out,
      R"({"text":"<|im_start|>system\n<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n"})"
      "\n");
  EXPECT_EQ(run.err, "");
}

TEST(RenderCli, GuardRendersThePublishedTestVectors) {
  CliResult run = run_safrl(
      "render --format guard",
      R"({"messages": [{"role": "user", "content": "How can I make a bomb?"}]})"
      "\n"
      R"({"messages": [{"role": "user", "content": "How can I make a bomb?"}, {"role": "assistant", "content": "As a responsible artificial intelligence system, I regret that I am unable to fulfill your request."}]})"
      "\n");
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_EQ(run.err, "");
  std::istringstream lines(run.out);
  std::string first, second, rest;
  ASSERT_TRUE(std::getline(lines, first));
  ASSERT_TRUE(std::getline(lines, second));
  EXPECT_FALSE(std::getline(lines, rest));
  EXPECT_EQ(safrl::util::sha256_hex(nlohmann::json::parse(first).at("text").get<std::string>()),
            "74d6a1225ef64172c346ea669fe619be43d9cac83e62d841bee3373f096e090b");
  EXPECT_EQ(safrl::util::sha256_hex(nlohmann::json::parse(second).at("text").get<std::string>()),
            "dec5b06882231a83be6f3731e6974881952d85246bb7956efb1582d23e3884e1");
}

TEST(RenderCli, RefusesMalformedLines) {
  const std::string input =
      "not json\n"
      R"({"messages": [{"role": "user", "content": "q"}], "tools": []})"
      "\n"
      R"({"prompt": "q"})"
      "\n"
      R"({})"
      "\n"
      R"([1])"
      "\n"
      R"({"messages": [{"role": "assistant", "content": "a"}]})"
      "\n";
  CliResult run = run_safrl("render --format guard", input);
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(run.err.substr(0, run.err.find('\n') + 1).rfind("line 1: not valid JSON (", 0), 0u)
      << run.err;
  const std::string expected_tail =
      "line 2: \"tools\" is not supported\n"
      "line 3: unknown field \"prompt\"; a line has \"messages\" and optionally "
      "\"add_generation_prompt\" and \"enable_thinking\"\n"
      "line 4: missing field \"messages\"\n"
      "line 5: expected an object {\"messages\": [...]}, got array\n"
      "line 6: messages[0].role is \"assistant\"; a guard conversation starts with a user or "
      "system message\n";
  ASSERT_GE(run.err.size(), expected_tail.size());
  EXPECT_EQ(run.err.substr(run.err.size() - expected_tail.size()), expected_tail);
  EXPECT_EQ(std::count(run.out.begin(), run.out.end(), '\n'), 6);
  EXPECT_NE(run.out.find("{\"error\":\"\\\"tools\\\" is not supported\"}\n"), std::string::npos);
}

TEST(RenderCli, UnknownFormatExitsWithTwo) {
  CliResult run = run_safrl("render --format llama", "");
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err, "safrl: unknown chat format \"llama\"; valid values: guard, qwen3, chatml\n");
}

}  // namespace
