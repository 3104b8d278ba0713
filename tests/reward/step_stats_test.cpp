#include "reward/step_stats.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "util/error.h"

namespace safrl::reward {
namespace {

SampleOutcome outcome(StepKey step, bool safe, bool refusal, bool controversial, bool unparseable,
                      std::vector<std::string> categories, std::optional<double> helpfulness,
                      double reward, int64_t tokens) {
  SampleOutcome o;
  o.step = step;
  o.safe = safe;
  o.refusal = refusal;
  o.controversial = controversial;
  o.unparseable = unparseable;
  o.unsafe_categories = std::move(categories);
  o.helpfulness = helpfulness;
  o.reward = reward;
  o.tokens = tokens;
  return o;
}

// Step 7: four samples with hand-computed statistics (see KnownStepSummary).
StepStats known_stats() {
  StepStats stats;
  stats.add(outcome(7, true, false, false, false, {}, 1.0, 1.0, 100));
  stats.add(outcome(7, true, true, false, false, {}, -7.0, -7.0, 50));
  // A category repeated in one sample counts once.
  stats.add(outcome(7, false, false, true, false, {"Violent", "PII", "Violent"}, 3.0, -10.0, 200));
  stats.add(outcome(7, false, false, false, true, {}, std::nullopt, -10.0, 10));
  stats.add(outcome(3, false, false, false, false, {"Jailbreak"}, std::nullopt, 0.0, 5));
  return stats;
}

nlohmann::json categories(double violent, double pii, double jailbreak) {
  return {
      {"Violent", violent},
      {"Non-violent Illegal Acts", 0.0},
      {"Sexual Content or Sexual Acts", 0.0},
      {"PII", pii},
      {"Suicide & Self-Harm", 0.0},
      {"Unethical Acts", 0.0},
      {"Politically Sensitive Topics", 0.0},
      {"Copyright Violation", 0.0},
      {"Jailbreak", jailbreak},
  };
}

TEST(StepStats, KnownStepSummary) {
  StepStats stats = known_stats();
  nlohmann::json expected = {
      {"step", 7},
      {"count", 4},
      {"safety_rate", 0.5},
      {"refusal_rate", 0.25},
      {"controversial_rate", 0.25},
      {"unparseable_rate", 0.25},
      {"unsafe_rate_by_category", categories(0.25, 0.25, 0.0)},
      // H = {1, -7, 3}: mean -1, squared deviations 4 + 36 + 16 = 56 over 3 samples.
      {"helpfulness_mean", -1.0},
      {"helpfulness_std", std::sqrt(56.0 / 3.0)},
      {"helpfulness_min", -7.0},
      {"helpfulness_max", 3.0},
      // r = {1, -7, -10, -10}: mean -6.5, squared deviations 56.25 + 0.25 + 12.25 + 12.25 = 81.
      {"reward_mean", -6.5},
      {"reward_std", 4.5},
      {"reward_min", -10.0},
      {"reward_max", 1.0},
      {"tokens", 360},
      {"seconds", 2.0},
      {"samples_per_s", 2.0},
      // No sample had its prompt, turns or tool results judged: counts 0, rates null.
      {"prompts_judged", 0},
      {"harmful_prompt_rate", nullptr},
      {"over_refusal_rate", nullptr},
      {"under_refusal_rate", nullptr},
      {"refusal_rate_by_prompt", {{"safe", nullptr}, {"harmful", nullptr}}},
      {"unsafe_rate_by_prompt", {{"safe", nullptr}, {"harmful", nullptr}}},
      {"turns_judged", 0},
      {"unsafe_turn_rate", nullptr},
      {"tool_results_judged", 0},
      {"injection_rate", nullptr},
      // No sample carried the monitors' inputs (monitors_test.cpp has a step that does): zero
      // counts, null values; no threshold, no history, no alerts before a StepMonitor.
      {"refusal_rate_change", nullptr},
      {"duplicate_rate", 0.0},
      {"folded_duplicate_rate", 0.0},
      {"answer_tokens_mean", nullptr},
      {"answer_tokens_helpfulness_corr", nullptr},
      {"answer_tokens_reward_corr", nullptr},
      {"verdict_text_rate", 0.0},
      {"safety_mass_mean", nullptr},
      {"safety_mass_min", nullptr},
      {"low_safety_mass_rate", nullptr},
      {"fallback_rate", 0.0},
      {"truncated_thinking_rate", 0.0},
      {"safe_unhelpful_rate", nullptr},
      {"unhelpful_threshold", nullptr},
      {"alerts", nlohmann::json::array()},
      {"cache_hits", {{"guard", 0}, {"helpfulness", 0}, {"prompt", 0}}},
      // What merging needs: counts, and n / mean / m2 (sum of squared deviations) / min / max.
      {"sums",
       {{"safe", 2},
        {"refusal", 1},
        {"controversial", 1},
        {"unparseable", 1},
        {"unsafe_by_category",
         {{"Violent", 1},
          {"Non-violent Illegal Acts", 0},
          {"Sexual Content or Sexual Acts", 0},
          {"PII", 1},
          {"Suicide & Self-Harm", 0},
          {"Unethical Acts", 0},
          {"Politically Sensitive Topics", 0},
          {"Copyright Violation", 0},
          {"Jailbreak", 0}}},
        {"helpfulness", {{"n", 3}, {"mean", -1.0}, {"m2", 56.0}, {"min", -7.0}, {"max", 3.0}}},
        {"reward", {{"n", 4}, {"mean", -6.5}, {"m2", 81.0}, {"min", -10.0}, {"max", 1.0}}},
        {"by_prompt",
         {{"safe", {{"count", 0}, {"refusal", 0}, {"unsafe", 0}}},
          {"harmful", {{"count", 0}, {"refusal", 0}, {"unsafe", 0}}}}},
        {"turns_judged", 0},
        {"unsafe_turns", 0},
        {"tool_results_judged", 0},
        {"injections", 0},
        {"duplicates", 0},
        {"folded_duplicates", 0},
        {"verdict_text", 0},
        {"fallback", 0},
        {"truncated_thinking", 0},
        {"low_safety_mass", 0},
        {"safety_mass", {{"n", 0}, {"mean", 0.0}, {"m2", 0.0}, {"min", 0.0}, {"max", 0.0}}},
        {"answer_tokens_helpfulness",
         {{"n", 0}, {"mean_x", 0.0}, {"mean_y", 0.0}, {"m2x", 0.0}, {"m2y", 0.0}, {"cxy", 0.0}}},
        {"answer_tokens_reward",
         {{"n", 0}, {"mean_x", 0.0}, {"mean_y", 0.0}, {"m2x", 0.0}, {"m2y", 0.0}, {"cxy", 0.0}}},
        {"safe_unhelpful", 0},
        {"safe_unhelpful_judged", 0}}},
  };
  EXPECT_EQ(stats.summary(7, 2.0), expected);
}

// A sample whose prompt was judged (harmful or safe; nullopt: not judged) with `turns` judged
// turns of which `unsafe_turns` unsafe, and `tools` tool results of which `injections` injections.
SampleOutcome judged(std::optional<bool> prompt_harmful, bool refusal, bool unsafe,
                     int64_t turns = 0, int64_t unsafe_turns = 0, int64_t tools = 0,
                     int64_t injections = 0) {
  SampleOutcome o = outcome(9, !unsafe, refusal, false, false, {}, 1.0, 1.0, 10);
  o.unsafe = unsafe;
  o.conversation = {prompt_harmful, turns, unsafe_turns, tools, injections};
  return o;
}

// Step 9: eight samples, five with a safe prompt, two with a harmful one, one not judged.
StepStats conversation_stats() {
  StepStats stats;
  stats.add(judged(false, true, false, 2, 0, 1, 0));  // an over-refusal
  stats.add(judged(false, true, false));              // another
  stats.add(judged(false, false, false, 3, 1));       // helpful, after an unsafe earlier turn
  stats.add(judged(false, false, true, 1, 1));        // an unsafe answer to a safe prompt
  stats.add(judged(false, false, false, 0, 0, 3, 2));
  stats.add(judged(true, true, false, 0, 0, 2, 1));  // a justified refusal
  stats.add(judged(true, false, true));              // an under-refusal
  stats.add(judged(std::nullopt, true, false, 2, 0));
  return stats;
}

TEST(StepStats, OverAndUnderRefusalAreSplitByThePromptsVerdict) {
  const nlohmann::json row = conversation_stats().summary(9, 1.0);
  EXPECT_EQ(row["count"], 8);
  EXPECT_EQ(row["refusal_rate"], 4.0 / 8);
  EXPECT_EQ(row["prompts_judged"], 7);
  EXPECT_EQ(row["harmful_prompt_rate"], 2.0 / 7);
  // Refusals among the 5 safe prompts; unsafe answers among the 2 harmful ones.
  EXPECT_EQ(row["over_refusal_rate"], 2.0 / 5);
  EXPECT_EQ(row["under_refusal_rate"], 1.0 / 2);
  EXPECT_EQ(row["refusal_rate_by_prompt"],
            (nlohmann::json{{"safe", 2.0 / 5}, {"harmful", 1.0 / 2}}));
  EXPECT_EQ(row["unsafe_rate_by_prompt"],
            (nlohmann::json{{"safe", 1.0 / 5}, {"harmful", 1.0 / 2}}));
  EXPECT_EQ(row["turns_judged"], 8);
  EXPECT_EQ(row["unsafe_turn_rate"], 2.0 / 8);
  EXPECT_EQ(row["tool_results_judged"], 6);
  EXPECT_EQ(row["injection_rate"], 3.0 / 6);
  EXPECT_EQ(row["sums"]["by_prompt"],
            (nlohmann::json{{"safe", {{"count", 5}, {"refusal", 2}, {"unsafe", 1}}},
                            {"harmful", {{"count", 2}, {"refusal", 1}, {"unsafe", 1}}}}));
  EXPECT_EQ(row["sums"]["unsafe_turns"], 2);
  EXPECT_EQ(row["sums"]["injections"], 3);
  // Only safe prompts: the harmful side has no data.
  StepStats safe_only;
  safe_only.add(judged(false, true, false));
  const nlohmann::json only = safe_only.summary(9, 1.0);
  EXPECT_EQ(only["over_refusal_rate"], 1.0);
  EXPECT_TRUE(only["under_refusal_rate"].is_null());
  EXPECT_TRUE(only["refusal_rate_by_prompt"]["harmful"].is_null());
  EXPECT_EQ(only["harmful_prompt_rate"], 0.0);
}

TEST(StepStats, ConversationCountsMergeExactly) {
  StepStats whole = conversation_stats();
  StepStats a, b;
  int k = 0;
  for (const SampleOutcome& o :
       {judged(false, true, false, 2, 0, 1, 0), judged(false, true, false),
        judged(false, false, false, 3, 1), judged(false, false, true, 1, 1),
        judged(false, false, false, 0, 0, 3, 2), judged(true, true, false, 0, 0, 2, 1),
        judged(true, false, true), judged(std::nullopt, true, false, 2, 0)}) {
    (k++ % 3 == 0 ? a : b).add(o);
  }
  StepStats merged;
  merged.add_row(a.summary(9, 1.0));
  merged.add_row(b.summary(9, 1.0));
  const nlohmann::json want = whole.summary(9, 1.0), got = merged.summary(9, 1.0);
  for (const char* key :
       {"prompts_judged", "harmful_prompt_rate", "over_refusal_rate", "under_refusal_rate",
        "refusal_rate_by_prompt", "unsafe_rate_by_prompt", "turns_judged", "unsafe_turn_rate",
        "tool_results_judged", "injection_rate"}) {
    EXPECT_EQ(got[key], want[key]) << key;
  }
  EXPECT_EQ(got["sums"], want["sums"]);
}

TEST(StepStats, RowsWrittenBeforeConversationsMergeAsZeroCounts) {
  nlohmann::json old = known_stats().summary(7, 1.0);
  for (const char* key :
       {"by_prompt", "turns_judged", "unsafe_turns", "tool_results_judged", "injections"}) {
    old["sums"].erase(key);
  }
  StepStats merged = conversation_stats();
  merged.add_row(old);  // step 7, its own step
  EXPECT_EQ(merged.summary(7, 1.0), known_stats().summary(7, 1.0));
  old["step"] = 9;
  merged.add_row(old);
  const nlohmann::json row = merged.summary(9, 1.0);
  EXPECT_EQ(row["count"], 12);
  EXPECT_EQ(row["prompts_judged"], 7);
  EXPECT_EQ(row["over_refusal_rate"], 2.0 / 5);
  EXPECT_EQ(row["turns_judged"], 8);
}

TEST(StepStats, ConversationCountsThatAreNotCountsAreRefused) {
  StepStats stats = conversation_stats();
  const nlohmann::json before = stats.summary(9, 1.0);
  auto refused = [&](const SampleOutcome& o) {
    try {
      stats.add(o);
    } catch (const util::InputError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(refused(judged(false, false, false, 1, 2)),
            "step statistics: 2 unsafe turns of 1 judged is not a count of them");
  EXPECT_EQ(refused(judged(false, false, false, 0, 0, -1, -1)),
            "step statistics: -1 injections of -1 judged is not a count of them");
  EXPECT_EQ(stats.summary(9, 1.0), before);

  nlohmann::json row = before;
  row["sums"]["by_prompt"]["harmful"]["unsafe"] = "1";
  StepStats target;
  try {
    target.add_row(row);
    ADD_FAILURE() << "accepted";
  } catch (const util::InputError& e) {
    EXPECT_STREQ(e.what(), "a step row's sums.by_prompt.harmful.unsafe is not a count: \"1\"");
  }
  row["sums"]["by_prompt"].erase("harmful");
  try {
    target.add_row(row);
    ADD_FAILURE() << "accepted";
  } catch (const util::InputError& e) {
    EXPECT_STREQ(e.what(), "a step row's sums.by_prompt has no \"harmful\"");
  }
  EXPECT_TRUE(target.steps().empty());
}

TEST(StepStats, StepWithoutHelpfulnessHasNullHelpfulnessStats) {
  nlohmann::json s = known_stats().summary(3, 0.5);
  EXPECT_EQ(s["count"], 1);
  EXPECT_EQ(s["safety_rate"], 0.0);
  EXPECT_EQ(s["unsafe_rate_by_category"], categories(0.0, 0.0, 1.0));
  EXPECT_TRUE(s["helpfulness_mean"].is_null());
  EXPECT_TRUE(s["helpfulness_std"].is_null());
  EXPECT_TRUE(s["helpfulness_min"].is_null());
  EXPECT_TRUE(s["helpfulness_max"].is_null());
  EXPECT_EQ(s["reward_mean"], 0.0);
  EXPECT_EQ(s["reward_std"], 0.0);
  EXPECT_EQ(s["tokens"], 5);
  EXPECT_EQ(s["samples_per_s"], 2.0);
}

TEST(StepStats, EmptyStepAndZeroSecondsGiveNulls) {
  nlohmann::json s = known_stats().summary(99, 0.0);
  EXPECT_EQ(s["step"], 99);
  EXPECT_EQ(s["count"], 0);
  EXPECT_EQ(s["tokens"], 0);
  EXPECT_EQ(s["seconds"], 0.0);
  for (const char* key : {"safety_rate", "refusal_rate", "controversial_rate", "unparseable_rate",
                          "helpfulness_mean", "reward_mean", "reward_std", "samples_per_s"}) {
    EXPECT_TRUE(s[key].is_null()) << key;
  }
  for (const auto& rate : s["unsafe_rate_by_category"].items()) {
    EXPECT_TRUE(rate.value().is_null()) << rate.key();
  }
  EXPECT_TRUE(known_stats().summary(7, 0.0)["samples_per_s"].is_null());
}

TEST(StepStats, StepsAreSortedAndClearedOneByOne) {
  StepStats stats = known_stats();
  EXPECT_EQ(stats.steps(), (std::vector<StepKey>{3, 7}));
  stats.clear(3);
  EXPECT_EQ(stats.steps(), (std::vector<StepKey>{7}));
  stats.clear(42);
  EXPECT_EQ(stats.steps(), (std::vector<StepKey>{7}));
  EXPECT_EQ(stats.summary(3, 1.0)["count"], 0);
  EXPECT_EQ(stats.summary(7, 1.0)["count"], 4);
}

TEST(StepStats, StdIsNumericallyStableForLargeOffsets) {
  // A one-pass sum-of-squares variance loses every digit here; two passes keep them.
  StepStats stats;
  for (double r : {1e9 + 1, 1e9 + 2, 1e9 + 3, 1e9 + 4}) {
    stats.add(outcome(1, true, false, false, false, {}, r, r, 1));
  }
  nlohmann::json s = stats.summary(1, 1.0);
  EXPECT_EQ(s["reward_mean"], 1e9 + 2.5);
  EXPECT_EQ(s["reward_std"], std::sqrt(1.25));
  EXPECT_EQ(s["helpfulness_std"], std::sqrt(1.25));
}

TEST(StepStats, InvalidOutcomesAreRefusedAndLeaveTheStepUnchanged) {
  StepStats stats = known_stats();
  EXPECT_THROW(
      stats.add(outcome(7, false, false, false, false, {"Violent", "Weapons"}, 1.0, 0.0, 1)),
      util::InputError);
  EXPECT_THROW(stats.add(outcome(7, true, false, false, false, {},
                                 std::numeric_limits<double>::quiet_NaN(), 0.0, 1)),
               util::InputError);
  EXPECT_THROW(stats.add(outcome(7, true, false, false, false, {}, 1.0,
                                 std::numeric_limits<double>::infinity(), 1)),
               util::InputError);
  EXPECT_THROW(stats.add(outcome(8, true, false, false, false, {}, 1.0, 0.0, -1)),
               util::InputError);
  EXPECT_EQ(stats.summary(7, 2.0), known_stats().summary(7, 2.0));
  EXPECT_EQ(stats.steps(), (std::vector<StepKey>{3, 7}));
  EXPECT_THROW(stats.summary(7, -1.0), util::InputError);
  EXPECT_THROW(stats.summary(7, std::numeric_limits<double>::quiet_NaN()), util::InputError);
}

TEST(StepStats, RowsMergeIntoTheStatisticsOfAllTheirSamples) {
  // Twenty samples of step 4 split unevenly over three "replicas", with values far from zero
  // (the merge must not lose digits), and each replica's row merged: equal to one StepStats that
  // saw every sample, to rounding.
  StepStats whole;
  std::vector<StepStats> parts(3);
  for (int k = 0; k < 20; ++k) {
    std::optional<double> helpfulness;
    if (k % 3 != 0) helpfulness = 1e6 + 0.25 * k;
    const SampleOutcome o =
        outcome(4, k % 2 == 0, k % 5 == 0, k % 7 == 0, k == 13,
                k % 4 == 0 ? std::vector<std::string>{"PII"} : std::vector<std::string>{},
                helpfulness, -3.0 + 0.5 * k * k, 10 + k);
    whole.add(o);
    parts[k < 3 ? 0 : k < 15 ? 1 : 2].add(o);
  }
  StepStats merged;
  for (const StepStats& part : parts) merged.add_row(part.summary(4, 1.0));
  const nlohmann::json expected = whole.summary(4, 1.0);
  const nlohmann::json got = merged.summary(4, 1.0);
  for (const auto& [key, value] : expected.items()) {
    if (key == "sums") continue;
    if (value.is_number_float()) {
      EXPECT_NEAR(got[key].get<double>(), value.get<double>(),
                  1e-9 * std::max(1.0, std::abs(value.get<double>())))
          << key;
    } else {
      EXPECT_EQ(got[key], value) << key;
    }
  }
  // A row merged into a step that holds samples of its own: the same.
  StepStats mixed = parts[0];
  mixed.add_row(parts[1].summary(4, 1.0));
  mixed.add_row(parts[2].summary(4, 1.0));
  EXPECT_EQ(mixed.summary(4, 1.0)["count"], 20);
  EXPECT_NEAR(mixed.summary(4, 1.0)["reward_std"].get<double>(),
              expected["reward_std"].get<double>(), 1e-9);
}

TEST(StepStats, SamplesWithoutAStepAreABucketOfTheirOwn) {
  StepStats stats;
  stats.add(outcome(std::nullopt, true, false, false, false, {}, 1.0, 1.0, 1));
  stats.add(outcome(0, false, false, false, false, {}, 1.0, -1.0, 1));
  EXPECT_EQ(stats.steps(), (std::vector<StepKey>{std::nullopt, 0}));
  const nlohmann::json stepless = stats.summary(std::nullopt, 1.0);
  EXPECT_TRUE(stepless["step"].is_null());
  EXPECT_EQ(stepless["count"], 1);
  EXPECT_EQ(stepless["safety_rate"], 1.0);
  EXPECT_EQ(stats.summary(0, 1.0)["safety_rate"], 0.0);
  StepStats merged;
  merged.add_row(stepless);
  EXPECT_EQ(merged.steps(), (std::vector<StepKey>{std::nullopt}));
}

TEST(StepStats, RowsThatCannotMergeAreRefusedNamingWhy) {
  StepStats stats = known_stats();
  nlohmann::json row = stats.summary(7, 1.0);
  auto refusal = [](const nlohmann::json& bad) {
    StepStats target;
    try {
      target.add_row(bad);
    } catch (const util::InputError& e) {
      EXPECT_TRUE(target.steps().empty());  // nothing added
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  nlohmann::json old = row;
  old.erase("sums");
  EXPECT_EQ(refusal(old),
            "the row of step 7 has no \"sums\" (written before safrl 0.2?): rows without them "
            "cannot be merged");
  nlohmann::json negative = row;
  negative["sums"]["safe"] = -1;
  EXPECT_EQ(refusal(negative), "a step row's sums.safe is not a count: -1");
  nlohmann::json uneven = row;
  uneven["sums"]["reward"]["n"] = 3;
  EXPECT_EQ(refusal(uneven), "the row of step 7 counts 4 samples but 3 rewards");
  nlohmann::json text_step = row;
  text_step["step"] = "7";
  EXPECT_EQ(refusal(text_step), "a step row's \"step\" is not an integer or null");
  EXPECT_EQ(refusal(nlohmann::json::array()), "a step row is not a JSON object");
}

TEST(StepStats, CsvColumnsAndRows) {
  const std::string header =
      "step,count,safety_rate,refusal_rate,controversial_rate,unparseable_rate,"
      "unsafe_rate_Violent,unsafe_rate_Non-violent Illegal Acts,"
      "unsafe_rate_Sexual Content or Sexual Acts,unsafe_rate_PII,unsafe_rate_Suicide & Self-Harm,"
      "unsafe_rate_Unethical Acts,unsafe_rate_Politically Sensitive Topics,"
      "unsafe_rate_Copyright Violation,unsafe_rate_Jailbreak,"
      "helpfulness_mean,helpfulness_std,helpfulness_min,helpfulness_max,"
      "reward_mean,reward_std,reward_min,reward_max,tokens,seconds,samples_per_s,"
      // Added last, so the columns above keep their places.
      "prompts_judged,harmful_prompt_rate,over_refusal_rate,under_refusal_rate,"
      "refusal_rate_by_prompt_safe,refusal_rate_by_prompt_harmful,unsafe_rate_by_prompt_safe,"
      "unsafe_rate_by_prompt_harmful,turns_judged,unsafe_turn_rate,tool_results_judged,"
      "injection_rate,"
      // The monitors, after them.
      "refusal_rate_change,duplicate_rate,folded_duplicate_rate,answer_tokens_mean,"
      "answer_tokens_helpfulness_corr,answer_tokens_reward_corr,verdict_text_rate,"
      "safety_mass_mean,safety_mass_min,low_safety_mass_rate,fallback_rate,"
      "truncated_thinking_rate,safe_unhelpful_rate,unhelpful_threshold,alerts";
  EXPECT_EQ(StepStats::csv_header(), header);
  EXPECT_EQ(StepStats::csv_columns().size(), 53u);
  EXPECT_EQ(StepStats::csv_columns()[6], "unsafe_rate_Violent");

  StepStats stats = known_stats();
  EXPECT_EQ(StepStats::csv_row(stats.summary(7, 2.0)),
            "7,4,0.5,0.25,0.25,0.25,0.25,0.0,0.0,0.25,0.0,0.0,0.0,0.0,0.0,"
            "-1.0,4.320493798938574,-7.0,3.0,-6.5,4.5,-10.0,1.0,360,2.0,2.0,0,,,,,,,,0,,0,"
            ",,0.0,0.0,,,,0.0,,,,0.0,0.0,,,");
  // Nulls are empty cells.
  EXPECT_EQ(StepStats::csv_row(stats.summary(3, 0.0)),
            "3,1,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,1.0,,,,,0.0,0.0,0.0,0.0,5,0.0,"
            ",0,,,,,,,,0,,0,,,0.0,0.0,,,,0.0,,,,0.0,0.0,,,");
  // Step 9's conversation columns: 7 prompts judged, 2/7 harmful, over 2/5, under 1/2, ...
  const std::string conversation = StepStats::csv_row(conversation_stats().summary(9, 1.0));
  EXPECT_EQ(conversation.substr(conversation.find(",7,")),
            ",7,0.2857142857142857,0.4,0.5,0.4,0.5,0.2,0.5,8,0.25,6,0.5"
            ",,0.0,0.0,,,,0.0,,,,0.0,0.0,,,");
  // The alerts cell: the names separated by single spaces.
  nlohmann::json alerted = stats.summary(7, 2.0);
  alerted["alerts"] = {"refusal_collapse", "verdict_text"};
  const std::string alerted_row = StepStats::csv_row(alerted);
  EXPECT_EQ(alerted_row.substr(alerted_row.rfind(',')), ",refusal_collapse verdict_text");

  nlohmann::json incomplete = stats.summary(7, 2.0);
  incomplete.erase("reward_std");
  EXPECT_THROW(StepStats::csv_row(incomplete), util::InputError);
  incomplete = stats.summary(7, 2.0);
  incomplete["unsafe_rate_by_prompt"].erase("harmful");
  try {
    StepStats::csv_row(incomplete);
    ADD_FAILURE() << "accepted";
  } catch (const util::InputError& e) {
    EXPECT_STREQ(e.what(), "csv_row: the summary has no field \"/unsafe_rate_by_prompt/harmful\"");
  }
}

// make_outcome() derives the per-sample flags from the verdicts the reward saw.
Verdict verdict(Safety safety, std::vector<std::string> categories, bool refusal = false) {
  Verdict v;
  v.safety = safety;
  v.categories = std::move(categories);
  v.refusal = refusal;
  return v;
}

TEST(MakeOutcome, FlagsAndCategoriesFollowTheSettings) {
  RewardSettings strict;
  const Verdict answer = verdict(Safety::kControversial, {"PII"});
  const Verdict thinking = verdict(Safety::kUnsafe, {"Violent", "PII"});
  RewardResult result = compute_reward(strict, answer, thinking, 2.0);
  SampleOutcome o = make_outcome(5, strict, answer, thinking, result, 2.0, 300);
  EXPECT_EQ(o.step, 5);
  EXPECT_FALSE(o.safe);
  EXPECT_FALSE(o.refusal);
  EXPECT_TRUE(o.controversial);
  EXPECT_FALSE(o.unparseable);
  EXPECT_EQ(o.unsafe_categories, (std::vector<std::string>{"PII", "Violent"}));
  EXPECT_EQ(o.helpfulness, 2.0);
  EXPECT_EQ(o.reward, -10.0);
  EXPECT_EQ(o.tokens, 300);

  // Loose: the Controversial answer no longer counts as unsafe, so only the thinking's
  // categories are unsafe ones; it is still counted as controversial.
  RewardSettings loose = strict;
  loose.controversial = ControversialPolicy::kLoose;
  o = make_outcome(5, loose, answer, thinking, compute_reward(loose, answer, thinking, 2.0), 2.0,
                   1);
  EXPECT_TRUE(o.controversial);
  EXPECT_EQ(o.unsafe_categories, (std::vector<std::string>{"Violent", "PII"}));

  // Unjudged thinking contributes nothing.
  RewardSettings unjudged = loose;
  unjudged.judge_thinking = false;
  o = make_outcome(5, unjudged, answer, thinking, compute_reward(unjudged, answer, thinking, 2.0),
                   2.0, 1);
  EXPECT_TRUE(o.safe);
  EXPECT_TRUE(o.controversial);
  EXPECT_TRUE(o.unsafe_categories.empty());
  const Verdict controversial_thinking = verdict(Safety::kControversial, {"Violent"});
  const Verdict safe_answer = verdict(Safety::kSafe, {}, true);
  o = make_outcome(5, unjudged, safe_answer, controversial_thinking,
                   compute_reward(unjudged, safe_answer, controversial_thinking, 2.0), 2.0, 1);
  EXPECT_FALSE(o.controversial);
  EXPECT_TRUE(o.refusal);
  EXPECT_EQ(o.reward, -5.0);
}

// `unsafe` is what the guard judged unsafe: not an unparseable output, nor an unjudged trace.
TEST(MakeOutcome, UnsafeMeansJudgedUnsafe) {
  RewardSettings s;
  const Verdict unsafe = verdict(Safety::kUnsafe, {"Violent"});
  const Verdict refusal = verdict(Safety::kSafe, {}, true);
  auto made = [&](const RewardSettings& settings, const RewardResult& result) {
    return make_outcome(1, settings, std::nullopt, std::nullopt, result, 1.0, 1).unsafe;
  };
  EXPECT_TRUE(made(s, compute_reward(s, unsafe, std::nullopt, 1.0)));
  EXPECT_FALSE(made(s, compute_reward(s, refusal, std::nullopt, 1.0)));
  EXPECT_FALSE(made(s, unparseable_result(s, 1.0)));
  EXPECT_FALSE(made(s, truncated_result(s, std::nullopt, 1.0)));
  EXPECT_TRUE(made(s, truncated_result(s, unsafe, 1.0)));
  EXPECT_TRUE(made(s, compute_reward(s, refusal, std::nullopt, 1.0, RewardContext{true, {}})));
  RewardSettings h_only;
  h_only.type = RewardType::kHelpfulnessOnly;
  EXPECT_TRUE(made(h_only, compute_reward(h_only, unsafe, std::nullopt, 1.0)));
  EXPECT_FALSE(made(h_only, unparseable_result(h_only, 1.0)));
  RewardSettings aware;
  aware.refusal_penalty = RefusalPenalty::kPromptAware;
  Verdict harmful;
  harmful.safety = Safety::kUnsafe;
  EXPECT_FALSE(made(
      aware, compute_reward(aware, refusal, std::nullopt, 1.0, RewardContext{false, harmful})));
  // The conversation's counts are passed through.
  const ConversationOutcome conversation{true, 3, 1, 2, 1};
  const SampleOutcome o =
      make_outcome(1, s, refusal, std::nullopt, compute_reward(s, refusal, std::nullopt, 1.0), 1.0,
                   1, conversation);
  EXPECT_EQ(o.conversation.prompt_harmful, true);
  EXPECT_EQ(o.conversation.turns_judged, 3);
  EXPECT_EQ(o.conversation.unsafe_turns, 1);
  EXPECT_EQ(o.conversation.tool_results_judged, 2);
  EXPECT_EQ(o.conversation.injections, 1);
}

TEST(MakeOutcome, UnparseableSample) {
  RewardSettings s;
  SampleOutcome o =
      make_outcome(2, s, std::nullopt, std::nullopt, unparseable_result(s, 3.5), 3.5, 40);
  EXPECT_TRUE(o.unparseable);
  EXPECT_FALSE(o.safe);
  EXPECT_FALSE(o.refusal);
  EXPECT_FALSE(o.controversial);
  EXPECT_TRUE(o.unsafe_categories.empty());
  EXPECT_EQ(o.reward, -10.0);
  StepStats stats;
  stats.add(o);
  nlohmann::json summary = stats.summary(2, 1.0);
  EXPECT_EQ(summary["unparseable_rate"], 1.0);
  EXPECT_EQ(summary["safety_rate"], 0.0);
}

// on_injection: unsafe pays the unsafe reward (case "injection") whatever the guard said; the
// statistics keep what the guard said.
TEST(MakeOutcome, AnInjectionPenaltyKeepsWhatTheGuardSaid) {
  RewardSettings s;
  RewardResult injection;
  injection.reward = -10.0;
  injection.reward_case = kCaseInjection;
  const Verdict refusal = verdict(Safety::kSafe, {}, true);
  SampleOutcome o = make_outcome(1, s, refusal, std::nullopt, injection, 1.0, 1);
  EXPECT_FALSE(o.safe);  // not rewarded as safe
  EXPECT_TRUE(o.refusal);
  EXPECT_FALSE(o.unsafe);
  EXPECT_FALSE(o.unparseable);
  EXPECT_EQ(o.reward, -10.0);
  o = make_outcome(1, s, std::nullopt, std::nullopt, injection, 1.0, 1);
  EXPECT_TRUE(o.unparseable);
  EXPECT_FALSE(o.unsafe);
  const Verdict unsafe = verdict(Safety::kUnsafe, {"Violent"});
  o = make_outcome(1, s, verdict(Safety::kSafe, {}), unsafe, injection, 1.0, 1);
  EXPECT_TRUE(o.unsafe);  // the judged thinking
  EXPECT_EQ(o.unsafe_categories, (std::vector<std::string>{"Violent"}));
  RewardSettings unjudged;
  unjudged.judge_thinking = false;
  EXPECT_FALSE(
      make_outcome(1, unjudged, verdict(Safety::kSafe, {}), unsafe, injection, 1.0, 1).unsafe);
}

// The judgement cache's hits of a step: sums that merge exactly, zero for rows from before them.
TEST(StepStats, CacheHitsAddAndMergeExactly) {
  StepStats first, second, whole;
  for (int k = 0; k < 5; ++k) {
    SampleOutcome o = make_outcome(2, RewardSettings{}, verdict(Safety::kSafe, {}), std::nullopt,
                                   RewardResult{}, 1.0, 10);
    // k = 0..4: guard hits 0 1 0 1 0, helpfulness k % 3 = 0 1 2 0 1, prompt 1 each.
    o.cache_hits = {k % 2, k % 3, 1};
    whole.add(o);
    (k < 2 ? first : second).add(o);
  }
  // Sums: guard 2, helpfulness 4, prompt 5.
  const nlohmann::json expected = {{"guard", 2}, {"helpfulness", 4}, {"prompt", 5}};
  EXPECT_EQ(whole.summary(2, 1.0)["cache_hits"], expected);
  StepStats merged;
  merged.add_row(first.summary(2, 1.0));
  merged.add_row(second.summary(2, 1.0));
  EXPECT_EQ(merged.summary(2, 1.0)["cache_hits"], expected);
  nlohmann::json old = first.summary(2, 1.0);
  old.erase("cache_hits");
  StepStats from_old;
  from_old.add_row(old);
  EXPECT_EQ(from_old.summary(2, 1.0)["cache_hits"],
            (nlohmann::json{{"guard", 0}, {"helpfulness", 0}, {"prompt", 0}}));
  nlohmann::json bad = first.summary(2, 1.0);
  bad["cache_hits"]["guard"] = -1;
  EXPECT_THROW(from_old.add_row(bad), util::InputError);
  SampleOutcome negative;
  negative.cache_hits.prompt = -1;
  EXPECT_THROW(whole.add(negative), util::InputError);
}

}  // namespace
}  // namespace safrl::reward
