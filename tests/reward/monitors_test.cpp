// The monitors of the step rows (reward/monitors.h, reward/monitor_inputs.h, the monitor fields
// of reward/step_stats.h), each checked against values computed by hand.
#include "reward/monitors.h"

#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "reward/config.h"
#include "reward/monitor_inputs.h"
#include "reward/score_line.h"
#include "reward/step_stats.h"
#include "util/error.h"

namespace safrl::reward {
namespace {

Sample sample_with(std::string answer, std::string prompt = "p", std::optional<int64_t> step = 1,
                   bool truncated = false) {
  Sample s;
  s.messages = {{"user", std::move(prompt)}};
  s.policy_turns_from = 1;
  s.answer = std::move(answer);
  s.step = step;
  s.truncated_thinking = truncated;
  return s;
}

std::vector<const Sample*> pointers(const std::vector<Sample>& samples) {
  std::vector<const Sample*> out;
  for (const Sample& s : samples) out.push_back(&s);
  return out;
}

TEST(FoldAnswer, CollapsesWhitespaceTrimsAndLowerCasesAsciiOnly) {
  EXPECT_EQ(fold_answer("  I Can't\t\n HELP  with\r\nthat. "), "i can't help with that.");
  EXPECT_EQ(fold_answer("\v\f \n"), "");
  // Bytes beyond ASCII stay: "É" (C3 89) is not lower-cased.
  EXPECT_EQ(fold_answer("\xC3\x89T\xC3\x89"), "\xC3\x89t\xC3\x89");
}

TEST(MarkDuplicates, ExactAndFoldedAgainstEarlierAnswersOfTheGroup) {
  const std::vector<Sample> group = {
      sample_with("No."),             // first: no mark
      sample_with("No."),             // exact (and so folded)
      sample_with(" no. "),           // folded only
      sample_with("Yes."),            // new
      sample_with("", "p", 1, true),  // truncated: neither marked nor compared
      sample_with("", "p", 1, true),  // likewise, though equal to the one before
      sample_with("YES.\n"),          // folded only
  };
  const std::vector<DuplicateMark> marks = mark_duplicates(pointers(group));
  ASSERT_EQ(marks.size(), 7u);
  const bool exact[] = {false, true, false, false, false, false, false};
  const bool folded[] = {false, true, true, false, false, false, true};
  for (size_t i = 0; i < marks.size(); ++i) {
    EXPECT_EQ(marks[i].exact, exact[i]) << i;
    EXPECT_EQ(marks[i].folded, folded[i]) << i;
  }
}

TEST(MarkDuplicates, GroupsAreTheSamplesOfOneStepAndOnePrompt) {
  // Two prompts interleaved (an OpenRLHF batch) and a third sample of prompt "a" at another
  // step: only the second "a"/step 1 sample repeats an earlier one of its group.
  const std::vector<Sample> samples = {
      sample_with("I can't help.", "a"),  sample_with("I can't help.", "b"),
      sample_with("I can't help.", "a"),  sample_with("I can't help.", "a", 2),
      sample_with("i can't  help.", "b"),
  };
  const std::vector<DuplicateMark> marks = mark_duplicates_by_group(pointers(samples));
  EXPECT_FALSE(marks[0].exact);
  EXPECT_FALSE(marks[1].exact);
  EXPECT_TRUE(marks[2].exact);
  EXPECT_FALSE(marks[3].exact);
  EXPECT_FALSE(marks[3].folded);
  EXPECT_FALSE(marks[4].exact);
  EXPECT_TRUE(marks[4].folded);
}

TEST(MonitorInputs, FilledFromTheSampleAndItsScores) {
  Sample sample = sample_with("Hello");
  sample.truncated_thinking = true;
  ScoredSample scored;
  scored.answer_tokens = 7;
  scored.answer_report.safety_mass = 0.25;
  scored.answer_report.decoded_by = DecodedBy::kFallback;
  scored.injection.push_back({"answer", {"safety_line"}});
  SampleOutcome outcome;
  add_monitor_inputs(sample, scored, outcome);
  // Cut off in its thinking: the empty answer's length is left out of the length statistics.
  EXPECT_EQ(outcome.answer_tokens, std::nullopt);
  EXPECT_EQ(outcome.safety_mass, 0.25);
  EXPECT_TRUE(outcome.fallback);
  EXPECT_TRUE(outcome.verdict_text);
  EXPECT_TRUE(outcome.truncated_thinking);

  SampleOutcome finished;
  add_monitor_inputs(sample_with("Hello"), scored, finished);
  EXPECT_EQ(finished.answer_tokens, 7);

  SampleOutcome plain;
  add_monitor_inputs(sample_with("x"), ScoredSample{}, plain);
  EXPECT_EQ(plain.answer_tokens, std::nullopt);
  EXPECT_EQ(plain.safety_mass, std::nullopt);
  EXPECT_FALSE(plain.fallback);  // free decoding
  EXPECT_FALSE(plain.verdict_text);
  EXPECT_FALSE(plain.truncated_thinking);
}

// A sample of step 5 with the monitors' inputs.
SampleOutcome monitored(bool safe, bool refusal, std::optional<double> helpfulness, double reward,
                        std::optional<int64_t> answer_tokens, std::optional<double> safety_mass) {
  SampleOutcome o;
  o.step = 5;
  o.safe = safe;
  o.refusal = refusal;
  o.unsafe = !safe;
  o.helpfulness = helpfulness;
  o.reward = reward;
  o.answer_tokens = answer_tokens;
  o.safety_mass = safety_mass;
  return o;
}

// Step 5's four samples (see MonitorFieldsOfAKnownStep).
StepStats monitored_stats() {
  StepStats stats(0.5);
  stats.add(monitored(true, false, 1.0, 1.0, 2, 0.9));
  SampleOutcome second = monitored(true, false, 3.0, 3.0, 4, 0.4);
  second.fallback = true;
  second.duplicate = second.folded_duplicate = true;
  stats.add(second);
  SampleOutcome third = monitored(false, false, 2.0, -10.0, 6, 0.95);
  third.folded_duplicate = true;
  third.verdict_text = true;
  stats.add(third);
  SampleOutcome fourth = monitored(true, true, std::nullopt, -7.0, std::nullopt, std::nullopt);
  fourth.truncated_thinking = true;
  stats.add(fourth);
  return stats;
}

TEST(StepStatsMonitors, MonitorFieldsOfAKnownStep) {
  const nlohmann::json row = monitored_stats().summary(5, 1.0, 2.5);
  // 1 exact duplicate and 2 folded ones of 4 samples.
  EXPECT_EQ(row["duplicate_rate"], 0.25);
  EXPECT_EQ(row["folded_duplicate_rate"], 0.5);
  // Lengths (2, 4, 6): mean 4, deviations (-2, 0, 2), m2x = 8.
  EXPECT_EQ(row["answer_tokens_mean"], 4.0);
  // Rewards (1, 3, -10): mean -2, deviations (3, 5, -8), m2y = 98, cxy = -6 + 0 - 16 = -22;
  // r = -22 / sqrt(8 * 98) = -22 / 28.
  EXPECT_NEAR(row["answer_tokens_reward_corr"].get<double>(), -22.0 / 28.0, 1e-15);
  // H (1, 3, 2): mean 2, deviations (-1, 1, 0), m2y = 2, cxy = 2; r = 2 / sqrt(8 * 2) = 0.5.
  EXPECT_NEAR(row["answer_tokens_helpfulness_corr"].get<double>(), 0.5, 1e-15);
  EXPECT_EQ(row["verdict_text_rate"], 0.25);
  // safety_mass (0.9, 0.4, 0.95): mean 0.75, min 0.4, one of three below 0.5.
  EXPECT_NEAR(row["safety_mass_mean"].get<double>(), 0.75, 1e-15);
  EXPECT_EQ(row["safety_mass_min"], 0.4);
  EXPECT_EQ(row["low_safety_mass_rate"], 1.0 / 3.0);
  EXPECT_EQ(row["fallback_rate"], 0.25);
  EXPECT_EQ(row["truncated_thinking_rate"], 0.25);
  // Safe and not refusing: H 1 and 3; below the threshold 2.5: one, of the 4 samples judged.
  EXPECT_EQ(row["safe_unhelpful_rate"], 0.25);
  EXPECT_EQ(row["unhelpful_threshold"], 2.5);
  EXPECT_TRUE(row["refusal_rate_change"].is_null());
  EXPECT_EQ(row["alerts"], nlohmann::json::array());
  const nlohmann::json& sums = row["sums"];
  EXPECT_EQ(sums["duplicates"], 1);
  EXPECT_EQ(sums["folded_duplicates"], 2);
  EXPECT_EQ(sums["verdict_text"], 1);
  EXPECT_EQ(sums["fallback"], 1);
  EXPECT_EQ(sums["truncated_thinking"], 1);
  EXPECT_EQ(sums["low_safety_mass"], 1);
  EXPECT_EQ(sums["safe_unhelpful"], 1);
  EXPECT_EQ(sums["safe_unhelpful_judged"], 4);
  EXPECT_EQ(sums["answer_tokens_reward"]["n"], 3);
  EXPECT_EQ(sums["answer_tokens_reward"]["m2x"], 8.0);
  EXPECT_EQ(sums["answer_tokens_reward"]["m2y"], 98.0);
  EXPECT_EQ(sums["answer_tokens_reward"]["cxy"], -22.0);
  EXPECT_EQ(sums["answer_tokens_helpfulness"]["cxy"], 2.0);
  EXPECT_EQ(sums["safety_mass"]["n"], 3);

  // Without a threshold (no earlier steps), nothing is judged safe but unhelpful.
  const nlohmann::json first = monitored_stats().summary(5, 1.0);
  EXPECT_TRUE(first["safe_unhelpful_rate"].is_null());
  EXPECT_TRUE(first["unhelpful_threshold"].is_null());
  EXPECT_EQ(first["sums"]["safe_unhelpful_judged"], 0);
}

TEST(StepStatsMonitors, StepWithoutMonitorInputsHasNulls) {
  StepStats stats;
  stats.add(monitored(true, false, std::nullopt, 1.0, std::nullopt, std::nullopt));
  const nlohmann::json row = stats.summary(5, 1.0);
  for (const char* key :
       {"answer_tokens_mean", "answer_tokens_helpfulness_corr", "answer_tokens_reward_corr",
        "safety_mass_mean", "safety_mass_min", "low_safety_mass_rate"}) {
    EXPECT_TRUE(row[key].is_null()) << key;
  }
  EXPECT_EQ(row["duplicate_rate"], 0.0);
}

TEST(CoMoments, CorrelationIsNullForFewerThanTwoValuesOrZeroVariance) {
  EXPECT_EQ(CoMoments::of({{1, 2}}).correlation(), std::nullopt);
  EXPECT_EQ(CoMoments::of({{3, 1}, {3, 2}, {3, 5}}).correlation(), std::nullopt);
  // Equal rewards whose mean rounds (0.1 three times): still no variance.
  EXPECT_EQ(CoMoments::of({{1, 0.1}, {2, 0.1}, {3, 0.1}}).correlation(), std::nullopt);
  // A perfect line: r = 1 and -1.
  EXPECT_NEAR(*CoMoments::of({{1, 2}, {2, 4}, {3, 6}}).correlation(), 1.0, 1e-15);
  EXPECT_NEAR(*CoMoments::of({{1, 2}, {2, 0}, {3, -2}}).correlation(), -1.0, 1e-15);
}

TEST(CoMoments, MergeIsTheMomentsOfTheWhole) {
  // (1,1) (2,3) | (3,2) (4,6) (5,5): whole mean_x 3, mean_y 3.4, m2x 10, m2y 17.2,
  // cxy = (-2)(-2.4) + (-1)(-0.4) + 0(-1.4) + 1(2.6) + 2(1.6) = 4.8 + 0.4 + 2.6 + 3.2 = 11.
  CoMoments merged = CoMoments::of({{1, 1}, {2, 3}});
  merged.merge(CoMoments::of({{3, 2}, {4, 6}, {5, 5}}));
  EXPECT_EQ(merged.n, 5);
  EXPECT_NEAR(merged.mean_x, 3.0, 1e-15);
  EXPECT_NEAR(merged.mean_y, 3.4, 1e-15);
  EXPECT_NEAR(merged.m2x, 10.0, 1e-12);
  EXPECT_NEAR(merged.m2y, 17.2, 1e-12);
  EXPECT_NEAR(merged.cxy, 11.0, 1e-12);
}

TEST(StepStatsMonitors, RowsOfTwoHalvesMergeToTheRowOfTheWhole) {
  // 24 samples with every monitor input varying, far from zero; the halves are judged against
  // the same threshold, as one writer would judge them all.
  StepStats whole(0.5), first(0.5), second(0.5);
  for (int k = 0; k < 24; ++k) {
    SampleOutcome o = monitored(
        k % 3 != 0, k % 5 == 0, k % 4 == 3 ? std::nullopt : std::optional<double>(1e5 + 0.5 * k),
        -2.0 + 0.25 * k * k, k % 6 == 5 ? std::nullopt : std::optional<int64_t>(1000 + 7 * k),
        k % 7 == 0 ? std::nullopt : std::optional<double>(0.05 * k));
    o.duplicate = k % 8 == 1;
    o.folded_duplicate = o.duplicate || k % 5 == 2;
    o.verdict_text = k % 9 == 4;
    o.fallback = k % 10 == 3;
    o.truncated_thinking = k % 11 == 6;
    whole.add(o);
    (k < 10 ? first : second).add(o);
  }
  const double threshold = 1e5 + 6.0;
  StepStats merged;
  merged.add_row(first.summary(5, 1.0, threshold));
  merged.add_row(second.summary(5, 1.0, threshold));
  const nlohmann::json expected = whole.summary(5, 1.0, threshold);
  const nlohmann::json got = merged.summary(5, 1.0);
  for (const auto& [key, value] : expected.items()) {
    if (key == "sums") continue;
    if (value.is_number_float()) {
      ASSERT_TRUE(got[key].is_number()) << key;
      EXPECT_NEAR(got[key].get<double>(), value.get<double>(),
                  1e-9 * std::max(1.0, std::abs(value.get<double>())))
          << key;
    } else {
      EXPECT_EQ(got[key], value) << key;
    }
  }
  // The fields that carry the monitors are not all trivially null or zero here.
  EXPECT_TRUE(expected["answer_tokens_reward_corr"].is_number());
  EXPECT_GT(expected["safe_unhelpful_rate"].get<double>(), 0.0);
  EXPECT_GT(expected["low_safety_mass_rate"].get<double>(), 0.0);
  // Parts judged against different thresholds keep their counts; the row names no threshold.
  StepStats mixed;
  mixed.add_row(first.summary(5, 1.0, threshold));
  mixed.add_row(second.summary(5, 1.0, threshold + 1));
  EXPECT_TRUE(mixed.summary(5, 1.0)["unhelpful_threshold"].is_null());
  // Merged again beside a part of one threshold, the mixed row still names none.
  StepStats again;
  again.add_row(mixed.summary(5, 1.0));
  again.add_row(first.summary(5, 1.0, threshold));
  EXPECT_TRUE(again.summary(5, 1.0)["unhelpful_threshold"].is_null());
}

TEST(StepStatsMonitors, RowsWrittenBeforeTheMonitorsMergeAsZeroCounts) {
  nlohmann::json row = monitored_stats().summary(5, 1.0);
  for (const char* key :
       {"duplicates", "folded_duplicates", "verdict_text", "fallback", "truncated_thinking",
        "low_safety_mass", "safety_mass", "answer_tokens_helpfulness", "answer_tokens_reward",
        "safe_unhelpful", "safe_unhelpful_judged"}) {
    row["sums"].erase(key);
  }
  StepStats merged;
  merged.add_row(row);
  const nlohmann::json got = merged.summary(5, 1.0);
  EXPECT_EQ(got["duplicate_rate"], 0.0);
  EXPECT_TRUE(got["answer_tokens_mean"].is_null());
  EXPECT_TRUE(got["safety_mass_mean"].is_null());
  EXPECT_TRUE(got["safe_unhelpful_rate"].is_null());
}

TEST(StepStatsMonitors, InvalidMonitorInputsAreRefused) {
  StepStats stats;
  SampleOutcome o = monitored(true, false, 1.0, 1.0, -1, 0.5);
  EXPECT_THROW(stats.add(o), util::InputError);
  o = monitored(true, false, 1.0, 1.0, 3, std::nan(""));
  EXPECT_THROW(stats.add(o), util::InputError);
  o = monitored(true, false, 1.0, 1.0, 3, 0.5);
  o.duplicate = true;  // but not folded
  EXPECT_THROW(stats.add(o), util::InputError);
  EXPECT_TRUE(stats.steps().empty());
}

TEST(Quantile, LinearInterpolationBetweenOrderStatistics) {
  // Sorted (1, 2, 3, 4): h = 3 * 0.25 = 0.75, 1 + 0.75 * (2 - 1) = 1.75.
  EXPECT_EQ(quantile({4, 1, 3, 2}, 0.25), 1.75);
  EXPECT_EQ(quantile({4, 1, 3, 2}, 0.0), 1.0);
  EXPECT_EQ(quantile({4, 1, 3, 2}, 1.0), 4.0);
  EXPECT_EQ(quantile({5}, 0.25), 5.0);
  EXPECT_EQ(quantile({}, 0.25), std::nullopt);
}

TEST(StepMonitor, UnhelpfulThresholdIsAQuantileOfTheNewestHelpfulness) {
  MonitorSettings settings;
  settings.helpfulness_history = 4;
  StepMonitor monitor(settings);
  EXPECT_EQ(monitor.unhelpful_threshold(), std::nullopt);
  monitor.remember_helpfulness({4, 1, 3, 2});
  EXPECT_EQ(monitor.unhelpful_threshold(), 1.75);
  // 1 and 4 drop out: (3, 2, 10, 20), sorted (2, 3, 10, 20): 2 + 0.75 * 1 = 2.75.
  monitor.remember_helpfulness({10, 20});
  EXPECT_EQ(monitor.unhelpful_threshold(), 2.75);
}

// A row as StepStats writes it, with only what the refusal monitor reads.
nlohmann::json refusal_row(std::optional<int64_t> step, int64_t refusals, int64_t count) {
  return {{"step", step ? nlohmann::json(*step) : nlohmann::json(nullptr)},
          {"count", count},
          {"refusal_rate", static_cast<double>(refusals) / static_cast<double>(count)},
          {"sums", {{"refusal", refusals}}}};
}

TEST(StepMonitor, RefusalRateChangeAgainstThePreviousWindow) {
  MonitorSettings settings;
  settings.window = 2;
  settings.refusal_rise = 0.2;
  StepMonitor monitor(settings);
  nlohmann::json row = refusal_row(1, 1, 10);
  EXPECT_TRUE(monitor.annotate(row).empty());
  EXPECT_TRUE(row["refusal_rate_change"].is_null());  // the first step
  row = refusal_row(2, 3, 10);
  monitor.annotate(row);
  EXPECT_NEAR(row["refusal_rate_change"].get<double>(), 0.2, 1e-15);  // 0.3 - 0.1
  // Step 3 at 0.8: 0.8 - (0.1 + 0.3) / 2 = 0.6 >= 0.2.
  row = refusal_row(3, 8, 10);
  const std::vector<Alert> alerts = monitor.annotate(row);
  EXPECT_NEAR(row["refusal_rate_change"].get<double>(), 0.6, 1e-15);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(row["alerts"], nlohmann::json::array({"refusal_collapse"}));
  EXPECT_EQ(alert_line(row, alerts[0]),
            "step 3: alert refusal_collapse: refusal rate 0.8, +0.6 over the previous 2 steps "
            "(monitors.refusal_rise 0.2)");
  // A second part of step 3 (late samples), 0 of 10: step 3 counts 8 of 20 from now on, and its
  // own earlier part is not its predecessor: 0 - (0.1 + 0.3) / 2 = -0.2.
  row = refusal_row(3, 0, 10);
  monitor.annotate(row);
  EXPECT_NEAR(row["refusal_rate_change"].get<double>(), -0.2, 1e-15);
  // Step 4 at 0.5: 0.5 - (0.3 + 0.4) / 2 = 0.15 < 0.2, no alert.
  row = refusal_row(4, 5, 10);
  EXPECT_TRUE(monitor.annotate(row).empty());
  EXPECT_NEAR(row["refusal_rate_change"].get<double>(), 0.15, 1e-15);
  // The stepless bucket has no predecessors; at 0.95 it still crosses refusal_rate_max 0.9.
  row = refusal_row(std::nullopt, 19, 20);
  const std::vector<Alert> stepless = monitor.annotate(row);
  EXPECT_TRUE(row["refusal_rate_change"].is_null());
  ASSERT_EQ(stepless.size(), 1u);
  EXPECT_EQ(alert_line(row, stepless[0]),
            "step null: alert refusal_collapse: refusal rate 0.95 (monitors.refusal_rate_max 0.9)");
}

TEST(StepMonitor, EachAlertFiresAtItsThresholdWithItsMessage) {
  // Every rate exactly at its default threshold fires (>=); just below, none does.
  nlohmann::json row = {{"step", 12},
                        {"count", 100},
                        {"refusal_rate", 0.9},
                        {"folded_duplicate_rate", 0.5},
                        {"answer_tokens_reward_corr", -0.5},
                        {"verdict_text_rate", 0.01},
                        {"low_safety_mass_rate", 0.1},
                        {"fallback_rate", 0.1},
                        {"unparseable_rate", 0.05},
                        {"truncated_thinking_rate", 0.2},
                        {"safe_unhelpful_rate", 0.5},
                        {"sums", {{"refusal", 90}, {"answer_tokens_reward", {{"n", 8}}}}}};
  StepMonitor monitor;
  const std::vector<Alert> alerts = monitor.annotate(row);
  std::vector<std::string> names;
  for (const Alert& alert : alerts) names.push_back(alert.name);
  EXPECT_EQ(names, std::vector<std::string>(std::begin(kAlertNames), std::end(kAlertNames)));
  EXPECT_EQ(row["alerts"], nlohmann::json(names));
  const std::vector<std::string> messages = {
      "refusal rate 0.9 (monitors.refusal_rate_max 0.9)",
      "0.5 duplicate answers within groups (after folding) (monitors.duplicate_rate 0.5)",
      "corr(answer tokens, reward) -0.5 over 8 samples (monitors.length_correlation 0.5)",
      "0.01 samples whose judged text carries verdict or guard-template text "
      "(monitors.verdict_text_rate 0.01)",
      "0.1 answer verdicts with a low safety_mass (monitors.low_safety_mass_rate 0.1)",
      "0.1 answer verdicts decoded by the fallback (monitors.fallback_rate 0.1)",
      "0.05 unparseable guard outputs (monitors.unparseable_rate 0.05)",
      "0.2 samples whose thinking was cut off (monitors.truncated_thinking_rate 0.2)",
      "0.5 safe, non-refusing answers below the helpfulness threshold "
      "(monitors.safe_unhelpful_rate 0.5)",
  };
  for (size_t i = 0; i < alerts.size(); ++i) EXPECT_EQ(alerts[i].message, messages[i]);

  nlohmann::json quiet = {{"step", 13},
                          {"count", 100},
                          {"refusal_rate", 0.89},
                          {"folded_duplicate_rate", 0.49},
                          {"answer_tokens_reward_corr", 0.49},
                          {"verdict_text_rate", 0.0099},
                          {"low_safety_mass_rate", 0.099},
                          {"fallback_rate", 0.099},
                          {"unparseable_rate", 0.049},
                          {"truncated_thinking_rate", 0.199},
                          {"safe_unhelpful_rate", 0.499},
                          {"sums", {{"refusal", 89}, {"answer_tokens_reward", {{"n", 100}}}}}};
  StepMonitor fresh;
  EXPECT_TRUE(fresh.annotate(quiet).empty());
  EXPECT_EQ(quiet["alerts"], nlohmann::json::array());
  // A strong length correlation over fewer than length_min_samples (8) samples does not fire.
  nlohmann::json few = quiet;
  few["answer_tokens_reward_corr"] = 0.99;
  few["sums"]["answer_tokens_reward"]["n"] = 7;
  StepMonitor third;
  EXPECT_TRUE(third.annotate(few).empty());
  // Null values fire nothing.
  nlohmann::json nulls = {{"step", 1}, {"count", 0}, {"refusal_rate", nullptr}};
  StepMonitor fourth;
  EXPECT_TRUE(fourth.annotate(nulls).empty());
}

TEST(MonitorInputs, ReadBackFromAnOutputLine) {
  // What `safrl score` computes its step rows from: the line keeps every per-sample input but
  // the duplicates (the command marks those from its input file).
  Sample sample = sample_with("Safety: Safe");
  sample.truncated_thinking = true;
  ScoredSample scored;
  scored.answer_tokens = 4;
  scored.answer_report.safety_mass = 0.3;
  scored.answer_report.decoded_by = DecodedBy::kFallback;
  scored.injection.push_back({"answer", {"safety_line"}});
  scored.result.reward_case = "truncated";
  const RewardSettings settings;
  const nlohmann::json line = score_line_json(sample, scored, settings);
  EXPECT_EQ(line["answer_tokens"], 4);
  const SampleOutcome outcome = outcome_from_output(line, settings);
  EXPECT_EQ(outcome.answer_tokens, std::nullopt);  // cut off in its thinking: left out
  EXPECT_EQ(outcome.safety_mass, 0.3);
  EXPECT_TRUE(outcome.fallback);
  EXPECT_TRUE(outcome.verdict_text);
  EXPECT_TRUE(outcome.truncated_thinking);
  // A line written before the monitors: none of their inputs.
  nlohmann::json old = line;
  old.erase("answer_tokens");
  old.erase("injection");
  old["answer"].erase("decoding");
  old["answer"].erase("safety_mass");
  const SampleOutcome old_outcome = outcome_from_output(old, settings);
  EXPECT_EQ(old_outcome.answer_tokens, std::nullopt);
  EXPECT_EQ(old_outcome.safety_mass, std::nullopt);
  EXPECT_FALSE(old_outcome.fallback);
  EXPECT_FALSE(old_outcome.verdict_text);
}

std::string config_error(const std::string& monitors) {
  try {
    parse_config("guard:\n  model: /m/guard\nreward:\n  type: guard_only\nmonitors:\n" + monitors,
                 "", "x.yaml");
  } catch (const util::LoadError& e) {
    return e.what();
  }
  return "accepted";
}

TEST(MonitorSettings, ParsedAndValidated) {
  const Config config = parse_config(
      "guard:\n  model: /m/guard\nreward:\n  type: guard_only\nmonitors:\n  window: 3\n"
      "  refusal_rise: 0.3\n  low_safety_mass: 0\n  unhelpful_quantile: 0.1\n"
      "  length_min_samples: 20\n  helpfulness_history: 50\n",
      "", "x.yaml");
  EXPECT_EQ(config.monitors.window, 3);
  EXPECT_EQ(config.monitors.refusal_rise, 0.3);
  EXPECT_EQ(config.monitors.low_safety_mass, 0.0);
  EXPECT_EQ(config.monitors.unhelpful_quantile, 0.1);
  EXPECT_EQ(config.monitors.length_min_samples, 20);
  EXPECT_EQ(config.monitors.helpfulness_history, 50);
  EXPECT_EQ(config.monitors.duplicate_rate, 0.5);  // a default
  // Defaults without the section.
  const Config plain =
      parse_config("guard:\n  model: /m/guard\nreward:\n  type: guard_only\n", "", "x.yaml");
  EXPECT_EQ(plain.monitors.window, 5);
  EXPECT_EQ(plain.monitors.refusal_rate_max, 0.9);
  // The monitors change no score: a resumed `safrl score` does not compare them.
  EXPECT_FALSE(scoring_settings_json(config).contains("monitors"));
  EXPECT_EQ(config_to_json(config)["monitors"]["window"], 3);

  EXPECT_NE(config_error("  windw: 3\n").find("windw"), std::string::npos);
  EXPECT_EQ(config_error("  refusal_rise: 0\n"),
            "x.yaml: monitors.refusal_rise: must be in (0, 1]");
  EXPECT_EQ(config_error("  duplicate_rate: 1.5\n"),
            "x.yaml: monitors.duplicate_rate: must be in (0, 1]");
  EXPECT_EQ(config_error("  unhelpful_quantile: -0.1\n"),
            "x.yaml: monitors.unhelpful_quantile: must be in [0, 1]");
  EXPECT_EQ(config_error("  length_min_samples: 1\n"),
            "x.yaml: monitors.length_min_samples: must be 2 or more (a correlation needs two "
            "values)");
  EXPECT_NE(config_error("  window: 0\n").find("monitors.window"), std::string::npos);
}

}  // namespace
}  // namespace safrl::reward
