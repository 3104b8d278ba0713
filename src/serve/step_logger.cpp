#include "serve/step_logger.h"

#include <algorithm>
#include <filesystem>

#include "util/error.h"

namespace safrl::serve {

StepLogger::StepLogger(const std::string& run_dir, StepLogOptions options) : options_(options) {
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
  if (outcome.step && (!latest_step_ || *outcome.step > *latest_step_)) {
    latest_step_ = outcome.step;
    // The trainer is keep_open steps further: the steps that far behind are complete.
    for (const reward::StepKey& step : stats_.steps()) {
      if (step && *step <= *latest_step_ - options_.keep_open) flush_locked(step);
    }
  }
  stats_.add(outcome);
  const auto now = Clock::now();
  auto [it, inserted] = spans_.try_emplace(outcome.step, Span{arrival, now});
  if (!inserted) {
    it->second.first = std::min(it->second.first, arrival);
    it->second.last = now;
  }
}

size_t StepLogger::close_idle(Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t closed = 0;
  for (const reward::StepKey& step : stats_.steps()) {
    if (now - spans_.at(step).last >= options_.idle) {
      flush_locked(step);
      ++closed;
    }
  }
  return closed;
}

nlohmann::json StepLogger::summary_locked(const reward::StepKey& step) const {
  const Span& span = spans_.at(step);
  nlohmann::json summary =
      stats_.summary(step, std::chrono::duration<double>(span.last - span.first).count());
  // The span on the wall clock too, so rows of several processes merge (steady clocks differ).
  const auto steady_now = Clock::now();
  const double wall_now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto wall = [&](Clock::time_point t) {
    return wall_now - std::chrono::duration<double>(steady_now - t).count();
  };
  summary["started_at"] = wall(span.first);
  summary["ended_at"] = wall(span.last);
  return summary;
}

nlohmann::json StepLogger::pending() const {
  std::lock_guard<std::mutex> lock(mutex_);
  nlohmann::json out = nlohmann::json::array();
  for (const reward::StepKey& step : stats_.steps()) out.push_back(summary_locked(step));
  return out;
}

std::vector<reward::StepKey> StepLogger::flush_all() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<reward::StepKey> steps = stats_.steps();
  for (const reward::StepKey& step : steps) flush_locked(step);
  return steps;
}

void StepLogger::flush_locked(const reward::StepKey& step) {
  const nlohmann::json summary = summary_locked(step);
  jsonl_ << summary.dump() << '\n' << std::flush;
  csv_ << reward::StepStats::csv_row(summary) << '\n' << std::flush;
  if (!jsonl_ || !csv_) {
    throw util::Error(util::cat("cannot append to the step logs next to ", jsonl_path_));
  }
  stats_.clear(step);
  spans_.erase(step);
}

}  // namespace safrl::serve
