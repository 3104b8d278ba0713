// The progress display of `safrl score`: its text (rate, time left, durations) and when it draws
// or logs, on a clock the test moves.
#include "cli/progress.h"

#include <chrono>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace safrl::cli {
namespace {

TEST(ProgressText, Durations) {
  EXPECT_EQ(format_duration(0), "0m00s");
  EXPECT_EQ(format_duration(4.4), "0m04s");
  EXPECT_EQ(format_duration(4.6), "0m05s");
  EXPECT_EQ(format_duration(750), "12m30s");
  EXPECT_EQ(format_duration(3599.4), "59m59s");
  EXPECT_EQ(format_duration(7500), "2h05m");
  EXPECT_EQ(format_duration(-3), "0m00s");  // an estimate past due
}

TEST(ProgressText, RatesReadAsSamplesPerSecondOrSecondsPerSample) {
  EXPECT_EQ(format_rate(2.954), "2.95 samples/s");
  EXPECT_EQ(format_rate(12.34), "12.3 samples/s");
  EXPECT_EQ(format_rate(1234.4), "1234 samples/s");
  EXPECT_EQ(format_rate(1), "1.00 samples/s");
  EXPECT_EQ(format_rate(0.24), "4.2 s/sample");
  EXPECT_EQ(format_rate(0.01), "100.0 s/sample");
}

TEST(ProgressText, RateAndTimeLeftFromTheWorkCounted) {
  // 8 of 24 done after 4 s: 2 samples/s, 16 left = 8 s, of which 1 s has passed since.
  EXPECT_EQ(progress_text({8, 24, 5, 4}), "8/24 33%, 2.00 samples/s, 0m05s elapsed, 0m07s left");
  // Counted just now.
  EXPECT_EQ(progress_text({8, 24, 4, 4}), "8/24 33%, 2.00 samples/s, 0m04s elapsed, 0m08s left");
  // Nothing done yet: no rate to tell the time left from.
  EXPECT_EQ(progress_text({0, 24, 3, 0}), "0/24 0%, 0m03s elapsed");
  // Slower than the estimate: the time left stops at zero.
  EXPECT_EQ(progress_text({8, 24, 20, 4}), "8/24 33%, 2.00 samples/s, 0m20s elapsed, 0m00s left");
  EXPECT_EQ(progress_text({1, 1000, 30, 30}),
            "1/1000 0%, 30.0 s/sample, 0m30s elapsed, 8h19m left");
  EXPECT_EQ(final_progress_text({24, 24, 8, 8}), "24/24 100% in 0m08s, 3.00 samples/s");
}

// A clock the test sets.
struct FakeClock {
  double now = 0;
  Progress::Clock clock() {
    return [this] { return now; };
  }
};

ProgressOptions log_options() {
  ProgressOptions options;
  options.prefix = "safrl score: ";
  return options;
}

TEST(ProgressLog, OneLineAtEachTenPercentAndAFinalLine) {
  FakeClock clock;
  std::ostringstream out;
  Progress progress(24, out, log_options(), clock.clock());
  for (size_t done = 1; done <= 24; ++done) {
    clock.now = done * 0.5;
    progress.count(done);
  }
  progress.finish();
  // 3/24 is the first count past 10%, 5/24 past 20%, 8/24 past 30% ...; 24/24 gets the final.
  EXPECT_EQ(out.str(),
            "safrl score: 3/24 12%, 2.00 samples/s, 0m02s elapsed, 0m11s left\n"
            "safrl score: 5/24 20%, 2.00 samples/s, 0m03s elapsed, 0m10s left\n"
            "safrl score: 8/24 33%, 2.00 samples/s, 0m04s elapsed, 0m08s left\n"
            "safrl score: 10/24 41%, 2.00 samples/s, 0m05s elapsed, 0m07s left\n"
            "safrl score: 12/24 50%, 2.00 samples/s, 0m06s elapsed, 0m06s left\n"
            "safrl score: 15/24 62%, 2.00 samples/s, 0m08s elapsed, 0m05s left\n"
            "safrl score: 17/24 70%, 2.00 samples/s, 0m09s elapsed, 0m04s left\n"
            "safrl score: 20/24 83%, 2.00 samples/s, 0m10s elapsed, 0m02s left\n"
            "safrl score: 22/24 91%, 2.00 samples/s, 0m11s elapsed, 0m01s left\n"
            "safrl score: 24/24 100% in 0m12s, 2.00 samples/s\n");
}

TEST(ProgressLog, AChunkAcrossSeveralStepsGetsOneLine) {
  FakeClock clock;
  std::ostringstream out;
  Progress progress(100, out, log_options(), clock.clock());
  clock.now = 10;
  progress.count(64);
  clock.now = 20;
  progress.count(100);
  progress.finish();
  EXPECT_EQ(out.str(),
            "safrl score: 64/100 64%, 6.40 samples/s, 0m10s elapsed, 0m06s left\n"
            "safrl score: 100/100 100% in 0m20s, 5.00 samples/s\n");
}

TEST(ProgressLog, ALineEveryThirtySecondsWhileNoStepIsReached) {
  FakeClock clock;
  std::ostringstream out;
  Progress progress(64, out, log_options(), clock.clock());
  for (int second = 1; second <= 70; ++second) {
    clock.now = second;
    progress.tick();
  }
  EXPECT_EQ(out.str(),
            "safrl score: 0/64 0%, 0m30s elapsed\n"
            "safrl score: 0/64 0%, 1m00s elapsed\n");
  // A step line restarts the 30 s.
  clock.now = 75;
  progress.count(10);
  out.str("");
  for (int second = 76; second <= 105; ++second) {
    clock.now = second;
    progress.tick();
  }
  EXPECT_EQ(out.str(), "safrl score: 10/64 15%, 7.5 s/sample, 1m45s elapsed, 6m15s left\n");
}

TEST(ProgressLog, NotesArePlainLines) {
  FakeClock clock;
  std::ostringstream out;
  Progress progress(10, out, log_options(), clock.clock());
  progress.note("safrl score: in.jsonl line 3: not valid JSON");
  EXPECT_EQ(out.str(), "safrl score: in.jsonl line 3: not valid JSON\n");
}

ProgressOptions terminal_options(size_t width = 0) {
  ProgressOptions options;
  options.terminal = true;
  options.width = width;
  return options;
}

TEST(ProgressTerminal, OneLineRedrawnInPlaceAtEveryCountAndTick) {
  FakeClock clock;
  std::ostringstream out;
  Progress progress(4, out, terminal_options(), clock.clock());
  clock.now = 1;
  progress.tick();
  clock.now = 2;
  progress.count(1);
  clock.now = 3;
  progress.tick();
  clock.now = 8;
  progress.count(4);  // the end: drawn by finish()
  progress.finish();
  progress.tick();  // after the end: nothing
  EXPECT_EQ(out.str(),
            "\r[....................] 0/4 0%, 0m00s elapsed\033[K"
            "\r[....................] 0/4 0%, 0m01s elapsed\033[K"
            "\r[#####...............] 1/4 25%, 2.0 s/sample, 0m02s elapsed, 0m06s left\033[K"
            "\r[#####...............] 1/4 25%, 2.0 s/sample, 0m03s elapsed, 0m05s left\033[K"
            "\r[####################] 4/4 100% in 0m08s, 2.0 s/sample\033[K\n");
}

TEST(ProgressTerminal, ANoteTakesTheLineAndTheBarIsDrawnBelowIt) {
  FakeClock clock;
  std::ostringstream out;
  Progress progress(4, out, terminal_options(), clock.clock());
  out.str("");
  progress.note("safrl score: in.jsonl line 3: not valid JSON");
  EXPECT_EQ(out.str(),
            "\r\033[Ksafrl score: in.jsonl line 3: not valid JSON\n"
            "\r[....................] 0/4 0%, 0m00s elapsed\033[K");
}

TEST(ProgressTerminal, ALineIsCutToTheTerminalWidth) {
  FakeClock clock;
  std::ostringstream out;
  Progress progress(4, out, terminal_options(30), clock.clock());
  EXPECT_EQ(out.str(), "\r[....................] 0/4 0%\033[K");
}

TEST(ProgressTerminal, AnUnfinishedLineIsEndedSoTheNextMessageStartsOnItsOwn) {
  FakeClock clock;
  std::ostringstream out;
  {
    Progress progress(4, out, terminal_options(), clock.clock());
    progress.count(1);
  }
  EXPECT_EQ(out.str().back(), '\n');
}

TEST(ProgressTicker, TicksFromItsOwnThreadUntilDestroyed) {
  std::ostringstream out;
  Progress progress(4, out, terminal_options());
  const size_t drawn = out.str().size();
  {
    // 100 ticks' time for the 3 redraws asked: a loaded machine may run the ticker's thread late.
    // (The stream cannot be polled meanwhile: the ticker writes to it from its own thread.)
    ProgressTicker ticker(progress, std::chrono::milliseconds(10));
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  }
  const std::string after = out.str();
  EXPECT_GT(after.size(), drawn * 3) << "expected several redraws";
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(out.str(), after) << "no tick after the ticker is gone";
}

}  // namespace
}  // namespace safrl::cli
