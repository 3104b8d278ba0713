// The front's engine process (docs/serve.md, "The front"): a `safrl serve` bound to private
// endpoints, started, watched and restarted by EngineSupervisor, and the EngineState the front's
// threads read to know whether requests can go to it now.
//
// EngineState is shared: the supervisor (one thread) writes it, the ZeroMQ and HTTP threads read
// it and wait on it; every member is thread-safe. Each time an engine answers its first ping the
// generation goes up by one, so a thread that sent work to generation g knows, on seeing another,
// that the work was lost with its process and must be sent again.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace safrl::serve {

class EngineState {
 public:
  using Clock = std::chrono::steady_clock;

  bool up() const;
  uint64_t generation() const;  // 0 until the first engine answers
  bool stopping() const;        // the front was asked to stop: new work is refused
  bool finished() const;        // the engine stopped for good: nothing more will be answered
  int64_t restarts() const;

  // Waits until an engine of a generation above `after` is up, the front finishes, or `until`;
  // returns whether one is up.
  bool wait_up(uint64_t after, Clock::time_point until) const;

  void set_up();
  void set_down();
  void set_stopping();
  void set_finished();

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  bool up_ = false;
  uint64_t generation_ = 0;
  bool stopping_ = false;
  bool finished_ = false;
  int64_t restarts_ = 0;
};

struct EngineOptions {
  std::string name = "engine";    // in the front's log lines: "engine", or "engine 1" of several
  std::string binary;             // the safrl executable
  std::vector<std::string> args;  // after the binary: serve --config ... --endpoint ...
  std::string endpoint;           // the engine's private ZeroMQ endpoint, pinged for readiness
  // A dead engine is started again after this long, doubled for each death within a minute of
  // the last start, up to max_restart_delay; a crash loop does not spin.
  std::chrono::milliseconds restart_delay{1000};
  std::chrono::milliseconds max_restart_delay{30000};
};

class EngineSupervisor {
 public:
  EngineSupervisor(EngineOptions options, EngineState& state);

  // Starts the engine and restarts it whenever it dies (saying why it died) until `stop` is set;
  // then sends it SIGTERM, so it finishes the work in flight, and waits for it. Returns 0, or 2
  // when the first engine exits before it ever answered (its own messages say why).
  int run(const std::atomic<bool>& stop);

 private:
  int spawn();
  // Pings the engine until it answers (true), dies (false, `status` set) or `stop` is set.
  bool wait_ready(int pid, const std::atomic<bool>& stop, int& status);
  void stop_engine(int pid);

  EngineOptions options_;
  EngineState& state_;
};

// "exited with code 3", "was killed by signal 9 (Killed)": a waitpid status in words.
std::string describe_exit(int status);

}  // namespace safrl::serve
