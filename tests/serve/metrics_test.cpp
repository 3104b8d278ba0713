// The /metrics exposition: histogram buckets, sum and count counted by hand, the Prometheus
// number spelling, and the server's latency histogram, scoring rate and step gauges in
// Metrics::prometheus(), and those histograms through the front's merge of several engines
// (tests/serve/e2e/test_http.py reads a real server's with Prometheus's parser).
#include "serve/metrics.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>
#include <sstream>

#include "serve/front_metrics.h"

namespace safrl::serve {
namespace {

std::string exposition(const Histogram& histogram) {
  std::ostringstream out;
  histogram.write_prometheus(out, "test_seconds", "Test.");
  return out.str();
}

TEST(Histogram, CountsEachObservationInTheFirstBucketAtOrAboveItCumulatively) {
  Histogram histogram({0.125, 1, 10});
  // Powers of two and integers, so the sum is exact: 0.0625 + 0.125 + 0.5 + 2 + 10 + 20 = 32.6875.
  for (double value : {0.0625, 0.125, 0.5, 2.0, 10.0, 20.0}) histogram.observe(value);
  // le="0.125": 0.0625 and 0.125 (a value on a bound counts in it) = 2; le="1": + 0.5 = 3;
  // le="10": + 2 and 10 = 5; +Inf: + 20 = 6, the count.
  EXPECT_EQ(exposition(histogram),
            "# HELP test_seconds Test.\n"
            "# TYPE test_seconds histogram\n"
            "test_seconds_bucket{le=\"0.125\"} 2\n"
            "test_seconds_bucket{le=\"1\"} 3\n"
            "test_seconds_bucket{le=\"10\"} 5\n"
            "test_seconds_bucket{le=\"+Inf\"} 6\n"
            "test_seconds_sum 32.6875\n"
            "test_seconds_count 6\n");
  const Histogram::Snapshot snapshot = histogram.snapshot();
  EXPECT_EQ(snapshot.cumulative, (std::vector<int64_t>{2, 3, 5, 6}));
  EXPECT_EQ(snapshot.sum, 32.6875);
  EXPECT_EQ(snapshot.count, 6);
}

TEST(Histogram, AnEmptyOneHasEveryBucketAtZero) {
  EXPECT_EQ(exposition(Histogram({0.5})),
            "# HELP test_seconds Test.\n"
            "# TYPE test_seconds histogram\n"
            "test_seconds_bucket{le=\"0.5\"} 0\n"
            "test_seconds_bucket{le=\"+Inf\"} 0\n"
            "test_seconds_sum 0\n"
            "test_seconds_count 0\n");
}

TEST(Histogram, ValuesPastTheLastBoundCountOnlyInInf) {
  Histogram histogram({1});
  histogram.observe(1.5);
  histogram.observe(std::numeric_limits<double>::infinity());
  const Histogram::Snapshot snapshot = histogram.snapshot();
  EXPECT_EQ(snapshot.cumulative, (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(snapshot.count, 2);
}

TEST(PrometheusNumber, SpellsTheShortestExactDecimalAndTheTextFormatsInfinities) {
  EXPECT_EQ(prometheus_number(0.005), "0.005");
  EXPECT_EQ(prometheus_number(300), "300");
  EXPECT_EQ(prometheus_number(-0.5), "-0.5");
  // 0.1 + 0.2 is not 0.3 in binary: the digits that read back to the same double, no fewer.
  EXPECT_EQ(prometheus_number(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(prometheus_number(1e-7), "1e-07");
  EXPECT_EQ(prometheus_number(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(prometheus_number(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(prometheus_number(std::nan("")), "NaN");
}

// The lines of `text` that start with `prefix`, in order.
std::vector<std::string> lines_starting(const std::string& text, const std::string& prefix) {
  std::vector<std::string> found;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(prefix, 0) == 0) found.push_back(line);
  }
  return found;
}

TEST(Metrics, ExportsRequestLatencyAsAHistogramOverTheDocumentedBuckets) {
  Metrics metrics;
  // 2^-8 s (under 5 ms), 0.25 s (on a bound), 45 s and 400 s (past the last bound, 300 s):
  // sum 0.00390625 + 0.25 + 45 + 400 = 445.25390625, exact in binary.
  for (double seconds : {0.00390625, 0.25, 45.0, 400.0}) metrics.observe_latency(seconds);
  const std::string text = metrics.prometheus();
  EXPECT_EQ(lines_starting(text, "# TYPE safrl_request_latency_seconds"),
            std::vector<std::string>{"# TYPE safrl_request_latency_seconds histogram"});
  EXPECT_EQ(lines_starting(text, "safrl_request_latency_seconds"),
            (std::vector<std::string>{
                "safrl_request_latency_seconds_bucket{le=\"0.005\"} 1",
                "safrl_request_latency_seconds_bucket{le=\"0.01\"} 1",
                "safrl_request_latency_seconds_bucket{le=\"0.025\"} 1",
                "safrl_request_latency_seconds_bucket{le=\"0.05\"} 1",
                "safrl_request_latency_seconds_bucket{le=\"0.1\"} 1",
                "safrl_request_latency_seconds_bucket{le=\"0.25\"} 2",
                "safrl_request_latency_seconds_bucket{le=\"0.5\"} 2",
                "safrl_request_latency_seconds_bucket{le=\"1\"} 2",
                "safrl_request_latency_seconds_bucket{le=\"2.5\"} 2",
                "safrl_request_latency_seconds_bucket{le=\"5\"} 2",
                "safrl_request_latency_seconds_bucket{le=\"10\"} 2",
                "safrl_request_latency_seconds_bucket{le=\"30\"} 2",
                "safrl_request_latency_seconds_bucket{le=\"60\"} 3",
                "safrl_request_latency_seconds_bucket{le=\"120\"} 3",
                "safrl_request_latency_seconds_bucket{le=\"300\"} 3",
                "safrl_request_latency_seconds_bucket{le=\"+Inf\"} 4",
                "safrl_request_latency_seconds_sum 445.25390625",
                "safrl_request_latency_seconds_count 4",
            }));
}

TEST(Metrics, ExportsScoringPassDurationsOverTheLatencyBuckets) {
  Metrics metrics;
  // 2^-6 s (0.015625: above 0.01, at most 0.025), 2 s and 2^-1 s (on the bound 0.5):
  // sum 0.015625 + 2 + 0.5 = 2.515625, exact in binary.
  for (double seconds : {0.015625, 2.0, 0.5}) metrics.observe_scoring_pass(seconds);
  const std::string text = metrics.prometheus();
  EXPECT_EQ(lines_starting(text, "# TYPE safrl_scoring_pass_seconds"),
            std::vector<std::string>{"# TYPE safrl_scoring_pass_seconds histogram"});
  EXPECT_EQ(lines_starting(text, "safrl_scoring_pass_seconds"),
            (std::vector<std::string>{
                "safrl_scoring_pass_seconds_bucket{le=\"0.005\"} 0",
                "safrl_scoring_pass_seconds_bucket{le=\"0.01\"} 0",
                "safrl_scoring_pass_seconds_bucket{le=\"0.025\"} 1",
                "safrl_scoring_pass_seconds_bucket{le=\"0.05\"} 1",
                "safrl_scoring_pass_seconds_bucket{le=\"0.1\"} 1",
                "safrl_scoring_pass_seconds_bucket{le=\"0.25\"} 1",
                "safrl_scoring_pass_seconds_bucket{le=\"0.5\"} 2",
                "safrl_scoring_pass_seconds_bucket{le=\"1\"} 2",
                "safrl_scoring_pass_seconds_bucket{le=\"2.5\"} 3",
                "safrl_scoring_pass_seconds_bucket{le=\"5\"} 3",
                "safrl_scoring_pass_seconds_bucket{le=\"10\"} 3",
                "safrl_scoring_pass_seconds_bucket{le=\"30\"} 3",
                "safrl_scoring_pass_seconds_bucket{le=\"60\"} 3",
                "safrl_scoring_pass_seconds_bucket{le=\"120\"} 3",
                "safrl_scoring_pass_seconds_bucket{le=\"300\"} 3",
                "safrl_scoring_pass_seconds_bucket{le=\"+Inf\"} 3",
                "safrl_scoring_pass_seconds_sum 2.515625",
                "safrl_scoring_pass_seconds_count 3",
            }));
}

TEST(Metrics, ExportsSamplesPerRequestOverPowersOfTwoTo4096) {
  Metrics metrics;
  // 1 (on the first bound), 3 (le 4), 8 (on a bound), 8, 100 (le 128) and 5000 (past 4096):
  // sum 1 + 3 + 8 + 8 + 100 + 5000 = 5120.
  for (int64_t samples : {1, 3, 8, 8, 100, 5000}) metrics.observe_request_samples(samples);
  const std::string text = metrics.prometheus();
  EXPECT_EQ(lines_starting(text, "# TYPE safrl_request_samples"),
            std::vector<std::string>{"# TYPE safrl_request_samples histogram"});
  EXPECT_EQ(lines_starting(text, "safrl_request_samples"),
            (std::vector<std::string>{
                "safrl_request_samples_bucket{le=\"1\"} 1",
                "safrl_request_samples_bucket{le=\"2\"} 1",
                "safrl_request_samples_bucket{le=\"4\"} 2",
                "safrl_request_samples_bucket{le=\"8\"} 4",
                "safrl_request_samples_bucket{le=\"16\"} 4",
                "safrl_request_samples_bucket{le=\"32\"} 4",
                "safrl_request_samples_bucket{le=\"64\"} 4",
                "safrl_request_samples_bucket{le=\"128\"} 5",
                "safrl_request_samples_bucket{le=\"256\"} 5",
                "safrl_request_samples_bucket{le=\"512\"} 5",
                "safrl_request_samples_bucket{le=\"1024\"} 5",
                "safrl_request_samples_bucket{le=\"2048\"} 5",
                "safrl_request_samples_bucket{le=\"4096\"} 5",
                "safrl_request_samples_bucket{le=\"+Inf\"} 6",
                "safrl_request_samples_sum 5120",
                "safrl_request_samples_count 6",
            }));
}

TEST(Metrics, TheFrontKeepsTheServersSampleAndPassHistogramsLabelledByEngineUnderOneType) {
  Metrics first, second;
  // Engine 0: requests of 1 and 8 samples and one 0.25 s pass; engine 1: one request of 3
  // samples and one 0.5 s pass.
  first.observe_request_samples(1);
  first.observe_request_samples(8);
  first.observe_scoring_pass(0.25);
  second.observe_request_samples(3);
  second.observe_scoring_pass(0.5);
  const std::string merged = merge_engine_metrics({first.prometheus(), second.prometheus()});
  for (const char* family : {"safrl_request_samples", "safrl_scoring_pass_seconds"}) {
    EXPECT_EQ(lines_starting(merged, std::string("# TYPE ") + family + " "),
              std::vector<std::string>{std::string("# TYPE ") + family + " histogram"});
  }
  // sum by (le) over the engines: le="4" holds 1 (engine 0's 1) + 1 (engine 1's 3) = 2; +Inf
  // all 3 requests; the sums 1 + 8 = 9 and 3.
  EXPECT_EQ(lines_starting(merged, "safrl_request_samples_bucket{engine=\"0\",le=\"4\"}"),
            std::vector<std::string>{"safrl_request_samples_bucket{engine=\"0\",le=\"4\"} 1"});
  EXPECT_EQ(lines_starting(merged, "safrl_request_samples_bucket{engine=\"1\",le=\"4\"}"),
            std::vector<std::string>{"safrl_request_samples_bucket{engine=\"1\",le=\"4\"} 1"});
  EXPECT_EQ(lines_starting(merged, "safrl_request_samples_sum"),
            (std::vector<std::string>{"safrl_request_samples_sum{engine=\"0\"} 9",
                                      "safrl_request_samples_sum{engine=\"1\"} 3"}));
  EXPECT_EQ(lines_starting(merged, "safrl_scoring_pass_seconds_count"),
            (std::vector<std::string>{"safrl_scoring_pass_seconds_count{engine=\"0\"} 1",
                                      "safrl_scoring_pass_seconds_count{engine=\"1\"} 1"}));
  // 0.25 s is on the bound 0.25; 0.5 s is above it.
  EXPECT_EQ(
      lines_starting(merged, "safrl_scoring_pass_seconds_bucket{engine=\"1\",le=\"0.25\"}"),
      std::vector<std::string>{"safrl_scoring_pass_seconds_bucket{engine=\"1\",le=\"0.25\"} 0"});
}

TEST(Metrics, ExportsTheScoringRateAndTheQueueAsGauges) {
  Metrics metrics;
  metrics.scoring_rate = 12.5;
  metrics.queued_samples = 7;
  const std::string text = metrics.prometheus();
  EXPECT_EQ(lines_starting(text, "# TYPE safrl_scoring_rate"),
            std::vector<std::string>{"# TYPE safrl_scoring_rate gauge"});
  EXPECT_EQ(lines_starting(text, "safrl_scoring_rate"),
            std::vector<std::string>{"safrl_scoring_rate 12.5"});
  EXPECT_EQ(lines_starting(text, "safrl_queue_samples"),
            std::vector<std::string>{"safrl_queue_samples 7"});
}

TEST(Metrics, ExportsTheLatestStepRowsRatesAndLeavesNullSamplesOut) {
  Metrics metrics;
  metrics.record_step_monitors({{"safety_rate", 0.75},
                                {"over_refusal_rate", 0.125},
                                {"reward_mean", -0.5},
                                {"under_refusal_rate", nullptr},
                                {"alerts", {"refusal_collapse"}}});
  const std::string text = metrics.prometheus();
  EXPECT_EQ(lines_starting(text, "safrl_step_safety_rate"),
            std::vector<std::string>{"safrl_step_safety_rate 0.75"});
  EXPECT_EQ(lines_starting(text, "safrl_step_over_refusal_rate"),
            std::vector<std::string>{"safrl_step_over_refusal_rate 0.125"});
  EXPECT_EQ(lines_starting(text, "safrl_step_reward_mean"),
            std::vector<std::string>{"safrl_step_reward_mean -0.5"});
  // A null leaves the sample out; the family is still declared for dashboards to find.
  EXPECT_TRUE(lines_starting(text, "safrl_step_under_refusal_rate").empty());
  EXPECT_EQ(lines_starting(text, "# TYPE safrl_step_under_refusal_rate"),
            std::vector<std::string>{"# TYPE safrl_step_under_refusal_rate gauge"});
  EXPECT_EQ(lines_starting(text, "safrl_step_alerts_total{alert=\"refusal_collapse\"}"),
            std::vector<std::string>{"safrl_step_alerts_total{alert=\"refusal_collapse\"} 1"});
}

}  // namespace
}  // namespace safrl::serve
