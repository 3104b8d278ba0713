// Progress of a long command on stderr (`safrl score`). On a terminal: one line redrawn in place
// (a carriage return, then the line) whenever work is counted and at every tick, so the clock
// moves at least once a second even while a chunk is being scored. Anywhere else (a log file, a
// pipe): one line at each 10% of the work, one at least every 30 s while no step is reached, and
// a final line, so a log shows the run without a redrawn line filling it.
//
// The rate is the work counted so far over the time it took; the time left assumes that rate goes
// on, counting down from when work was last counted. Thread-safe: the working thread counts and
// notes, a ProgressTicker ticks from its own thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <iosfwd>
#include <mutex>
#include <string>
#include <thread>

namespace safrl::cli {

// "0m05s", "12m30s", "2h05m" (rounded to the second).
std::string format_duration(double seconds);

// "12.3 samples/s" (three significant digits at most), or "4.2 s/sample" below one a second,
// where samples/s would read 0.24.
std::string format_rate(double per_second);

struct ProgressState {
  size_t done = 0;
  size_t total = 0;
  double elapsed = 0;     // seconds since the work started
  double counted_at = 0;  // `elapsed` when `done` last changed
};

// "8/24 33%, 2.95 samples/s, 0m03s elapsed, 0m05s left"; before anything is done, only
// "0/24 0%, 0m03s elapsed" (no rate to tell from).
std::string progress_text(const ProgressState& state);

// "24/24 100% in 0m08s, 2.95 samples/s".
std::string final_progress_text(const ProgressState& state);

struct ProgressOptions {
  bool terminal = false;  // redraw one line in place; else log lines
  size_t width = 0;       // the terminal's columns; a longer line is cut (0: unknown)
  std::string prefix;     // starts every logged line ("safrl score: ")
  size_t log_percent_step = 10;
  double log_interval_seconds = 30;
};

class Progress {
 public:
  // Seconds since the work started; the default reads a steady clock from construction.
  using Clock = std::function<double()>;

  Progress(size_t total, std::ostream& out, ProgressOptions options, Clock clock = nullptr);
  // Ends a redrawn line that finish() did not end, so what is printed next starts on its own.
  ~Progress();

  // `done` of the total are finished.
  void count(size_t done);
  // Time passed without work counted.
  void tick();
  // A message line printed without tearing the redrawn line (which is drawn again below it).
  void note(const std::string& line);
  // The final line.
  void finish();

 private:
  ProgressState state() const;
  void draw(const std::string& text);  // the terminal line
  void log(const std::string& text);   // one logged line

  std::ostream& out_;
  ProgressOptions options_;
  Clock clock_;
  mutable std::mutex mutex_;
  size_t total_;
  size_t done_ = 0;
  double counted_at_ = 0;
  size_t next_percent_;        // logs: the next step that gets a line
  double last_logged_at_ = 0;  // logs: when the last line was written
  bool drawn_ = false;         // terminal: a line is on screen without its newline
  bool finished_ = false;
};

// Calls progress.tick() every `period` from its own thread until destroyed.
class ProgressTicker {
 public:
  ProgressTicker(Progress& progress, std::chrono::milliseconds period);
  ~ProgressTicker();
  ProgressTicker(const ProgressTicker&) = delete;
  ProgressTicker& operator=(const ProgressTicker&) = delete;

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace safrl::cli
