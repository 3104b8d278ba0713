// The front's /metrics over several engines: each engine's samples labelled engine="i" under one
// HELP and TYPE per family, a histogram's buckets, sum and count included, so PromQL's
// sum by (le) adds the engines' buckets exactly.
#include "serve/front_metrics.h"

#include <gtest/gtest.h>

namespace safrl::serve {
namespace {

std::string latency(int fast, int slow, const char* sum) {
  return "# HELP x_seconds Latency.\n"
         "# TYPE x_seconds histogram\n"
         "x_seconds_bucket{le=\"0.5\"} " +
         std::to_string(fast) + "\nx_seconds_bucket{le=\"+Inf\"} " + std::to_string(fast + slow) +
         "\nx_seconds_sum " + sum + "\nx_seconds_count " + std::to_string(fast + slow) +
         "\n# HELP x_total Requests.\n# TYPE x_total counter\nx_total " +
         std::to_string(fast + slow) + "\n";
}

TEST(MergeEngineMetrics, OneEnginesTextIsPassedOnAsItIs) {
  EXPECT_EQ(merge_engine_metrics({latency(1, 2, "3.5")}), latency(1, 2, "3.5"));
}

TEST(MergeEngineMetrics, HistogramsOfSeveralEnginesStayOneFamilyLabelledByEngine) {
  // Engine 0: 1 request at or under 0.5 s, 2 over; engine 1: 4 under, none over; engine 2 did
  // not answer (empty) and is left out.
  EXPECT_EQ(merge_engine_metrics({latency(1, 2, "3.5"), latency(4, 0, "1.25"), ""}),
            "# HELP x_seconds Latency.\n"
            "# TYPE x_seconds histogram\n"
            "x_seconds_bucket{engine=\"0\",le=\"0.5\"} 1\n"
            "x_seconds_bucket{engine=\"0\",le=\"+Inf\"} 3\n"
            "x_seconds_sum{engine=\"0\"} 3.5\n"
            "x_seconds_count{engine=\"0\"} 3\n"
            "x_seconds_bucket{engine=\"1\",le=\"0.5\"} 4\n"
            "x_seconds_bucket{engine=\"1\",le=\"+Inf\"} 4\n"
            "x_seconds_sum{engine=\"1\"} 1.25\n"
            "x_seconds_count{engine=\"1\"} 4\n"
            "# HELP x_total Requests.\n"
            "# TYPE x_total counter\n"
            "x_total{engine=\"0\"} 3\n"
            "x_total{engine=\"1\"} 4\n");
}

}  // namespace
}  // namespace safrl::serve
