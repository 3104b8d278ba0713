// Two append-only text files written row by row in step: a step row goes to steps.jsonl and its
// CSV form to steps.csv, and a row is in both files or in neither. A row that cannot be written
// (disk full, quota, I/O error) is cut back out of the file it reached and held in memory, in
// order, up to `max_held` rows (rows past that are dropped and counted); held rows are written
// by the next append or retry() once the files take them again, so no row is written twice and
// the two files agree. Failures never throw: the step statistics are secondary to the rewards,
// and the server must go on scoring. Each failure kind (an errno) is logged once per outage, and
// the recovery once.
//
// Not thread-safe: the step logger calls it under its lock.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <utility>

namespace safrl::serve {

class RowFiles {
 public:
  using Clock = std::chrono::steady_clock;

  // Opens (creates) both files for appending; throws util::LoadError naming the path when it
  // cannot. `csv_header` is written first when the CSV file is new or empty (held like a row
  // when it cannot be).
  RowFiles(const std::string& jsonl_path, const std::string& csv_path,
           const std::string& csv_header, size_t max_held);
  ~RowFiles();
  RowFiles(const RowFiles&) = delete;
  RowFiles& operator=(const RowFiles&) = delete;

  // Writes the held rows, then this one (each line without its line end); what cannot be
  // written is held.
  void append(std::string jsonl_line, std::string csv_line);
  // Writes the held rows; when `now` is given, at most once per retry interval, so a full disk
  // is not asked many times a second.
  void retry(Clock::time_point now);
  void retry_now();

  size_t held() const { return held_.size(); }
  int64_t dropped() const { return dropped_; }
  int64_t failures() const { return failures_; }
  // The current outage's cause ("" while the files are written).
  const std::string& error() const { return error_; }
  const std::string& jsonl_path() const { return jsonl_path_; }

 private:
  // Writes held rows from the front; false at the first that fails (it stays held).
  bool write_held();
  // One row in both files, or in neither; false with errno_ set when it failed.
  bool write_row(const std::string& jsonl_line, const std::string& csv_line);
  void failed(int error);

  const std::string jsonl_path_;
  const size_t max_held_;
  int jsonl_fd_ = -1, csv_fd_ = -1;
  std::string csv_header_;  // still to write before the first row; empty once written
  std::deque<std::pair<std::string, std::string>> held_;
  int64_t dropped_ = 0;
  int64_t failures_ = 0;
  int errno_ = 0;
  int logged_errno_ = 0;  // the failure kind last logged in this outage (0: none)
  bool logged_drop_ = false;
  std::string error_;
  Clock::time_point next_retry_{};
};

}  // namespace safrl::serve
