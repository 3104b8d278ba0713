#include "cli/progress.h"

#include <algorithm>
#include <cstdio>
#include <ostream>

namespace safrl::cli {

std::string format_duration(double seconds) {
  const long s = static_cast<long>(std::max(0.0, seconds) + 0.5);
  char text[32];
  if (s >= 3600) {
    std::snprintf(text, sizeof text, "%ldh%02ldm", s / 3600, s / 60 % 60);
  } else {
    std::snprintf(text, sizeof text, "%ldm%02lds", s / 60, s % 60);
  }
  return text;
}

std::string format_rate(double per_second) {
  char text[32];
  if (per_second < 1) {
    std::snprintf(text, sizeof text, "%.1f s/sample", 1 / per_second);
  } else {
    std::snprintf(text, sizeof text,
                  per_second < 10    ? "%.2f samples/s"
                  : per_second < 100 ? "%.1f samples/s"
                                     : "%.0f samples/s",
                  per_second);
  }
  return text;
}

namespace {

size_t percent(size_t done, size_t total) {
  return total == 0 ? 100 : done * 100 / total;
}

std::string counts(const ProgressState& state) {
  return std::to_string(state.done) + "/" + std::to_string(state.total) + " " +
         std::to_string(percent(state.done, state.total)) + "%";
}

}  // namespace

std::string progress_text(const ProgressState& state) {
  std::string text = counts(state) + ", ";
  if (state.done > 0 && state.counted_at > 0) {
    const double rate = state.done / state.counted_at;
    const double left = (state.total - state.done) / rate - (state.elapsed - state.counted_at);
    text += format_rate(rate) + ", " + format_duration(state.elapsed) + " elapsed, " +
            format_duration(left) + " left";
  } else {
    text += format_duration(state.elapsed) + " elapsed";
  }
  return text;
}

std::string final_progress_text(const ProgressState& state) {
  std::string text = counts(state) + " in " + format_duration(state.elapsed);
  if (state.done > 0 && state.elapsed > 0) text += ", " + format_rate(state.done / state.elapsed);
  return text;
}

Progress::Progress(size_t total, std::ostream& out, ProgressOptions options, Clock clock)
    : out_(out),
      options_(std::move(options)),
      clock_(std::move(clock)),
      total_(total),
      next_percent_(options_.log_percent_step) {
  if (!clock_) {
    clock_ = [start = std::chrono::steady_clock::now()] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
  }
  if (options_.terminal) draw(progress_text(state()));
}

Progress::~Progress() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (drawn_) out_ << '\n' << std::flush;
}

ProgressState Progress::state() const {
  return {done_, total_, clock_(), counted_at_};
}

void Progress::count(size_t done) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (done != done_) {
    done_ = done;
    counted_at_ = clock_();
  }
  if (done_ == total_) return;  // the end is finish()'s to draw or log
  if (options_.terminal) {
    draw(progress_text(state()));
    return;
  }
  // One line for the highest step reached: a chunk can cross several.
  const size_t reached = percent(done_, total_);
  if (reached >= next_percent_) {
    log(progress_text(state()));
    next_percent_ = (reached / options_.log_percent_step + 1) * options_.log_percent_step;
  }
}

void Progress::tick() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_ || (done_ == total_ && total_ > 0)) return;  // the end is finish()'s to draw
  if (options_.terminal) {
    draw(progress_text(state()));
  } else if (clock_() - last_logged_at_ >= options_.log_interval_seconds) {
    log(progress_text(state()));
  }
}

void Progress::note(const std::string& line) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!options_.terminal) {
    out_ << line << '\n' << std::flush;
    return;
  }
  // Clear the drawn line, print the message in its place, draw the line again below it.
  out_ << "\r\033[K" << line << '\n';
  drawn_ = false;
  if (!finished_) draw(progress_text(state()));
}

void Progress::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_) return;
  finished_ = true;
  const std::string text = final_progress_text(state());
  if (options_.terminal) {
    draw(text);
    out_ << '\n' << std::flush;
    drawn_ = false;
  } else {
    log(text);
  }
}

void Progress::draw(const std::string& text) {
  constexpr size_t kBar = 20;
  const size_t filled = total_ == 0 ? kBar : kBar * done_ / total_;
  std::string line = "[" + std::string(filled, '#') + std::string(kBar - filled, '.') + "] " + text;
  // A line as wide as the terminal wraps, and the carriage return would then redraw only its
  // last row.
  if (options_.width > 1 && line.size() >= options_.width) line.resize(options_.width - 1);
  // The whole line in one write, ending with erase-to-end-of-line for a longer earlier line.
  out_ << ("\r" + line + "\033[K") << std::flush;
  drawn_ = true;
}

void Progress::log(const std::string& text) {
  out_ << (options_.prefix + text + "\n") << std::flush;
  last_logged_at_ = clock_();
}

ProgressTicker::ProgressTicker(Progress& progress, std::chrono::milliseconds period)
    : thread_([this, &progress, period] {
        std::unique_lock<std::mutex> lock(mutex_);
        while (!wake_.wait_for(lock, period, [this] { return stop_; })) {
          lock.unlock();
          progress.tick();
          lock.lock();
        }
      }) {}

ProgressTicker::~ProgressTicker() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

}  // namespace safrl::cli
