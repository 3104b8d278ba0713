// The /metrics exposition: histogram buckets, sum and count counted by hand, the Prometheus
// number spelling, and the server's latency histogram, scoring rate and step gauges in
// Metrics::prometheus() (tests/serve/e2e/test_http.py reads a real server's with Prometheus's
// parser).
#include "serve/metrics.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>
#include <sstream>

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
