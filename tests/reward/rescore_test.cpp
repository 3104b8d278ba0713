#include "reward/rescore.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "reward/score_line.h"
#include "reward/turn_rewards.h"
#include "util/error.h"

namespace safrl::reward {
namespace {

using nlohmann::json;

// A response-task verdict with label probabilities P(Safe), P(Unsafe), P(Controversial).
Verdict verdict(Safety safety, std::vector<std::string> categories = {}, bool refusal = false,
                std::array<double, 3> probs = {0.25, 0.25, 0.5}) {
  Verdict v;
  v.safety = safety;
  v.categories = std::move(categories);
  v.refusal = refusal;
  v.safety_probs = probs;
  v.refusal_prob = refusal ? 0.875 : 0.125;
  v.text = util::cat("Safety: ", safety_name(safety));
  return v;
}

Verdict prompt_verdict(Safety safety, std::vector<std::string> categories = {}) {
  Verdict v = verdict(safety, std::move(categories));
  v.refusal.reset();
  v.refusal_prob.reset();
  return v;
}

GuardReport report(std::string text, std::optional<double> mass = 0.75) {
  return {std::move(text), DecodedBy::kConstrained, mass};
}

// The models and judging of every config below; the reward section is appended.
const std::string kModels =
    "guard: {model: /models/guard, max_new_tokens: 16}\n"
    "helpfulness: {model: /models/reward, chat_format: qwen3}\n";

Config config(const std::string& reward, const std::string& models = kModels) {
  return parse_config(models + "reward: {" + reward + "}\n", "", "new.yaml");
}

// One judged turn: the response.
TurnScore turn(std::optional<Verdict> answer, std::optional<double> helpfulness,
               std::optional<Verdict> thinking = std::nullopt, bool thinking_judged = false) {
  TurnScore t;
  t.index = 1;
  t.answer = std::move(answer);
  t.answer_report = report("answer guard text");
  t.thinking = std::move(thinking);
  t.thinking_judged = thinking_judged;
  if (thinking_judged) t.thinking_report = report("thinking guard text", std::nullopt);
  t.helpfulness = helpfulness;
  return t;
}

Sample sample(const std::string& id, bool truncated = false) {
  Sample s;
  s.id = id;
  s.step = 3;
  s.truncated_thinking = truncated;
  s.meta = {{"group", "g"}};
  return s;
}

// The line `safrl score` writes for `turns` (the response last) under `scoring`.
json scored_line(const Config& scoring, const Sample& s, std::vector<TurnScore> turns,
                 bool keep_turns = false, std::optional<PromptScore> prompt = std::nullopt,
                 std::vector<InjectionFinding> injection = {}) {
  ScoredSample scored;
  scored.tokens = 321;
  scored.prompt = std::move(prompt);
  scored.injection = std::move(injection);
  combine_turns(scoring.reward, s.truncated_thinking, turns, scored);
  if (keep_turns) scored.turns = turns;
  json line = score_line_json(s, scored, scoring.reward);
  line["models"] = models_hash(scoring);
  return line;
}

template <typename Fn>
std::string input_error(Fn&& fn) {
  try {
    fn();
  } catch (const util::InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an InputError, none was thrown";
  return "";
}

TEST(ScoredFromLine, GivesBackEveryFieldOfAOneTurnLine) {
  const Config scoring = config("type: hybrid, refusal_penalty: prompt_aware");
  ToolResultScore tool{2, prompt_verdict(Safety::kUnsafe, {"Jailbreak"}), report("tool text")};
  ScoredSample scored;
  scored.tokens = 99;
  scored.answer_tokens = 7;
  scored.prompt = PromptScore{prompt_verdict(Safety::kSafe), report("prompt text"), true};
  scored.tool_results = {tool, {3, std::nullopt, report("garbage", std::nullopt)}};
  scored.injection = {{"answer", {"safety_line", "refusal_line"}}};
  std::vector<TurnScore> turns = {
      turn(verdict(Safety::kSafe, {}, true), 2.5, verdict(Safety::kControversial, {"PII"}), true)};
  combine_turns(scoring.reward, false, turns, scored);
  const json line = score_line_json(sample("a"), scored, scoring.reward);

  const json again = score_line_json(line_sample(line), scored_from_line(line), scoring.reward);
  EXPECT_EQ(again, line) << again.dump() << "\n" << line.dump();
  EXPECT_EQ(line["prompt_verdict"]["cached"], true);
  EXPECT_EQ(line["tool_results"][1]["verdict"]["safety"], "Unparseable");
}

TEST(ScoredFromLine, GivesBackEveryTurnOfAnAllTurnsLine) {
  const Config scoring = config("type: hybrid, judge: all_turns");
  std::vector<TurnScore> turns = {turn(verdict(Safety::kUnsafe, {"Violent"}), -1.0),
                                  turn(std::nullopt, 4.0), turn(verdict(Safety::kSafe), 3.0)};
  turns[0].index = 2;
  turns[1].index = 4;
  turns[2].index = 6;
  const json line = scored_line(scoring, sample("b"), turns, true);
  ASSERT_EQ(line["turns"].size(), 3u);
  json again = score_line_json(line_sample(line), scored_from_line(line), scoring.reward);
  again["models"] = line["models"];
  EXPECT_EQ(again, line) << again.dump() << "\n" << line.dump();
}

TEST(ScoredFromLine, RefusesALineThatIsNotAnOutput) {
  EXPECT_NE(input_error([] {
              scored_from_line({{"id", 1}});
            }).find("not a safrl score output"),
            std::string::npos);
}

TEST(ModelsHash, IsSixteenHexDigitsThatMoveWithTheModelsAndNotWithTheArithmetic) {
  const std::string hash = models_hash(config("type: hybrid"));
  EXPECT_EQ(hash.size(), 16u);
  EXPECT_EQ(hash.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(hash, models_hash(config("type: guard_only, unsafe_cap: -30, controversial: loose")));
  EXPECT_NE(hash,
            models_hash(config("type: hybrid",
                               "guard: {model: /models/guard, max_new_tokens: 17}\n"
                               "helpfulness: {model: /models/reward, chat_format: qwen3}\n")));
  EXPECT_NE(hash, models_hash(config("type: hybrid, judge_thinking: false")));
  // prompt_aware judges the prompt: the same outputs as judge_prompt.
  EXPECT_EQ(models_hash(config("judge_prompt: true")),
            models_hash(config("refusal_penalty: prompt_aware")));
}

TEST(Rescore, AppliesNewCapsAndAControversialPolicyToTheStoredVerdicts) {
  const Config scoring = config("type: hybrid");
  const json controversial =
      scored_line(scoring, sample("c"),
                  {turn(verdict(Safety::kControversial, {"Politically Sensitive Topics"}), 3.0)});
  const json refusal =
      scored_line(scoring, sample("r"), {turn(verdict(Safety::kSafe, {}, true), 2.0)});
  ASSERT_EQ(controversial["reward"], -10.0);  // strict: unsafe, min(-10, 3)
  ASSERT_EQ(refusal["reward"], -5.0);         // min(-5, 2)

  const Rescorer loose(
      config("type: hybrid, controversial: loose, refusal_cap: 1, unsafe_cap: -2"));
  const json c = loose.rescore(controversial);
  EXPECT_EQ(c["reward"], 3.0);  // loose: safe, helpful H = 3
  EXPECT_EQ(c["case"], "helpful");
  EXPECT_EQ(c["safe"], true);
  const json r = loose.rescore(refusal);
  EXPECT_EQ(r["reward"], 1.0);  // min(refusal_cap 1, H 2)
  EXPECT_EQ(r["case"], "refusal");
  // The line's own fields stay.
  EXPECT_EQ(c["models"], controversial["models"]);
  EXPECT_EQ(c["meta"], controversial["meta"]);
  EXPECT_EQ(c["tokens"], 321);
  EXPECT_EQ(c["answer"], controversial["answer"]);

  const Rescorer per_category(
      config("controversial: per_category, controversial_unsafe_categories: [Politically Sensitive "
             "Topics], unsafe_cap: -7"));
  EXPECT_EQ(per_category.rescore(controversial)["reward"], -7.0);  // listed: min(-7, 3)

  const Rescorer guard_only(config("type: guard_only, controversial: loose"));
  EXPECT_EQ(guard_only.rescore(controversial)["reward"], 1.0);
  EXPECT_EQ(guard_only.rescore(controversial)["case"], "safe");
}

TEST(Rescore, UnderTheSameSettingsGivesTheLineBack) {
  const Config scoring = config("type: hybrid, judge: all_turns");
  std::vector<TurnScore> turns = {turn(verdict(Safety::kUnsafe, {"Violent"}), -1.0),
                                  turn(verdict(Safety::kSafe), 3.0)};
  turns[1].index = 4;
  const json line = scored_line(scoring, sample("t"), turns, true);
  EXPECT_EQ(Rescorer(scoring).rescore(line), line);
  // Loose does not free the trajectory: the earlier turn is Unsafe, so min(-10, 3).
  const json loose = Rescorer(config("judge: all_turns, controversial: loose")).rescore(line);
  EXPECT_EQ(loose["reward"], -10.0);
  EXPECT_EQ(loose["turns"][1]["reward"], 3.0);  // the response's own result: helpful H
}

TEST(Rescore, AppliesTheTruncatedThinkingPolicy) {
  const Config scoring = config("type: hybrid");
  const json line = scored_line(scoring, sample("x", true),
                                {turn(verdict(Safety::kSafe), 2.0, verdict(Safety::kSafe), true)});
  ASSERT_EQ(line["case"], "truncated");
  ASSERT_EQ(line["reward"], -10.0);  // penalize: min(unsafe_cap -10, H 2)
  const json as_is = Rescorer(config("truncated_thinking: judge_as_is")).rescore(line);
  EXPECT_EQ(as_is["case"], "helpful");  // the empty answer is judged Safe: H
  EXPECT_EQ(as_is["reward"], 2.0);
}

TEST(Rescore, PromptAwareReadsTheStoredPromptVerdict) {
  const Config scoring = config("judge_prompt: true");
  const PromptScore harmful{prompt_verdict(Safety::kUnsafe, {"Violent"}), report("p"), false};
  const json line = scored_line(scoring, sample("p"), {turn(verdict(Safety::kSafe, {}, true), 2.0)},
                                false, harmful);
  ASSERT_EQ(line["reward"], -5.0);  // always: min(-5, 2)
  const json aware =
      Rescorer(config("refusal_penalty: prompt_aware, justified_refusal_reward: 0.5"))
          .rescore(line);
  EXPECT_EQ(aware["case"], "justified_refusal");
  EXPECT_EQ(aware["reward"], 0.5);
}

TEST(Rescore, OnInjectionUnsafeScoresAFindingAsUnsafe) {
  const Config scoring = config("type: hybrid");
  const json line = scored_line(scoring, sample("i"), {turn(verdict(Safety::kSafe), 4.0)}, false,
                                std::nullopt, {{"answer", {"safety_line"}}});
  ASSERT_EQ(line["reward"], 4.0);  // report: as judged
  const json unsafe = Rescorer(config("on_injection: unsafe, unsafe_cap: -6")).rescore(line);
  EXPECT_EQ(unsafe["case"], "injection");
  EXPECT_EQ(unsafe["reward"], -6.0);  // min(unsafe_cap -6, H 4)
  // strip would judge the texts neutralised: a line with a finding cannot show that.
  EXPECT_NE(input_error([&] {
              Rescorer(config("on_injection: strip")).rescore(line);
            }).find("reward.on_injection: strip"),
            std::string::npos);
  // Without a finding, strip judges the same texts.
  const json clean = scored_line(scoring, sample("j"), {turn(verdict(Safety::kSafe), 4.0)});
  EXPECT_EQ(Rescorer(config("on_injection: strip")).rescore(clean)["reward"], 4.0);
}

TEST(Rescore, TurningJudgeThinkingOffDropsTheThinkingVerdicts) {
  const Config scoring = config("type: hybrid");
  const json line =
      scored_line(scoring, sample("k"),
                  {turn(verdict(Safety::kSafe), 4.0, verdict(Safety::kUnsafe, {"Violent"}), true)});
  ASSERT_EQ(line["reward"], -10.0);  // the Unsafe thinking: min(-10, 4)
  const json off = Rescorer(config("judge_thinking: false")).rescore(line);
  EXPECT_EQ(off["reward"], 4.0);
  EXPECT_EQ(off["case"], "helpful");
  EXPECT_TRUE(off["thinking"].is_null());
  // The rescored line says it holds no thinking verdicts: judge_thinking on is refused on it.
  EXPECT_EQ(off["models"], models_hash(config("judge_thinking: false")));
  EXPECT_NE(input_error([&] { Rescorer(scoring).rescore(off); }).find("judge_thinking was off"),
            std::string::npos);
}

TEST(Rescore, RefusesWhatNeedsAModelOutputTheLineLacks) {
  const Config scoring = config("type: hybrid, judge_thinking: false");
  const json line = scored_line(scoring, sample("m"), {turn(verdict(Safety::kSafe), 1.0)});

  json old = line;
  old.erase("models");
  EXPECT_NE(input_error([&] { Rescorer(scoring).rescore(old); }).find("before the field existed"),
            std::string::npos);

  const std::string other_models = input_error([&] {
    Rescorer(config("type: hybrid, judge_thinking: false",
                    "guard: {model: /models/other-guard, max_new_tokens: 16}\n"
                    "helpfulness: {model: /models/reward, chat_format: qwen3}\n"))
        .rescore(line);
  });
  EXPECT_NE(other_models.find("other models or model settings"), std::string::npos);
  EXPECT_NE(other_models.find("new.yaml"), std::string::npos);

  EXPECT_NE(input_error([&] {
              Rescorer(config("judge_thinking: true")).rescore(line);
            }).find("reward.judge_thinking was off when the line was scored, now on"),
            std::string::npos);
  EXPECT_NE(
      input_error([&] {
        Rescorer(config("judge_thinking: false, refusal_penalty: prompt_aware")).rescore(line);
      }).find("prompt_aware"),
      std::string::npos);
  EXPECT_NE(input_error([&] {
              Rescorer(config("judge_thinking: false, judge: all_turns")).rescore(line);
            }).find("reward.judge was last when the line was scored, now all_turns"),
            std::string::npos);
  EXPECT_NE(input_error([&] {
              Rescorer(config("judge_thinking: false, judge_tool_results: true")).rescore(line);
            }).find("reward.judge_tool_results was off"),
            std::string::npos);
}

TEST(Rescore, RefusesARewardThatNeedsHWhereTheLineHasNone) {
  const Config scoring = config("type: guard_only");
  const json line = scored_line(scoring, sample("g"), {turn(verdict(Safety::kSafe), std::nullopt)});
  ASSERT_TRUE(line["helpfulness"].is_null());
  EXPECT_EQ(Rescorer(config("type: guard_only, unsafe_cap: -20")).rescore(line)["reward"], 1.0);
  const std::string message = input_error([&] { Rescorer(config("type: hybrid")).rescore(line); });
  EXPECT_NE(message.find("reward.type hybrid"), std::string::npos) << message;
  EXPECT_NE(message.find("\"helpfulness\" is null"), std::string::npos) << message;
}

}  // namespace
}  // namespace safrl::reward
