// Per-step statistics of the samples the server scored, written to RUN_DIR/steps.jsonl and
// RUN_DIR/steps.csv when a step is flushed: on a `stats` request with flush, when a sample of a
// later step arrives (the trainer moved on), and at shutdown. A sample that arrives for a step
// already flushed starts that step anew; its next flush writes a second row for the same step
// number with only the late samples (docs/serve.md).
//
// Thread-safe: the engine thread adds, the I/O thread asks for summaries and flushes.
#pragma once

#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "reward/step_stats.h"

namespace safrl::serve {

class StepLogger {
 public:
  // Creates `run_dir` when needed and opens both files for appending; throws util::LoadError
  // with the path when they cannot be written.
  explicit StepLogger(const std::string& run_dir);

  using Clock = std::chrono::steady_clock;
  // `arrival`: when the sample's request arrived; a step's seconds run from its first arrival
  // to its last completion.
  void add(const reward::SampleOutcome& outcome, Clock::time_point arrival);
  // Summaries of the steps held, not yet flushed.
  nlohmann::json pending() const;
  // Writes and forgets every step held; returns the step numbers written.
  std::vector<int64_t> flush_all();

 private:
  void flush_locked(int64_t step);

  mutable std::mutex mutex_;
  reward::StepStats stats_;
  std::map<int64_t, std::pair<Clock::time_point, Clock::time_point>> spans_;  // first, last add
  int64_t latest_step_ = -1;
  std::ofstream jsonl_, csv_;
  std::string jsonl_path_;
};

}  // namespace safrl::serve
