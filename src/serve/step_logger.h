// Per-step statistics of the samples the server scored, written to RUN_DIR/steps.jsonl and
// RUN_DIR/steps.csv, one row per step once the step is closed:
//   - a sample of a step `keep_open` or more newer arrives (asynchronous trainers and several
//     rollout workers overlap a step with the next ones; a step stays open meanwhile),
//   - no sample of it arrived for `idle` (close_idle(), called by the server's loop),
//   - a `stats` request with flush, or shutdown.
// Samples without a step (OpenRLHF, offline use) form a bucket of their own, step null, closed
// only by idle time, flush and shutdown. A sample that arrives for a step already written starts
// it anew and gives a second row; rows carry their sums and wall-clock span (started_at,
// ended_at), so such rows, and the rows of several replicas, merge into one per step
// (`safrl merge-steps`, reward/step_stats.h).
//
// Each row written goes through a reward::StepMonitor first: it gets refusal_rate_change
// against the rows written before it, the safe-but-unhelpful threshold of the helpfulness seen so
// far (the newest monitors.helpfulness_history values of the rows written) and its "alerts";
// every alert is one line on stderr ("safrl serve: step 12: alert refusal_collapse: ...") and a
// count in Metrics, with the row's monitor values as gauges. No alert stops anything.
//
// Rows that cannot be written (a full disk) never fail a caller: they are held in memory, bounded,
// and written once space returns (serve/row_files.h); the counts go to Metrics (/metrics, and
// /health says "degraded").
//
// Thread-safe: the engine thread adds, the I/O thread asks for summaries, flushes and closes.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "reward/monitors.h"
#include "reward/step_stats.h"
#include "serve/metrics.h"
#include "serve/row_files.h"

namespace safrl::serve {

struct StepLogOptions {
  int64_t keep_open = 2;
  std::chrono::seconds idle{30};
  size_t max_held_rows = 10000;  // rows kept in memory while they cannot be written
};

// Below this much free space in the run directory's filesystem, start-up warns.
constexpr uint64_t kLowDiskBytes = uint64_t{100} << 20;

class StepLogger {
 public:
  using Clock = std::chrono::steady_clock;

  // Creates `run_dir` when needed and opens both files for appending; throws util::LoadError
  // with the path when they cannot be opened. Warns on stderr when the filesystem has less than
  // kLowDiskBytes free.
  StepLogger(const std::string& run_dir, StepLogOptions options, Metrics& metrics,
             reward::MonitorSettings monitors = {});

  // `arrival`: when the sample's request arrived; a step's seconds run from its first arrival
  // to its last completion.
  void add(const reward::SampleOutcome& outcome, Clock::time_point arrival);
  // Writes the steps with no sample since `now - idle`; returns how many. Retries the rows held.
  size_t close_idle(Clock::time_point now);
  // Summaries of the steps held, not yet written, annotated as if each were written next (the
  // monitor does not remember them).
  nlohmann::json pending() const;
  // Writes and forgets every step held; returns the steps closed (null: the stepless bucket).
  std::vector<reward::StepKey> flush_all();
  // Rows closed but not written (the run directory cannot take them), and rows dropped.
  size_t unwritten_rows() const;
  int64_t dropped_rows() const;

 private:
  struct Span {
    Clock::time_point first, last;  // first arrival, last completion
  };
  void flush_locked(const reward::StepKey& step);
  nlohmann::json summary_locked(const reward::StepKey& step,
                                std::optional<double> unhelpful_threshold) const;
  void publish_locked();

  const StepLogOptions options_;
  mutable std::mutex mutex_;
  reward::StepStats stats_;
  reward::StepMonitor monitor_;
  std::map<reward::StepKey, Span> spans_;
  std::optional<int64_t> latest_step_;
  Metrics& metrics_;
  RowFiles rows_;
};

}  // namespace safrl::serve
