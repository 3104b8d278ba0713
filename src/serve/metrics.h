// Server counters, exported as Prometheus text at GET /metrics. Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace safrl::serve {

// A Prometheus histogram: how many observations fell at or below each upper bound, their sum and
// their count. Unlike quantiles, these add up across replicas and scrapes (PromQL's
// histogram_quantile over sum by (le)). One mutex: an observation per request costs nothing next
// to scoring, and a scrape sees buckets, sum and count of the same moment.
class Histogram {
 public:
  // upper_bounds: finite, strictly increasing; the +Inf bucket is implied.
  explicit Histogram(std::vector<double> upper_bounds);

  void observe(double value);

  struct Snapshot {
    std::vector<int64_t> cumulative;  // per upper bound, then +Inf (== count)
    double sum = 0;
    int64_t count = 0;
  };
  Snapshot snapshot() const;

  // HELP, TYPE histogram, name_bucket{le="..."} (cumulative, "+Inf" last), name_sum, name_count.
  void write_prometheus(std::ostream& out, std::string_view name, std::string_view help) const;

 private:
  const std::vector<double> upper_bounds_;
  mutable std::mutex mutex_;
  std::vector<int64_t> counts_;  // under mutex_; per bucket, not cumulative, +Inf's last
  double sum_ = 0;               // under mutex_
};

// A number as the Prometheus text format spells it: shortest exact decimal, +Inf, -Inf, NaN.
std::string prometheus_number(double value);

class Metrics {
 public:
  std::atomic<int64_t> requests{0};              // requests received (all types)
  std::atomic<int64_t> score_requests{0};        // score requests admitted
  std::atomic<int64_t> samples{0};               // samples scored
  std::atomic<int64_t> busy_replies{0};          // requests refused with busy
  std::atomic<int64_t> http_admission_waits{0};  // HTTP body parts held until admitted
  std::atomic<int64_t> error_replies{0};         // error replies of any code
  std::atomic<int64_t> deduplicated{0};          // retried ids answered without recomputing
  std::atomic<int64_t> queued_samples{0};        // samples waiting or running now
  std::atomic<int64_t> batches{0};               // scoring passes of the engine thread
  // Samples scored per second of scoring, averaged over recent passes (0 before the first):
  // what a busy reply's retry_after_ms is computed from.
  std::atomic<double> scoring_rate{0};
  std::atomic<int64_t> http_connections{0};  // open now
  std::atomic<int64_t> last_batch_samples{0};
  std::atomic<int64_t> last_batch_tokens{0};
  std::atomic<int64_t> tokens{0};  // tokens computed
  std::atomic<int64_t> prefix_tokens_saved{0};
  // The judgement cache (reward/judgement_cache.h), per judge (guard, helpfulness, prompt):
  // judgements answered without running the model and those computed; and its bytes.
  std::array<std::atomic<int64_t>, 3> cache_hits{};
  std::array<std::atomic<int64_t>, 3> cache_misses{};
  std::atomic<int64_t> cache_bytes{0};
  // The step logs (step_logger.h): rows closed but not yet written because the run directory
  // does not take them (a full disk), rows dropped past the bound on those, and failed writes.
  std::atomic<int64_t> step_rows_unwritten{0};
  std::atomic<int64_t> step_rows_dropped{0};
  std::atomic<int64_t> step_write_failures{0};

  // Why the step logs cannot be written now ("" while they are).
  void set_step_log_error(const std::string& error);
  std::string step_log_error() const;
  // Whether the server scores but cannot record everything (/health says "degraded").
  bool degraded() const { return step_rows_unwritten > 0 || !step_log_error().empty(); }

  // Counts a step row's alerts (safrl_step_alerts_total{alert}) and keeps its rates and monitor
  // values (the kStepGauges fields) as the latest step's gauges.
  void record_step_monitors(const nlohmann::json& row);

  // The step row fields exported as gauges safrl_step_<field>.
  static const std::vector<std::string> kStepGauges;

  // The request latency histogram's upper bounds (seconds): 1-2.5-5 steps from 5 ms to 10 s,
  // then 30 s, 1, 2 and 5 minutes, so that a cached reply (milliseconds), a GRPO group on a GPU
  // (50 ms to seconds) and a large batch on CPU or behind a long queue (minutes) each fall
  // where histogram_quantile interpolates within a factor of 3.
  static constexpr std::array<double, 15> kLatencyBuckets = {
      0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};

  // Samples per score request: powers of two from 1 to 4096, so a single sample, a GRPO group
  // (4 to 64) and a large batch each have their bucket and a bucket's count is exact for the
  // sizes trainers send.
  static constexpr std::array<double, 13> kRequestSampleBuckets = {
      1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096};

  // Records one score request's latency from arrival to reply.
  void observe_latency(double seconds) { latency_.observe(seconds); }
  // Records one scoring pass's duration (kLatencyBuckets: a pass spans what a request's compute
  // does, from a cached pass in milliseconds to minutes on CPU).
  void observe_scoring_pass(double seconds) { scoring_pass_.observe(seconds); }
  // Records the number of samples of one answered score request.
  void observe_request_samples(int64_t samples) {
    request_samples_.observe(static_cast<double>(samples));
  }
  const Histogram& latency() const { return latency_; }
  std::string prometheus() const;

 private:
  Histogram latency_{std::vector<double>(kLatencyBuckets.begin(), kLatencyBuckets.end())};
  Histogram scoring_pass_{std::vector<double>(kLatencyBuckets.begin(), kLatencyBuckets.end())};
  Histogram request_samples_{
      std::vector<double>(kRequestSampleBuckets.begin(), kRequestSampleBuckets.end())};
  mutable std::mutex mutex_;
  std::string step_log_error_;                                // under mutex_
  std::map<std::string, int64_t> step_alerts_;                // under mutex_
  std::map<std::string, std::optional<double>> step_gauges_;  // under mutex_
};

}  // namespace safrl::serve
