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
// Thread-safe: the engine thread adds, the I/O thread asks for summaries, flushes and closes.
#pragma once

#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "reward/step_stats.h"

namespace safrl::serve {

struct StepLogOptions {
  int64_t keep_open = 2;
  std::chrono::seconds idle{30};
};

class StepLogger {
 public:
  using Clock = std::chrono::steady_clock;

  // Creates `run_dir` when needed and opens both files for appending; throws util::LoadError
  // with the path when they cannot be written.
  explicit StepLogger(const std::string& run_dir, StepLogOptions options = {});

  // `arrival`: when the sample's request arrived; a step's seconds run from its first arrival
  // to its last completion.
  void add(const reward::SampleOutcome& outcome, Clock::time_point arrival);
  // Writes the steps with no sample since `now - idle`; returns how many.
  size_t close_idle(Clock::time_point now);
  // Summaries of the steps held, not yet written.
  nlohmann::json pending() const;
  // Writes and forgets every step held; returns the steps written (null: the stepless bucket).
  std::vector<reward::StepKey> flush_all();

 private:
  struct Span {
    Clock::time_point first, last;  // first arrival, last completion
  };
  void flush_locked(const reward::StepKey& step);
  nlohmann::json summary_locked(const reward::StepKey& step) const;

  const StepLogOptions options_;
  mutable std::mutex mutex_;
  reward::StepStats stats_;
  std::map<reward::StepKey, Span> spans_;
  std::optional<int64_t> latest_step_;
  std::ofstream jsonl_, csv_;
  std::string jsonl_path_;
};

}  // namespace safrl::serve
