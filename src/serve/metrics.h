// Server counters, exported as Prometheus text at GET /metrics. Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace safrl::serve {

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

  // Counts a step row's alerts (safrl_step_alerts_total{alert}) and keeps its monitor values
  // (the kStepGauges fields) as the latest step's gauges.
  void record_step_monitors(const nlohmann::json& row);

  // The step row fields exported as gauges safrl_step_<field>.
  static const std::vector<std::string> kStepGauges;

  // Records one score request's latency from arrival to reply.
  void observe_latency(double seconds);
  // p50, p90, p99 of the last latencies (seconds); zeros before any.
  std::array<double, 3> latency_percentiles() const;
  std::string prometheus() const;

 private:
  static constexpr size_t kWindow = 2048;
  mutable std::mutex mutex_;
  std::vector<double> latencies_;  // ring buffer
  size_t next_ = 0;
  std::string step_log_error_;                                // under mutex_
  std::map<std::string, int64_t> step_alerts_;                // under mutex_
  std::map<std::string, std::optional<double>> step_gauges_;  // under mutex_
};

}  // namespace safrl::serve
