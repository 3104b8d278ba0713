#include "serve/step_logger.h"

#include <algorithm>
#include <filesystem>

#include "util/error.h"

namespace safrl::serve {

StepLogger::StepLogger(const std::string& run_dir) {
  std::error_code error;
  std::filesystem::create_directories(run_dir, error);
  if (error) {
    throw util::LoadError(util::cat("cannot create the run directory ", run_dir, ": ",
                                    error.message(), "; give a writable --run-dir"));
  }
  jsonl_path_ = run_dir + "/steps.jsonl";
  const std::string csv_path = run_dir + "/steps.csv";
  const bool csv_is_new =
      !std::filesystem::exists(csv_path) || std::filesystem::file_size(csv_path) == 0;
  jsonl_.open(jsonl_path_, std::ios::app);
  csv_.open(csv_path, std::ios::app);
  if (!jsonl_ || !csv_) {
    throw util::LoadError(
        util::cat("cannot write the step logs in ", run_dir, "; give a writable --run-dir"));
  }
  if (csv_is_new) csv_ << reward::StepStats::csv_header() << '\n' << std::flush;
}

void StepLogger::add(const reward::SampleOutcome& outcome, Clock::time_point arrival) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (outcome.step > latest_step_) {
    // The trainer has moved on: earlier steps are complete.
    for (int64_t step : stats_.steps()) {
      if (step < outcome.step) flush_locked(step);
    }
    latest_step_ = outcome.step;
  }
  stats_.add(outcome);
  const auto now = Clock::now();
  auto [it, inserted] = spans_.try_emplace(outcome.step, arrival, now);
  if (!inserted) {
    it->second.first = std::min(it->second.first, arrival);
    it->second.second = now;
  }
}

nlohmann::json StepLogger::pending() const {
  std::lock_guard<std::mutex> lock(mutex_);
  nlohmann::json out = nlohmann::json::array();
  for (int64_t step : stats_.steps()) {
    const auto& span = spans_.at(step);
    out.push_back(
        stats_.summary(step, std::chrono::duration<double>(span.second - span.first).count()));
  }
  return out;
}

std::vector<int64_t> StepLogger::flush_all() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<int64_t> steps = stats_.steps();
  for (int64_t step : steps) flush_locked(step);
  return steps;
}

void StepLogger::flush_locked(int64_t step) {
  const auto& span = spans_.at(step);
  const nlohmann::json summary =
      stats_.summary(step, std::chrono::duration<double>(span.second - span.first).count());
  jsonl_ << summary.dump() << '\n' << std::flush;
  csv_ << reward::StepStats::csv_row(summary) << '\n' << std::flush;
  if (!jsonl_ || !csv_) {
    throw util::Error(util::cat("cannot append to the step logs next to ", jsonl_path_));
  }
  stats_.clear(step);
  spans_.erase(step);
}

}  // namespace safrl::serve
