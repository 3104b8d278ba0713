#include "serve/step_logger.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "util/error.h"
#include "util/log.h"

namespace safrl::serve {

namespace {

void warn_when_nearly_full(const std::string& run_dir, size_t max_held_rows) {
  struct statvfs fs {};
  if (::statvfs(run_dir.c_str(), &fs) != 0) return;
  const uint64_t free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  if (free_bytes >= kLowDiskBytes) return;
  util::log_warn(
      "steps", util::cat("the run directory ", run_dir, " has ", free_bytes / 1024,
                         " KiB free (under ", kLowDiskBytes >> 20,
                         " MiB); step rows that cannot be written are held in memory "
                         "(up to ",
                         max_held_rows, ") until space returns; give a --run-dir with more room"));
}

// A steps.csv whose header is not today's (written by an older safrl, before columns were added)
// would get rows of other columns appended under it: it is renamed steps.csv.old (.old.1, ...)
// and a new one started. steps.jsonl needs nothing: its rows name their fields.
void set_aside_older_csv(const std::string& run_dir) {
  const std::string path = run_dir + "/steps.csv";
  std::ifstream in(path);
  std::string header;
  if (!in || !std::getline(in, header) || header == reward::StepStats::csv_header()) return;
  in.close();
  std::string aside = path + ".old";
  for (int n = 1; std::filesystem::exists(aside); ++n) aside = util::cat(path, ".old.", n);
  std::error_code error;
  std::filesystem::rename(path, aside, error);
  if (error) {
    throw util::LoadError(
        util::cat(path, " has the columns of an older safrl and cannot be moved to ", aside, ": ",
                  error.message(), "; move it yourself or give another --run-dir"));
  }
  util::log_warn("steps",
                 util::cat(path, " has the columns of an older safrl; it is kept as ", aside,
                           " and a new steps.csv is started (steps.jsonl keeps every "
                           "row)"));
}

// Creates the run directory and warns when its disk is nearly full; returns it, so the files can
// be opened in the initializer list.
const std::string& prepared(const std::string& run_dir, size_t max_held_rows) {
  std::error_code error;
  std::filesystem::create_directories(run_dir, error);
  if (error) {
    throw util::LoadError(util::cat("cannot create the run directory ", run_dir, ": ",
                                    error.message(), "; give a writable --run-dir"));
  }
  warn_when_nearly_full(run_dir, max_held_rows);
  set_aside_older_csv(run_dir);
  return run_dir;
}

}  // namespace

StepLogger::StepLogger(const std::string& run_dir, StepLogOptions options, Metrics& metrics,
                       reward::MonitorSettings monitors)
    : options_(options),
      stats_(monitors.low_safety_mass),
      monitor_(monitors),
      metrics_(metrics),
      rows_(prepared(run_dir, options.max_held_rows) + "/steps.jsonl", run_dir + "/steps.csv",
            reward::StepStats::csv_header(), options.max_held_rows) {
  publish_locked();
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
  rows_.retry(now);
  publish_locked();
  return closed;
}

nlohmann::json StepLogger::summary_locked(const reward::StepKey& step,
                                          std::optional<double> unhelpful_threshold) const {
  const Span& span = spans_.at(step);
  nlohmann::json summary = stats_.summary(
      step, std::chrono::duration<double>(span.last - span.first).count(), unhelpful_threshold);
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
  for (const reward::StepKey& step : stats_.steps()) {
    reward::StepMonitor as_if_written = monitor_;
    nlohmann::json summary = summary_locked(step, monitor_.unhelpful_threshold());
    as_if_written.annotate(summary);
    out.push_back(std::move(summary));
  }
  return out;
}

std::vector<reward::StepKey> StepLogger::flush_all() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<reward::StepKey> steps = stats_.steps();
  for (const reward::StepKey& step : steps) flush_locked(step);
  rows_.retry_now();
  publish_locked();
  return steps;
}

size_t StepLogger::unwritten_rows() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return rows_.held();
}

int64_t StepLogger::dropped_rows() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return rows_.dropped();
}

void StepLogger::flush_locked(const reward::StepKey& step) {
  nlohmann::json summary = summary_locked(step, monitor_.unhelpful_threshold());
  const std::vector<reward::Alert> alerts = monitor_.annotate(summary);
  for (const reward::Alert& alert : alerts) {
    util::log_warn("steps", reward::alert_line(summary, alert));
  }
  monitor_.remember_helpfulness(stats_.helpfulness_values(step));
  metrics_.record_step_monitors(summary);
  // The row leaves the statistics whether or not the disk takes it now: RowFiles holds it.
  rows_.append(summary.dump(), reward::StepStats::csv_row(summary));
  stats_.clear(step);
  spans_.erase(step);
  publish_locked();
}

void StepLogger::publish_locked() {
  metrics_.step_rows_unwritten = static_cast<int64_t>(rows_.held());
  metrics_.step_rows_dropped = rows_.dropped();
  metrics_.step_write_failures = rows_.failures();
  metrics_.set_step_log_error(rows_.error());
}

}  // namespace safrl::serve
