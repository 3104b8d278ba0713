// The Stream guard against the official procedure (safrl.testing.stream_reference, eval_stream.py)
// on a tiny Qwen3ForGuardModel with the real Qwen3 vocabulary (safrl.testing.stream_guard_golden
// writes both): per response position the label, the three probabilities (within 1e-4) and the
// category; the debounced outcome and index; the query verdict. Each conversation alone, all in
// one packed forward, and the same call split over several forwards. Then the scorer with
// guard.kind stream, and the refusals of a checkpoint of the other kind.
#include "reward/stream_guard.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <sys/stat.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "reward/config.h"
#include "reward/scorer.h"
#include "support/test_support.h"
#include "util/error.h"

namespace safrl::reward {
namespace {

using nlohmann::json;
using safrl::testing::contains_all;
using safrl::testing::load_error;

const std::string kStreamDir = SAFRL_BINARY_DIR "/testdata/stream-guard";
const std::string kModel = kStreamDir + "/model";
const std::string kGenGuard = SAFRL_BINARY_DIR "/embedded/guard";
constexpr double kProbTolerance = 1e-4;

const json& golden() {
  static const json value = [] {
    std::ifstream in(kStreamDir + "/golden.json");
    return json::parse(in);
  }();
  return value;
}

std::vector<std::vector<chat::Message>> conversations() {
  std::vector<std::vector<chat::Message>> out;
  for (const json& entry : golden()["conversations"]) {
    out.push_back(chat::messages_from_json(entry["messages"]));
  }
  return out;
}

void expect_probs(const std::array<double, 3>& got, const json& want, const std::string& where) {
  for (size_t k = 0; k < 3; ++k) {
    EXPECT_NEAR(got[k], want[k].get<double>(), kProbTolerance) << where << " label " << k;
  }
}

// `got` is what the guard said of golden conversation `c`.
void expect_golden(const StreamJudgement& got, size_t c) {
  const json& want = golden()["conversations"][c];
  const std::string where = "conversation " + std::to_string(c);
  EXPECT_EQ(got.input_tokens, want["tokens"].get<int64_t>()) << where;
  if (want["task"] == "prompt") {
    ASSERT_EQ(got.task, GuardTask::kPrompt) << where;
    EXPECT_FALSE(got.tokens.has_value()) << where;
    const json& query = want["query"];
    EXPECT_EQ(safety_name(got.verdict.safety), query["label"].get<std::string>()) << where;
    expect_probs(got.verdict.safety_probs, query["probs"], where);
    if (query["label"] != "Safe") {
      EXPECT_EQ(got.verdict.categories, std::vector<std::string>{query["category"]}) << where;
    }
    return;
  }
  ASSERT_EQ(got.task, GuardTask::kResponse) << where;
  ASSERT_TRUE(got.tokens.has_value()) << where;
  const TokenSafety& tokens = *got.tokens;
  ASSERT_EQ(tokens.labels.size(), want["labels"].size()) << where;
  for (size_t i = 0; i < tokens.labels.size(); ++i) {
    const std::string at = where + " position " + std::to_string(i);
    EXPECT_EQ(safety_name(tokens.labels[i]), want["labels"][i].get<std::string>()) << at;
    expect_probs(tokens.probs[i], want["probs"][i], at);
    EXPECT_EQ(tokens.categories[i], want["categories"][i].get<std::string>()) << at;
  }
  EXPECT_EQ(safety_name(tokens.debounced.outcome), want["outcome"].get<std::string>()) << where;
  EXPECT_EQ(tokens.debounced.index, want["index"].get<int64_t>()) << where;
  // The verdict is the debounced outcome (its own rule is stream_verdict_test's).
  EXPECT_EQ(got.verdict.safety, tokens.debounced.outcome) << where;
  EXPECT_FALSE(got.verdict.refusal.has_value()) << where;
}

TEST(StreamGuard, GoldenSetHoldsEveryOutcome) {
  // The fixture's promise (a seed and a scaled Safe row): otherwise the tests below prove less.
  std::set<std::string> outcomes;
  for (const json& entry : golden()["conversations"]) {
    if (entry["task"] == "response") outcomes.insert(entry["outcome"].get<std::string>());
  }
  EXPECT_EQ(outcomes, (std::set<std::string>{"Safe", "Unsafe", "Controversial"}));
}

TEST(StreamGuard, EachConversationAloneMatchesTheOfficialProcedure) {
  StreamGuard guard(kModel, {}, {});
  const auto all = conversations();
  for (size_t c = 0; c < all.size(); ++c) {
    const int64_t before = guard.timing().prefill_tokens;
    const std::vector<StreamJudgement> got = guard.judge({all[c]});
    ASSERT_EQ(got.size(), 1u);
    expect_golden(got[0], c);
    EXPECT_EQ(guard.timing().prefill_tokens - before, got[0].input_tokens);
  }
}

TEST(StreamGuard, OnePackedCallAndACallSplitOverForwardsMatchTheOfficialProcedure) {
  const auto all = conversations();
  StreamGuard packed(kModel, {}, {});
  const std::vector<StreamJudgement> together = packed.judge(all);
  ASSERT_EQ(together.size(), all.size());
  int64_t tokens = 0;
  for (size_t c = 0; c < all.size(); ++c) {
    expect_golden(together[c], c);
    tokens += together[c].input_tokens;
  }
  // One forward of every token: the prefill counts each once, and nothing is decoded.
  EXPECT_EQ(packed.timing().prefill_tokens, tokens);
  EXPECT_EQ(packed.timing().decode_steps, 0);

  // A budget under two conversations' tokens: several forwards, the same results in input order.
  StreamGuardOptions small;
  small.max_batch_tokens = 40;
  StreamGuard split(kModel, {}, small);
  const std::vector<StreamJudgement> apart = split.judge(all);
  for (size_t c = 0; c < all.size(); ++c) expect_golden(apart[c], c);
  EXPECT_EQ(split.timing().prefill_tokens, tokens);
}

TEST(StreamGuard, ResponseOffsetsAreBytesOfTheAnswer) {
  StreamGuard guard(kModel, {}, {});
  const auto all = conversations();
  const StreamJudgement got = guard.judge({all[0]})[0];
  const std::string answer = all[0].back().content;
  const TokenSafety& tokens = *got.tokens;
  // The answer's tokens cover its bytes in order; <|im_end|> and "\n" sit at [size, size].
  std::string rebuilt;
  for (const auto& [begin, end] : tokens.offsets) rebuilt += answer.substr(begin, end - begin);
  EXPECT_EQ(rebuilt, answer);
  const auto size = static_cast<int64_t>(answer.size());
  EXPECT_EQ(tokens.offsets.back(), std::make_pair(size, size));
}

TEST(StreamGuard, AGenCheckpointIsRefusedAndSaysWhatItHolds) {
  EXPECT_EQ(load_error([] { StreamGuard guard(kGenGuard, {}, {}); }),
            "guard.kind stream needs a Qwen3Guard-Stream checkpoint (Qwen3ForGuardModel); " +
                kGenGuard +
                " holds Qwen3ForCausalLM (a Qwen3Guard-Gen checkpoint: set guard.kind: gen)");
}

// The same model with a tokenizer whose "</think>" is not one token (its added token removed):
// the spans cannot be found, so the guard refuses to load rather than fail every request.
// (A folder in the build tree, not testing::TempDir: libtorch.so exports its own
// std::filesystem::remove_all, which crashes in this binary.)
TEST(StreamGuard, ATokenizerThatSplitsASpanMarkerIsRefusedWhenTheGuardLoads) {
  const std::string dir = kStreamDir + "-split-marker";
  ::mkdir(dir.c_str(), 0755);
  for (const char* name : {"config.json", "model.safetensors"}) {
    std::ifstream in(kModel + "/" + name, std::ios::binary);
    std::ofstream(dir + "/" + name, std::ios::binary) << in.rdbuf();
  }
  json tokenizer = json::parse(std::ifstream(kModel + "/tokenizer.json"));
  json& added = tokenizer["added_tokens"];
  const size_t before = added.size();
  added.erase(std::remove_if(added.begin(), added.end(),
                             [](const json& t) { return t["content"] == "</think>"; }),
              added.end());
  ASSERT_EQ(added.size(), before - 1);
  std::ofstream(dir + "/tokenizer.json") << tokenizer.dump();
  EXPECT_TRUE(contains_all(load_error([&] { StreamGuard guard(dir, {}, {}); }),
                           {"must encode", "</think>", "as one token"}));
}

TEST(StreamGuard, AGenGuardConfigGivenAStreamCheckpointIsRefusedTheOtherWayRound) {
  const Config config =
      parse_config("guard: {model: " + kModel + "}\nreward: {type: guard_only}\n", "", "x.yaml");
  EXPECT_EQ(load_error([&] { Scorer scorer(config); }),
            "x.yaml: guard.model: guard.kind gen needs a Qwen3Guard-Gen checkpoint "
            "(Qwen3ForCausalLM); " +
                kModel +
                " holds Qwen3ForGuardModel, a Qwen3Guard-Stream checkpoint: set guard.kind: "
                "stream");
}

// The golden responses as samples: messages before the answer, the answer as the response.
std::vector<Sample> golden_samples() {
  std::vector<Sample> samples;
  for (const json& entry : golden()["conversations"]) {
    if (entry["task"] != "response") continue;
    json messages = entry["messages"];
    const std::string answer = messages.back()["content"];
    messages.erase(messages.size() - 1);
    samples.push_back(
        sample_from_json({{"id", samples.size()}, {"messages", messages}, {"response", answer}}));
  }
  return samples;
}

TEST(StreamGuard, ScorerWithKindStreamRewardsTheDebouncedOutcomes) {
  // guard_only: 1 when the outcome is Safe, 0 otherwise (Controversial counts as unsafe under the
  // default strict policy); the thinking is not judged (no trace).
  const Config config = parse_config(
      "guard: {model: " + kModel + ", kind: stream}\nreward: {type: guard_only}\n", "", "x.yaml");
  Scorer scorer(config);
  const std::vector<Sample> samples = golden_samples();
  const std::vector<ScoredSample> scored = scorer.score(samples);
  size_t s = 0;
  for (const json& entry : golden()["conversations"]) {
    if (entry["task"] != "response") continue;
    const ScoredSample& got = scored[s++];
    const bool safe = entry["outcome"] == "Safe";
    ASSERT_TRUE(got.answer.has_value());
    EXPECT_EQ(safety_name(got.answer->safety), entry["outcome"].get<std::string>());
    // refusal_source none: no refusal, said as Refusal: No.
    EXPECT_EQ(got.answer->refusal, std::optional<bool>(false));
    EXPECT_EQ(got.result.reward, safe ? 1.0 : 0.0) << entry["messages"].dump();
    EXPECT_EQ(got.result.reward_case, safe ? "safe" : "unsafe");
    EXPECT_FALSE(got.result.refusal);
  }
  EXPECT_EQ(scorer.timing().guard.decode_steps, 0);
  EXPECT_EQ(scorer.models()["guard"]["architecture"], "Qwen3ForGuardModel");
}

TEST(StreamGuard, ScorerJudgesTheThinkingTraceAsItsOwnResponse) {
  // judge_thinking (the default): the trace is judged as the response of the conversation before
  // it, so its verdict is the Stream guard's of messages + {assistant, trace}.
  const Config config = parse_config(
      "guard: {model: " + kModel + ", kind: stream}\nreward: {type: guard_only}\n", "", "x.yaml");
  Scorer scorer(config);
  json messages = golden()["conversations"][0]["messages"];
  messages.erase(messages.size() - 1);
  const std::string trace = "The user wants bread. Flour, water, yeast.";
  const ScoredSample got = scorer.score(
      {sample_from_json({{"id", 0},
                         {"messages", messages},
                         {"response", "<think>" + trace + "</think>\n\nBake it."}})})[0];
  ASSERT_TRUE(got.thinking_judged && got.thinking);
  std::vector<chat::Message> judged = chat::messages_from_json(messages);
  judged.push_back(
      chat::messages_from_json(json::array({{{"role", "assistant"}, {"content", trace}}}))[0]);
  StreamGuard guard(kModel, {}, {});
  const StreamJudgement expected = guard.judge({judged})[0];
  EXPECT_EQ(got.thinking->safety, expected.verdict.safety);
  expect_probs(got.thinking->safety_probs, json(expected.verdict.safety_probs), "thinking");
  // The answer was judged apart: a different conversation, so other labels.
  ASSERT_TRUE(got.answer);
  EXPECT_NE(got.answer->safety_probs, got.thinking->safety_probs);
}

TEST(StreamGuard, ScorerJudgesThePromptWithTheQueryHeadAndRefusesToolResults) {
  const Config config = parse_config("guard: {model: " + kModel +
                                         ", kind: stream}\nreward: {type: guard_only, "
                                         "judge_prompt: true}\n",
                                     "", "x.yaml");
  Scorer scorer(config);
  // Golden conversation 5 is a prompt alone; as a sample with an answer, its prompt verdict is
  // the query head's at the user turn's <|im_end|>, the same tokens as the prompt alone.
  const json& prompt = golden()["conversations"][5];
  ASSERT_EQ(prompt["task"], "prompt");
  const Sample sample =
      sample_from_json({{"id", 0}, {"messages", prompt["messages"]}, {"response", "No."}});
  const ScoredSample got = scorer.score({sample})[0];
  ASSERT_TRUE(got.prompt && got.prompt->verdict);
  EXPECT_EQ(safety_name(got.prompt->verdict->safety), prompt["query"]["label"].get<std::string>());
  expect_probs(got.prompt->verdict->safety_probs, prompt["query"]["probs"], "prompt");

  json with_tool = {{"id", 1},
                    {"messages", prompt["messages"]},
                    {"response", "Done."},
                    {"judge_tool_results", true}};
  with_tool["messages"].push_back(
      {{"role", "assistant"},
       {"content", ""},
       {"tool_calls",
        {{{"type", "function"}, {"function", {{"name", "f"}, {"arguments", "{}"}}}}}}});
  with_tool["messages"].push_back({{"role", "tool"}, {"content", "result"}});
  const Sample tool = sample_from_json(with_tool);
  EXPECT_TRUE(contains_all(
      [&] {
        try {
          scorer.score({tool});
        } catch (const util::InputError& e) {
          return std::string(e.what());
        }
        return std::string("no error");
      }(),
      {"sample 1: messages[2] (tool_result)", "judge_tool_results needs guard.kind gen"}));
}

}  // namespace
}  // namespace safrl::reward
