// `safrl front`: the public endpoints of the reward service, held open while the engine (a
// `safrl serve` on private endpoints) is restarted under them (docs/serve.md, "The front").
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/config_file.h"
#include "cli/runtime_flags.h"
#include "serve/bind_rules.h"
#include "serve/front_engine.h"
#include "serve/front_http.h"
#include "serve/front_zmq.h"
#include "serve/serve_config.h"
#include "util/error.h"
#include "util/log.h"

namespace safrl::cli {

namespace {

struct FrontArgs {
  std::string config;
  std::string endpoint;
  std::string run_dir = "safrl-run";
  int http_port = -1;
  double restart_delay_seconds = 1;
  int64_t hold_seconds = 600;
  int64_t max_pending_mib = 1024;
  int64_t engines = 1;
  RuntimeFlags runtime;
};

std::atomic<bool> g_stop{false};

void on_signal(int) {
  g_stop = true;
}

// A loopback port free now, for the engine's private HTTP side (kept across its restarts).
int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    if (fd >= 0) ::close(fd);
    throw util::LoadError("cannot find a free loopback port for the engine's HTTP side");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

// POSIX calls, not std::filesystem: LibTorch's copy of those symbols crashes remove_all here.
std::string this_binary() {
  char path[4096];
  const ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0)
    throw util::LoadError("cannot find the safrl binary to run the engine (/proc/self/exe)");
  return std::string(path, static_cast<size_t>(n));
}

// A directory only this user can use, for the engine's ipc:// socket.
std::string private_directory() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/safrl-front-XXXXXX";
  if (!::mkdtemp(pattern.data())) {
    throw util::LoadError(util::cat("cannot make a directory for the engine's socket (", pattern,
                                    "); set TMPDIR to a writable directory"));
  }
  return pattern;
}

// The config's server section with the command line's overrides, refused where the front cannot
// serve it yet.
serve::ServerConfig load_front_server(const FrontArgs& args) {
  ConfigFile file = load_config_file(args.config);
  serve::ServerConfig server = std::move(file.server);
  if (!args.endpoint.empty()) {
    try {
      serve::check_bind_endpoint(args.endpoint);
    } catch (const util::InputError& e) {
      throw util::LoadError(util::cat("--endpoint: ", e.what()));
    }
    server.endpoint = args.endpoint;
  }
  if (args.http_port >= 0) server.http_port = args.http_port;
  // The engine reads the same config on a private ipc:// endpoint, and the front speaks to it
  // without keys: the front guards nothing itself yet, so it serves this machine only.
  if (server.curve || !server.allowed_clients.empty() ||
      !serve::is_local_endpoint(server.endpoint)) {
    throw util::LoadError(util::cat(
        "safrl front serves this machine only (", server.endpoint,
        "; server.curve and server.allowed_clients are not carried to its engine yet): give a "
        "loopback or ipc:// endpoint and no server.curve / allowed_clients, or use safrl serve"));
  }
  // The engine's HTTP side binds server.http_address too (a private port, but on that address).
  if (server.http_port != 0 && server.http_address.rfind("127.", 0) != 0) {
    throw util::LoadError(util::cat("safrl front serves this machine only (server.http_address ",
                                    server.http_address,
                                    "): give a 127.x.x.x address, or use safrl serve"));
  }
  if (args.restart_delay_seconds < 0 || args.hold_seconds < 1 || args.max_pending_mib < 1) {
    throw util::LoadError(
        "--restart-delay must be 0 or more, --hold-seconds and --max-pending-mib 1 or more");
  }
  if (args.engines < 1 || args.engines > 64) throw util::LoadError("--engines must be 1 to 64");
  return server;
}

// The engines the front runs, each a `safrl serve` on private endpoints of its own.
struct EnginePlan {
  std::string directory;  // private: holds the engines' ipc:// sockets
  std::vector<serve::EngineOptions> engines;
  std::vector<std::string> sockets;    // the socket files, removed with the directory
  std::vector<std::string> endpoints;  // "ipc://" + socket: where the front reaches each engine
  std::vector<std::string> urls;       // each engine's private HTTP side (port 0: none)
};

// An engine's command line after the binary: the front's runtime flags and log settings passed on.
std::vector<std::string> engine_arguments(const FrontArgs& args, const std::string& endpoint,
                                          const std::string& run_dir, int http_port) {
  std::vector<std::string> out = {"serve",      "--config",    args.config,
                                  "--endpoint", endpoint,      "--run-dir",
                                  run_dir,      "--http-port", std::to_string(http_port)};
  if (!args.runtime.device.empty()) out.insert(out.end(), {"--device", args.runtime.device});
  if (!args.runtime.dtype.empty()) out.insert(out.end(), {"--dtype", args.runtime.dtype});
  // The engine applies runtime.omp_wait_policy itself (passive by default, as safrl serve).
  if (args.runtime.threads != 0) {
    out.insert(out.end(), {"--threads", std::to_string(args.runtime.threads)});
  }
  // The engines log as the front does, into the same stderr.
  out.insert(out.end(), {"--log-level", std::string(util::log_level_name(util::log_level())),
                         "--log-format", util::log_json() ? "json" : "text"});
  return out;
}

EnginePlan plan_engines(const FrontArgs& args, const serve::ServerConfig& server) {
  EnginePlan plan;
  plan.directory = private_directory();
  const auto n = static_cast<size_t>(args.engines);
  plan.engines.resize(n);
  for (size_t i = 0; i < n; ++i) {
    // One engine writes the run directory; several write a directory each (safrl merge-steps).
    const std::string run_dir = n == 1 ? args.run_dir : util::cat(args.run_dir, "/engine-", i);
    plan.sockets.push_back(util::cat(plan.directory, "/engine-", i));
    plan.endpoints.push_back("ipc://" + plan.sockets.back());
    const int http_port = server.http_port != 0 ? free_loopback_port() : 0;
    plan.urls.push_back(util::cat("http://", server.http_address, ":", http_port));
    serve::EngineOptions& engine = plan.engines[i];
    engine.name = n == 1 ? "engine" : util::cat("engine ", i);
    engine.binary = this_binary();
    engine.endpoint = plan.endpoints.back();
    engine.args = engine_arguments(args, plan.endpoints.back(), run_dir, http_port);
    engine.restart_delay =
        std::chrono::milliseconds(static_cast<int64_t>(args.restart_delay_seconds * 1000));
    engine.max_restart_delay = std::max(engine.restart_delay, engine.max_restart_delay);
  }
  return plan;
}

void remove_sockets(const EnginePlan& plan) {
  for (const std::string& socket : plan.sockets) ::unlink(socket.c_str());
  ::rmdir(plan.directory.c_str());
}

// Raises the open-file limit and makes SIGTERM and SIGINT stop the front.
void prepare_process() {
  // Each client costs the front a socket towards each engine: allow as many as the system does.
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
}

serve::ZmqFrontOptions zmq_front_options(const FrontArgs& args, const serve::ServerConfig& server,
                                         const EnginePlan& plan) {
  serve::ZmqFrontOptions options;
  options.endpoint = server.endpoint;
  options.engine_endpoints = plan.endpoints;
  options.hold = std::chrono::seconds(args.hold_seconds);
  options.max_message_bytes = server.max_message_bytes;
  options.max_pending_bytes = static_cast<size_t>(args.max_pending_mib) << 20;
  return options;
}

serve::HttpFrontOptions http_front_options(const serve::ServerConfig& server,
                                           const EnginePlan& plan, std::chrono::seconds hold) {
  serve::HttpFrontOptions http;
  http.address = server.http_address;
  http.port = static_cast<int>(server.http_port);
  http.allowed_clients = server.http_allowed_clients;
  http.engine_urls = plan.urls;
  http.max_connections = static_cast<size_t>(server.http_max_connections);
  http.max_body_bytes = static_cast<size_t>(server.max_message_bytes);
  http.read_timeout = std::chrono::seconds(server.http_read_timeout_seconds);
  http.idle_timeout = std::chrono::seconds(server.http_idle_timeout_seconds);
  http.hold = hold;
  return http;
}

// Opens the public endpoints and supervises the engines until a signal stops the front, or an
// engine that cannot start at all stops them all; returns the exit code.
int serve_until_stopped(const FrontArgs& args, const serve::ServerConfig& server,
                        const EnginePlan& plan) {
  const size_t n = plan.engines.size();
  std::vector<std::unique_ptr<serve::EngineState>> states;
  std::vector<const serve::EngineState*> watched;
  for (size_t i = 0; i < n; ++i) {
    states.push_back(std::make_unique<serve::EngineState>());
    watched.push_back(states.back().get());
  }
  serve::FrontCounters counters;
  const serve::ZmqFrontOptions zmq_options = zmq_front_options(args, server, plan);
  std::atomic<int> code{0};
  std::unique_ptr<serve::ZmqFront> zmq_front;
  std::unique_ptr<serve::HttpFront> http_front;
  try {
    zmq_front = std::make_unique<serve::ZmqFront>(zmq_options, watched, counters);
    if (server.http_port != 0) {
      http_front = std::make_unique<serve::HttpFront>(
          http_front_options(server, plan, zmq_options.hold), watched, counters);
    }
  } catch (...) {
    // The threads started end once the engines are finished.
    for (auto& state : states) state->set_finished();
    remove_sockets(plan);
    throw;
  }
  util::log_info("front", util::cat("serving ", zmq_front->endpoint(),
                                    http_front ? util::cat(" and HTTP port ", http_front->port())
                                               : std::string(),
                                    "; ", n, n == 1 ? " engine" : " engines", ": safrl serve on ",
                                    plan.endpoints.front(), n == 1 ? "" : ", ..."));
  std::vector<std::thread> supervisors;
  for (size_t i = 0; i < n; ++i) {
    supervisors.emplace_back([&, i] {
      serve::EngineSupervisor supervisor(plan.engines[i], *states[i]);
      if (supervisor.run(g_stop) != 0) {
        code = 2;
        g_stop = true;
      }
    });
  }
  for (std::thread& t : supervisors) t.join();
  return code;
}

int run_front(const FrontArgs& args) {
  const serve::ServerConfig server = load_front_server(args);
  const EnginePlan plan = plan_engines(args, server);
  prepare_process();
  // The fronts are closed when it returns, their last replies passed on.
  const int code = serve_until_stopped(args, server, plan);
  remove_sockets(plan);
  return code;
}

}  // namespace

void add_front_command(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<FrontArgs>();
  CLI::App* cmd = app.add_subcommand(
      "front",
      "Serve rewards through restarts: the endpoints stay open while safrl serve, run "
      "as this command's engine, is restarted under them (docs/serve.md)");
  cmd->add_option("--config", args->config, "YAML config (configs/default.yaml), as for serve")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--endpoint", args->endpoint,
                  "ZeroMQ endpoint clients connect to: tcp://127.0.0.1:PORT or ipc://PATH "
                  "(default: server.endpoint)");
  cmd->add_option("--run-dir", args->run_dir, "the engine's run directory (steps.jsonl, steps.csv)")
      ->capture_default_str();
  cmd->add_option("--http-port", args->http_port,
                  "HTTP port for /metrics, /health, /get_reward (0: off; default: "
                  "server.http_port)");
  cmd->add_option("--restart-delay", args->restart_delay_seconds,
                  "seconds before a dead engine is started again, doubled for each death within "
                  "a minute of its start, up to 30")
      ->capture_default_str();
  cmd->add_option("--hold-seconds", args->hold_seconds,
                  "how long a request without a deadline waits for an engine to come back")
      ->capture_default_str();
  cmd->add_option("--max-pending-mib", args->max_pending_mib,
                  "MiB of ZeroMQ requests kept to be sent again (beyond: busy)")
      ->capture_default_str();
  cmd->add_option("--engines", args->engines,
                  "engines (safrl serve processes, replicas on this machine); a prompt's requests "
                  "go to one of them, its run directory RUN_DIR/engine-<i>")
      ->capture_default_str();
  add_runtime_flags(*cmd, args->runtime);
  cmd->callback([args, exit_code] { *exit_code = run_front(*args); });
}

}  // namespace safrl::cli
