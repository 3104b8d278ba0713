// reward::sample_from_json: the one-turn shorthand and conversations, the per-sample judge
// options, and the errors naming the field (and message index) at fault.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "reward/sample.h"
#include "util/error.h"

namespace safrl::reward {
namespace {

using nlohmann::json;

std::string error_of(const json& value) {
  try {
    sample_from_json(value);
  } catch (const util::InputError& e) {
    return e.what();
  }
  return "(accepted)";
}

// An agent rollout: the policy (from message 2 on) called a tool, read its result, answered,
// and the user asked again.
json agent_sample() {
  return {{"id", "a"},
          {"messages",
           {{{"role", "system"}, {"content", "You are a travel agent."}},
            {{"role", "user"}, {"content", "Weather in Paris?"}},
            {{"role", "assistant"},
             {"content", "<think>\nLook it up.\n</think>\n\nChecking."},
             {"tool_calls", {{{"name", "weather"}, {"arguments", {{"city", "Paris"}}}}}}},
            {{"role", "tool"}, {"content", "18 C, sunny"}},
            {{"role", "assistant"}, {"content", "It is 18 C and sunny."}},
            {{"role", "user"}, {"content", "And tomorrow?"}}}},
          {"policy_turns_from", 2},
          {"response", "Let me check."},
          {"tool_calls", {{{"name", "weather"}, {"arguments", "{\"day\": 2}"}}}},
          {"judge", "all_turns"},
          {"judge_prompt", true},
          {"judge_tool_results", false}};
}

TEST(Sample, APromptIsTheOneUserTurnConversation) {
  const Sample s = sample_from_json({{"id", 1}, {"prompt", "hi"}, {"response", "hello"}});
  ASSERT_EQ(s.messages.size(), 1u);
  EXPECT_EQ(s.messages[0].role, "user");
  EXPECT_EQ(s.messages[0].content, "hi");
  EXPECT_EQ(s.policy_turns_from, 1u);
  EXPECT_EQ(s.last_user_text(), "hi");
  EXPECT_TRUE(s.tool_calls.empty());
  EXPECT_FALSE(s.judge.has_value());
  EXPECT_FALSE(s.judge_prompt.has_value());
  EXPECT_FALSE(s.judge_tool_results.has_value());
}

TEST(Sample, AnswerOffsetCountsTheCodePointsSplitOffBeforeTheAnswer) {
  // "<think>想</think>\n\n": 7 + 1 + 8 + 2 = 18 code points (20 bytes) before "答案".
  const Sample split =
      sample_from_json({{"id", 1}, {"prompt", "q"}, {"response", "<think>想</think>\n\n答案"}});
  EXPECT_EQ(split.answer, "答案");
  EXPECT_EQ(split.answer_offset, 18);
  // No think block, or the answer sent apart: the answer is what was sent, offset 0.
  EXPECT_EQ(sample_from_json({{"id", 1}, {"prompt", "q"}, {"response", "答案"}}).answer_offset, 0);
  EXPECT_EQ(sample_from_json({{"id", 1}, {"prompt", "q"}, {"answer", "答案"}, {"thinking", "t"}})
                .answer_offset,
            0);
  // Not read from the sample: a request or run sets it.
  EXPECT_FALSE(split.token_safety);
}

TEST(Sample, AnAgentRolloutKeepsItsTurnsToolCallsAndOptions) {
  const Sample s = sample_from_json(agent_sample());
  ASSERT_EQ(s.messages.size(), 6u);
  EXPECT_EQ(s.messages[2].role, "assistant");
  ASSERT_EQ(s.messages[2].tool_calls.size(), 1u);
  EXPECT_EQ(s.messages[2].tool_calls[0].name, "weather");
  EXPECT_EQ(s.messages[2].tool_calls[0].arguments, "{\"city\": \"Paris\"}");
  EXPECT_EQ(s.messages[3].role, "tool");
  EXPECT_EQ(s.policy_turns_from, 2u);
  EXPECT_EQ(s.last_user_text(), "And tomorrow?");
  EXPECT_EQ(s.answer, "Let me check.");
  ASSERT_EQ(s.tool_calls.size(), 1u);
  EXPECT_EQ(s.tool_calls[0].arguments, "{\"day\": 2}");
  EXPECT_EQ(s.judge, JudgeTurns::kAllTurns);
  EXPECT_EQ(s.judge_prompt, true);
  EXPECT_EQ(s.judge_tool_results, false);
  // Without policy_turns_from the policy wrote only the response.
  json value = agent_sample();
  value.erase("policy_turns_from");
  EXPECT_EQ(sample_from_json(value).policy_turns_from, 6u);
}

TEST(Sample, ConversationErrorsNameTheFieldAndTheMessageIndex) {
  json both = agent_sample();
  both["prompt"] = "x";
  EXPECT_EQ(error_of(both), "give either \"prompt\" or \"messages\", not both");
  EXPECT_EQ(error_of({{"id", 1}, {"response", "r"}}), "missing \"prompt\" (or \"messages\")");

  json ends_with_assistant = agent_sample();
  ends_with_assistant["messages"].erase(5);
  ends_with_assistant.erase("policy_turns_from");
  EXPECT_EQ(error_of(ends_with_assistant),
            "messages[4].role: messages ends with an assistant turn; the turn being judged goes "
            "in \"response\", and messages must end with a user or tool message");

  json not_a_string = agent_sample();
  not_a_string["messages"][4]["content"] = 5;
  EXPECT_NE(error_of(not_a_string).find("messages[4].content"), std::string::npos)
      << error_of(not_a_string);

  json unknown_role = agent_sample();
  unknown_role["messages"][1]["role"] = "bot";
  EXPECT_NE(error_of(unknown_role).find("messages[1].role: unknown role \"bot\""),
            std::string::npos)
      << error_of(unknown_role);

  json empty = agent_sample();
  empty["messages"] = json::array();
  EXPECT_NE(error_of(empty), "(accepted)");

  json too_far = agent_sample();
  too_far["policy_turns_from"] = 7;
  EXPECT_EQ(error_of(too_far),
            "policy_turns_from: must be an integer from 0 to 6 (the number of messages), got a "
            "number (7)");
  too_far["policy_turns_from"] = -1;
  EXPECT_NE(error_of(too_far).find("got a number (-1)"), std::string::npos);
}

TEST(Sample, JudgeOptionsAreCheckedAndUnknownFieldsRefused) {
  json bad_judge = agent_sample();
  bad_judge["judge"] = "every";
  EXPECT_EQ(error_of(bad_judge).rfind("judge: ", 0), 0u) << error_of(bad_judge);
  bad_judge["judge"] = 1;
  EXPECT_EQ(error_of(bad_judge), "judge: must be \"last\" or \"all_turns\", got a number (1)");
  json bad_flag = agent_sample();
  bad_flag["judge_tool_results"] = "yes";
  EXPECT_EQ(error_of(bad_flag),
            "judge_tool_results: must be true or false, got a string (\"yes\")");
  json bad_calls = agent_sample();
  bad_calls["tool_calls"] = "weather";
  EXPECT_NE(error_of(bad_calls).find("tool_calls"), std::string::npos) << error_of(bad_calls);
  json misspelt = agent_sample();
  misspelt["policy_turn_from"] = 2;
  EXPECT_EQ(error_of(misspelt).rfind("policy_turn_from: unknown key; allowed here: id, prompt", 0),
            0u)
      << error_of(misspelt);
}

TEST(Sample, ErrorsNameTheFullPathBelowTheSamplesOwn) {
  // The fourth sample of a request, as the server reads it.
  const auto error_at = [](const json& value) -> std::string {
    try {
      sample_from_json(value, "samples[3]");
    } catch (const util::InputError& e) {
      return e.what();
    }
    return "(accepted)";
  };
  EXPECT_EQ(error_at({{"id", 1}, {"prompt", 5}, {"response", "r"}}),
            "samples[3].prompt: must be a string, got a number (5)");
  EXPECT_EQ(error_at({{"prompt", "p"}, {"response", "r"}}),
            "samples[3].id: missing; give a string or an integer");
  EXPECT_EQ(error_at({{"id", 1.5}, {"prompt", "p"}, {"response", "r"}}),
            "samples[3].id: must be a string or an integer, got a number (1.5)");
  EXPECT_EQ(error_at({{"id", 1}, {"prompt", "p"}, {"response", "r"}, {"step", -1}}),
            "samples[3].step: must be an integer >= 0, got a number (-1)");
  EXPECT_EQ(error_at(json::array()), "samples[3]: a sample must be a JSON object, got an array");
  json not_a_string = agent_sample();
  not_a_string["messages"][4]["content"] = 5;
  EXPECT_EQ(error_at(not_a_string),
            "samples[3].messages[4].content: must be a string, got a number (5)");
  json bad_calls = agent_sample();
  bad_calls["tool_calls"][0]["name"] = false;
  EXPECT_EQ(error_at(bad_calls),
            "samples[3].tool_calls[0].name: must be a string, got a boolean (false)");
}

}  // namespace
}  // namespace safrl::reward
