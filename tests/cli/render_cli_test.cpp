// Runs the built `safrl render` on JSON lines and checks its exact stdout, stderr and exit code.
#include <sys/wait.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

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
      R"({"error":"messages[0].role: unknown role \"bot\"; valid roles: system, user, assistant, tool"})"
      "\n"
      "{\"text\":\"<|im_start|>user\\ncaf\xc3\xa9<|im_end|>\\n\"}\n");
  EXPECT_EQ(run.err,
            "line 2: messages[0].role: unknown role \"bot\"; valid roles: system, user, assistant, "
            "tool\n");
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
      "\"add_generation_prompt\" and \"enable_thinking\", or is a score line (with \"response\" "
      "or \"answer\")\n"
      "line 4: missing field \"messages\"\n"
      "line 5: expected an object {\"messages\": [...]}, got array\n"
      "line 6: messages[0].role is \"assistant\"; a guard conversation starts with a user or "
      "system message\n";
  ASSERT_GE(run.err.size(), expected_tail.size());
  EXPECT_EQ(run.err.substr(run.err.size() - expected_tail.size()), expected_tail);
  EXPECT_EQ(std::count(run.out.begin(), run.out.end(), '\n'), 6);
  EXPECT_NE(run.out.find("{\"error\":\"\\\"tools\\\" is not supported\"}\n"), std::string::npos);
}

// An agent rollout as a score line: a system prompt, the user's question, the policy's tool call
// and its result (policy_turns_from 2), then the response with its thinking.
const std::string kAgentLine =
    R"({"id": "a", "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Weather?"}, {"role": "assistant", "content": "", "tool_calls": [{"name": "weather", "arguments": "{}"}]}, {"role": "tool", "content": "sun"}], "policy_turns_from": 2, "response": "<think>\nt\n</think>\n\nSunny."})"
    "\n";

// The conversation body of a guard text: what lies between its fixed head and tail.
std::string body_of(const std::string& text) {
  const std::string open = "<BEGIN CONVERSATION>\n\n", close = "\n\n<END CONVERSATION>";
  const size_t begin = text.find(open) + open.size();
  return text.substr(begin, text.find(close) - begin);
}

TEST(RenderCli, ScoreLinesGiveTheGuardTextOfEveryJudgedTurn) {
  CliResult run = run_safrl(
      "render --format guard --judge all_turns --judge-prompt --judge-tool-results", kAgentLine);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const nlohmann::json line = nlohmann::json::parse(run.out);
  EXPECT_EQ(line.at("id"), "a");
  const std::string call =
      "ASSISTANT: <tool_call>\n{\"name\": \"weather\", \"arguments\": {}}\n"
      "</tool_call>";
  const std::string result = "USER: <tool_response>\nsun\n</tool_response>";
  const std::vector<std::tuple<std::string, int, std::string>> expected = {
      {"prompt", 1, "USER: S\n\nWeather?"},
      {"answer", 2, "USER: S\n\nWeather?\n\n" + call},
      {"tool_result", 3, "USER: S\n\nWeather?\n\n" + call + "\n\n" + result},
      {"answer", 4, "USER: S\n\nWeather?\n\n" + call + "\n\n" + result + "\n\nASSISTANT: Sunny."},
      {"thinking", 4, "USER: S\n\nWeather?\n\n" + call + "\n\n" + result + "\n\nASSISTANT: t"}};
  const auto& calls = line.at("calls");
  ASSERT_EQ(calls.size(), expected.size()) << run.out;
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(calls[i].at("kind"), std::get<0>(expected[i])) << i;
    EXPECT_EQ(calls[i].at("turn"), std::get<1>(expected[i])) << i;
    EXPECT_EQ(body_of(calls[i].at("text").get<std::string>()), std::get<2>(expected[i])) << i;
  }
  // The response's text is the messages renderer's for the same conversation, whole.
  CliResult messages = run_safrl(
      "render --format guard",
      R"({"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Weather?"}, {"role": "assistant", "content": "", "tool_calls": [{"name": "weather", "arguments": "{}"}]}, {"role": "tool", "content": "sun"}, {"role": "assistant", "content": "Sunny."}]})"
      "\n");
  ASSERT_EQ(messages.exit_code, 0) << messages.err;
  EXPECT_EQ(calls[3].at("text"), nlohmann::json::parse(messages.out).at("text"));
}

TEST(RenderCli, ScoreLinesFollowTheDefaultsAndTheSamplesOwnSwitches) {
  CliResult run = run_safrl("render --format guard", kAgentLine);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto calls = nlohmann::json::parse(run.out).at("calls");
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].at("kind"), "answer");
  EXPECT_EQ(calls[0].at("turn"), 4);
  EXPECT_EQ(calls[1].at("kind"), "thinking");
  // A line's own "judge_prompt" wins over the flag.
  std::string own = kAgentLine;
  own.insert(own.rfind('}'), R"(, "judge_prompt": false)");
  CliResult off = run_safrl("render --format guard --judge-prompt", own);
  ASSERT_EQ(off.exit_code, 0) << off.err;
  EXPECT_EQ(nlohmann::json::parse(off.out).at("calls").size(), 2u);
  CliResult on = run_safrl("render --format guard --judge-prompt", kAgentLine);
  EXPECT_EQ(nlohmann::json::parse(on.out).at("calls").at(0).at("kind"), "prompt");
}

TEST(RenderCli, ScoreLinesRefuseToolTurnsWhenToldAndOtherFormats) {
  CliResult refuse = run_safrl("render --format guard --tool-turns refuse", kAgentLine);
  EXPECT_EQ(refuse.exit_code, 1);
  EXPECT_NE(refuse.err.find("line 1: messages[2]"), std::string::npos) << refuse.err;
  CliResult qwen3 = run_safrl("render --format qwen3", kAgentLine);
  EXPECT_EQ(qwen3.exit_code, 1);
  EXPECT_EQ(qwen3.err,
            "line 1: a score line (with \"response\" or \"answer\") renders only with --format "
            "guard\n");
  CliResult bad_judge = run_safrl("render --format guard --judge every", kAgentLine);
  EXPECT_EQ(bad_judge.exit_code, 2);
  EXPECT_NE(bad_judge.err.find("every"), std::string::npos) << bad_judge.err;
}

TEST(RenderCli, UnknownFormatExitsWithTwo) {
  CliResult run = run_safrl("render --format llama", "");
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err, "safrl: unknown chat format \"llama\"; valid values: guard, qwen3, chatml\n");
}

}  // namespace
