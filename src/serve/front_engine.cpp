#include "serve/front_engine.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "serve/protocol.h"
#include "util/error.h"
#include "util/log.h"

namespace safrl::serve {

namespace {

constexpr auto kTick = std::chrono::milliseconds(100);
constexpr auto kPingWait = std::chrono::milliseconds(500);
// An engine that lived longer than this is not crash-looping: its successor starts after the
// first delay again.
constexpr auto kStableRun = std::chrono::seconds(60);

}  // namespace

bool EngineState::up() const {
  std::lock_guard lock(mutex_);
  return up_;
}

uint64_t EngineState::generation() const {
  std::lock_guard lock(mutex_);
  return generation_;
}

bool EngineState::stopping() const {
  std::lock_guard lock(mutex_);
  return stopping_;
}

bool EngineState::finished() const {
  std::lock_guard lock(mutex_);
  return finished_;
}

int64_t EngineState::restarts() const {
  std::lock_guard lock(mutex_);
  return restarts_;
}

bool EngineState::wait_up(uint64_t after, Clock::time_point until) const {
  std::unique_lock lock(mutex_);
  changed_.wait_until(lock, until, [&] { return finished_ || (up_ && generation_ > after); });
  return up_ && generation_ > after;
}

void EngineState::set_up() {
  {
    std::lock_guard lock(mutex_);
    up_ = true;
    if (generation_ > 0) ++restarts_;
    ++generation_;
  }
  changed_.notify_all();
}

void EngineState::set_down() {
  {
    std::lock_guard lock(mutex_);
    up_ = false;
  }
  changed_.notify_all();
}

void EngineState::set_stopping() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
}

void EngineState::set_finished() {
  {
    std::lock_guard lock(mutex_);
    up_ = false;
    stopping_ = true;
    finished_ = true;
  }
  changed_.notify_all();
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return util::cat("exited with code ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return util::cat("was killed by signal ", WTERMSIG(status), " (", ::strsignal(WTERMSIG(status)),
                     ")");
  }
  return util::cat("ended with wait status ", status);
}

EngineSupervisor::EngineSupervisor(EngineOptions options, EngineState& state)
    : options_(std::move(options)), state_(state) {}

int EngineSupervisor::spawn() {
  std::vector<char*> argv;
  argv.push_back(options_.binary.data());
  for (std::string& arg : options_.args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  // Only async-signal-safe calls between fork and exec: the front has threads.
  const std::string failure =
      util::cat("safrl front: cannot run the engine ", options_.binary, "\n");
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0)
    throw util::Error(util::cat("cannot start the engine: fork: ", std::strerror(errno)));
  if (pid == 0) {
    // The engine must not outlive a front that was killed outright.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(1);
    ::execv(argv[0], argv.data());
    [[maybe_unused]] const ssize_t written = ::write(2, failure.data(), failure.size());
    ::_exit(127);
  }
  util::log_info("front", util::cat(options_.name, " started (pid ", pid, ")"));
  return pid;
}

bool EngineSupervisor::wait_ready(int pid, const std::atomic<bool>& stop, int& status) {
  zmq::context_t context(1);
  uint64_t ping = 0;
  while (!stop) {
    if (::waitpid(pid, &status, WNOHANG) == pid) return false;
    zmq::socket_t socket(context, zmq::socket_type::dealer);
    socket.set(zmq::sockopt::linger, 0);
    socket.connect(options_.endpoint);
    const std::string id = util::cat("front-ready-", ++ping);
    socket.send(zmq::buffer(encode({{"type", "ping"}, {"id", id}})), zmq::send_flags::dontwait);
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, kPingWait) > 0) return true;
  }
  return false;
}

void EngineSupervisor::stop_engine(int pid) {
  ::kill(pid, SIGTERM);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  util::log_info("front",
                 util::cat(options_.name, " (pid ", pid, ") stopped: it ", describe_exit(status)));
}

int EngineSupervisor::run(const std::atomic<bool>& stop) {
  auto next_delay = options_.restart_delay;
  bool ever_up = false;
  while (!stop) {
    const int pid = spawn();
    int status = 0;
    if (wait_ready(pid, stop, status)) {
      const auto started = EngineState::Clock::now();
      ever_up = true;
      state_.set_up();
      util::log_info("front",
                     util::cat(options_.name, " (pid ", pid, ") answers on ", options_.endpoint));
      while (!stop && ::waitpid(pid, &status, WNOHANG) != pid) std::this_thread::sleep_for(kTick);
      if (stop) {
        state_.set_stopping();
        stop_engine(pid);
        break;
      }
      state_.set_down();
      if (EngineState::Clock::now() - started > kStableRun) next_delay = options_.restart_delay;
    } else if (stop) {
      state_.set_stopping();
      stop_engine(pid);
      break;
    } else if (!ever_up) {
      util::log_error("front", util::cat(options_.name, " ", describe_exit(status),
                                         " before it answered; its messages above say why"));
      state_.set_finished();
      return 2;
    }
    const auto delay = next_delay;
    next_delay = std::min(next_delay * 2, options_.max_restart_delay);
    util::log_warn("front", util::cat(options_.name, " (pid ", pid, ") ", describe_exit(status),
                                      "; requests are held and sent again once it is back; "
                                      "restarting in ",
                                      delay.count(), " ms"));
    for (auto until = EngineState::Clock::now() + delay;
         !stop && EngineState::Clock::now() < until;) {
      std::this_thread::sleep_for(kTick);
    }
  }
  state_.set_stopping();
  state_.set_finished();
  return 0;
}

}  // namespace safrl::serve
