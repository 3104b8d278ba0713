// OpenRLHF's /get_reward bodies as samples: plain and one-turn queries exactly as before
// conversations existed, Qwen3-rendered multi-turn prompts as their messages, and agent rollouts
// (several assistant turns with tool results between) as the policy's turns plus the response.
#include "serve/openrlhf.h"

#include <gtest/gtest.h>

namespace safrl::serve::openrlhf {
namespace {

using nlohmann::json;

const std::string kGeneration = "<|im_start|>assistant\n";

std::string turn(const std::string& role, const std::string& content) {
  return "<|im_start|>" + role + "\n" + content + "<|im_end|>\n";
}

reward::Sample one(const std::string& prompt, const std::string& response) {
  const auto samples =
      samples_from_body({{"query", {prompt + response}}, {"prompts", {prompt}}, {"labels", 1}});
  EXPECT_EQ(samples.size(), 1u);
  return samples.at(0);
}

void expect_same(const reward::Sample& got, const json& expected) {
  const reward::Sample want = reward::sample_from_json(expected);
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.messages, want.messages);
  EXPECT_EQ(got.policy_turns_from, want.policy_turns_from);
  EXPECT_EQ(got.thinking, want.thinking);
  EXPECT_EQ(got.answer, want.answer);
  EXPECT_EQ(got.tool_calls, want.tool_calls);
  EXPECT_EQ(got.truncated_thinking, want.truncated_thinking);
}

TEST(OpenrlhfSamples, PlainAndOneTurnQueriesAreTheSamplesTheyWere) {
  expect_same(one("How do I bake bread?", " Knead it.<|im_end|>\n"),
              {{"id", 0}, {"prompt", "How do I bake bread?"}, {"response", " Knead it."}});
  expect_same(one(turn("user", "How do I bake bread?") + kGeneration, "Knead it.<|im_end|>"),
              {{"id", 0}, {"prompt", "How do I bake bread?"}, {"response", "Knead it."}});
  // Qwen3's non-thinking generation prompt ends in an empty think block; the response follows.
  expect_same(one(turn("user", "Hi") + kGeneration + "<think>\n\n</think>\n\n", "Hello!"),
              {{"id", 0}, {"prompt", "Hi"}, {"response", "Hello!"}});
}

TEST(OpenrlhfSamples, AMultiTurnPromptKeepsItsSystemAndEarlierTurns) {
  const std::string prompt = turn("system", "Answer in French.") + turn("user", "Bonjour") +
                             turn("assistant", "Bonjour !") + turn("user", "Quelle heure ?") +
                             kGeneration;
  expect_same(one(prompt, "<think>\nclock\n</think>\n\nMidi.<|im_end|>\n<|endoftext|>"),
              {{"id", 0},
               {"messages",
                {{{"role", "system"}, {"content", "Answer in French."}},
                 {{"role", "user"}, {"content", "Bonjour"}},
                 {{"role", "assistant"}, {"content", "Bonjour !"}},
                 {{"role", "user"}, {"content", "Quelle heure ?"}}}},
               {"response", "<think>\nclock\n</think>\n\nMidi."}});
}

TEST(OpenrlhfSamples, AnAgentRolloutIsThePolicysTurnsAndItsLastAnswer) {
  const std::string prompt =
      turn("system", "You can call tools.") + turn("user", "Weather in Paris?") + kGeneration;
  const std::string response =
      "<think>\nask the tool\n</think>\n\n<tool_call>\n{\"name\": \"weather\", \"arguments\": "
      "{\"city\": \"Paris\"}}\n</tool_call><|im_end|>\n" +
      turn("user", "<tool_response>\n18 C, cloudy\n</tool_response>") + kGeneration +
      "<think>\nread it\n</think>\n\nIt is 18 C and cloudy.<|im_end|>";
  expect_same(one(prompt, response),
              {{"id", 0},
               {"messages",
                {{{"role", "system"}, {"content", "You can call tools."}},
                 {{"role", "user"}, {"content", "Weather in Paris?"}},
                 {{"role", "assistant"},
                  {"content", "<think>\nask the tool\n</think>\n\n"},
                  {"tool_calls", {{{"name", "weather"}, {"arguments", "{\"city\": \"Paris\"}"}}}}},
                 {{"role", "tool"}, {"content", "18 C, cloudy"}}}},
               {"policy_turns_from", 2},
               {"answer", "It is 18 C and cloudy."},
               {"thinking", "read it"}});
  // A rollout that stops on a tool call: that call is the response's own.
  const std::string calling =
      "Let me check.\n<tool_call>\n{\"name\": \"clock\", \"arguments\": "
      "{}}\n</tool_call><|im_end|>\n" +
      turn("user", "<tool_response>\n12:00\n</tool_response>") + kGeneration +
      "<tool_call>\n{\"name\": \"alarm\", \"arguments\": {}}\n</tool_call>";
  const reward::Sample stopped = one(prompt, calling);
  ASSERT_EQ(stopped.messages.size(), 4u);
  EXPECT_EQ(stopped.messages[2].content, "Let me check.");
  EXPECT_EQ(stopped.messages[2].tool_calls.at(0).name, "clock");
  EXPECT_EQ(stopped.answer, "");
  ASSERT_EQ(stopped.tool_calls.size(), 1u);
  EXPECT_EQ(stopped.tool_calls[0].name, "alarm");
  EXPECT_EQ(stopped.tool_calls[0].arguments, "{}");
}

TEST(OpenrlhfSamples, UnjudgeableRolloutsNameTheQuery) {
  const std::string prompt = turn("user", "Weather?") + kGeneration;
  const std::string ends_with_tool =
      "<tool_call>\n{\"name\": \"weather\", \"arguments\": {}}\n</tool_call><|im_end|>\n" +
      turn("user", "<tool_response>\nsun\n</tool_response>");
  json body = {{"query", {prompt + "Fine.", prompt + ends_with_tool}},
               {"prompts", {prompt, prompt}}};
  try {
    samples_from_body(body);
    ADD_FAILURE() << "expected a refusal";
  } catch (const ProtocolError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kBadRequest);
    EXPECT_EQ(std::string(e.what()),
              "query[1]: the response ends with a tool turn; an agent rollout ends with the "
              "policy's answer");
  }
  body["query"][1] = prompt + "Hm.<|im_end|>\n<|im_start|>critic\nno<|im_end|>";
  try {
    samples_from_body(body);
    ADD_FAILURE() << "expected a refusal";
  } catch (const ProtocolError& e) {
    EXPECT_NE(std::string(e.what()).find("query[1]: Qwen3 chat text, turn 1 at byte"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace safrl::serve::openrlhf
