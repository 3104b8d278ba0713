// reward::guard_calls: which conversations the guard is asked about for each sample and setting,
// asserted call by call (kind, message index, every message shown).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "reward/judged_turns.h"
#include "reward/sample.h"

namespace safrl::reward {
namespace {

using nlohmann::json;
using Kind = GuardCall::Kind;
using Messages = std::vector<chat::Message>;

const chat::ToolCall kLookup{"weather", "{\"city\": \"Paris\"}"};
const chat::ToolCall kTomorrow{"weather", "{\"day\": 2}"};

// A rollout whose policy wrote messages 2 to 4 (a tool call with a thought, the tool's result,
// an answer), then the user asked again; the response calls the tool once more.
Sample agent_sample() {
  return sample_from_json(
      {{"id", "a"},
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
       {"response", "<think>\nAsk the tool.\n</think>\n\nLet me check."},
       {"tool_calls", {{{"name", "weather"}, {"arguments", "{\"day\": 2}"}}}}});
}

// The conversation shown as context: the assistant turn without its thought.
Messages context(size_t end) {
  const Messages all = {{"system", "You are a travel agent."},  {"user", "Weather in Paris?"},
                        {"assistant", "Checking.", {kLookup}},  {"tool", "18 C, sunny"},
                        {"assistant", "It is 18 C and sunny."}, {"user", "And tomorrow?"}};
  return Messages(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(end));
}

Messages plus(Messages messages, chat::Message last) {
  messages.push_back(std::move(last));
  return messages;
}

void expect_call(const GuardCall& call, Kind kind, size_t turn, const Messages& conversation) {
  EXPECT_EQ(call.kind, kind);
  EXPECT_EQ(call.turn, turn);
  EXPECT_EQ(call.conversation, conversation)
      << "call of kind " << guard_call_kind_name(kind) << " at " << turn;
}

TEST(GuardCalls, AOneTurnSampleIsJudgedAsBeforeItsAnswerThenItsThinking) {
  const Sample s = sample_from_json(
      {{"id", 1}, {"prompt", "Hi"}, {"response", "<think>\nHmm.\n</think>\n\nHello!"}});
  RewardSettings settings;
  auto calls = guard_calls(s, settings);
  ASSERT_EQ(calls.size(), 2u);
  expect_call(calls[0], Kind::kAnswer, 1, {{"user", "Hi"}, {"assistant", "Hello!"}});
  expect_call(calls[1], Kind::kThinking, 1, {{"user", "Hi"}, {"assistant", "Hmm."}});
  settings.judge_thinking = false;
  calls = guard_calls(s, settings);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].kind, Kind::kAnswer);
}

TEST(GuardCalls, LastJudgesTheResponseWithTheWholeConversationWithoutEarlierThoughts) {
  const auto calls = guard_calls(agent_sample(), RewardSettings{});
  ASSERT_EQ(calls.size(), 2u);
  expect_call(calls[0], Kind::kAnswer, 6,
              plus(context(6), {"assistant", "Let me check.", {kTomorrow}}));
  expect_call(calls[1], Kind::kThinking, 6, plus(context(6), {"assistant", "Ask the tool."}));
}

TEST(GuardCalls, AllTurnsJudgesEveryPolicyTurnWithTheConversationBeforeIt) {
  RewardSettings settings;
  settings.judge = JudgeTurns::kAllTurns;
  const auto calls = guard_calls(agent_sample(), settings);
  ASSERT_EQ(calls.size(), 5u);
  expect_call(calls[0], Kind::kAnswer, 2, plus(context(2), {"assistant", "Checking.", {kLookup}}));
  expect_call(calls[1], Kind::kThinking, 2, plus(context(2), {"assistant", "Look it up."}));
  expect_call(calls[2], Kind::kAnswer, 4, context(5));
  expect_call(calls[3], Kind::kAnswer, 6,
              plus(context(6), {"assistant", "Let me check.", {kTomorrow}}));
  expect_call(calls[4], Kind::kThinking, 6, plus(context(6), {"assistant", "Ask the tool."}));
  // Turns before policy_turns_from are the dataset's, not judged.
  Sample all_policy = agent_sample();
  all_policy.policy_turns_from = 5;
  EXPECT_EQ(guard_calls(all_policy, settings).size(), 2u);
}

TEST(GuardCalls, ThePromptAndToolResultsAreJudgedOnRequestAsPromptModeration) {
  Sample s = agent_sample();
  s.judge_prompt = true;
  s.judge_tool_results = true;
  const auto calls = guard_calls(s, RewardSettings{});
  ASSERT_EQ(calls.size(), 4u);
  expect_call(calls[0], Kind::kToolResult, 3, context(4));
  expect_call(calls[1], Kind::kPrompt, 5, context(6));
  EXPECT_EQ(calls[2].kind, Kind::kAnswer);
  EXPECT_EQ(calls[3].kind, Kind::kThinking);
}

TEST(GuardCalls, PromptAwareRefusalsAlwaysJudgeThePromptAndSettingsAreDefaults) {
  RewardSettings settings;
  settings.refusal_penalty = RefusalPenalty::kPromptAware;
  Sample s = agent_sample();
  s.judge_prompt = false;  // prompt_aware needs the verdict all the same
  auto calls = guard_calls(s, settings);
  ASSERT_EQ(calls.size(), 3u);
  expect_call(calls[0], Kind::kPrompt, 5, context(6));

  settings = RewardSettings{};
  settings.judge_prompt = true;
  settings.judge_tool_results = true;
  settings.judge = JudgeTurns::kAllTurns;
  s = agent_sample();
  EXPECT_EQ(guard_calls(s, settings).size(), 7u);  // 5 turn calls, the prompt, one tool result
  s.judge_prompt = false;
  s.judge_tool_results = false;
  s.judge = JudgeTurns::kLast;
  EXPECT_EQ(guard_calls(s, settings).size(), 2u);  // the sample's own options win
}

TEST(GuardCalls, ContextKeysTellSharedContextsApart) {
  const Messages a = plus(context(6), {"assistant", "one"});
  const Messages b = plus(context(6), {"assistant", "two", {kTomorrow}});
  EXPECT_EQ(context_key(a), context_key(b));
  Messages other_call = context(6);
  other_call[2].tool_calls[0].arguments = "{\"city\": \"Rome\"}";
  EXPECT_NE(context_key(plus(other_call, {"assistant", "one"})), context_key(a));
  EXPECT_NE(context_key(plus(context(5), {"assistant", "one"})), context_key(a));
}

}  // namespace
}  // namespace safrl::reward
