// `safrl serve`: the reward service (docs/serve.md, docs/protocol.md).
#include <csignal>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/config_file.h"
#include "cli/runtime_flags.h"
#include "reward/config.h"
#include "serve/serve_config.h"
#include "serve/server.h"
#include "util/error.h"

namespace safrl::cli {

namespace {

struct ServeArgs {
  std::string config;
  std::string endpoint;
  std::string run_dir = "safrl-run";
  int http_port = -1;
  RuntimeFlags runtime;
};

void on_signal(int) {
  serve::Server::request_stop();
}

int run_serve(const ServeArgs& args) {
  serve::ServeOptions options;
  ConfigFile file = load_config_file(args.config);
  options.reward = std::move(file.reward);
  options.server = std::move(file.server);
  if (!args.endpoint.empty()) {
    try {
      serve::check_bind_endpoint(args.endpoint);
    } catch (const util::InputError& e) {
      throw util::LoadError(util::cat("--endpoint: ", e.what()));
    }
    options.server.endpoint = args.endpoint;
  }
  apply_runtime_flags(&args.runtime, options.reward);
  if (args.http_port >= 0) options.server.http_port = args.http_port;
  options.run_dir = args.run_dir;
  serve::Server server(options);
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  return server.run();
}

}  // namespace

void add_serve_command(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand("serve", "Serve rewards over ZeroMQ (docs/serve.md)");
  cmd->add_option("--config", args->config, "YAML config (configs/default.yaml)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--endpoint", args->endpoint,
                  "ZeroMQ endpoint to bind: tcp://HOST:PORT or ipc://PATH (default: "
                  "server.endpoint, tcp://127.0.0.1:5555)");
  cmd->add_option("--run-dir", args->run_dir, "where steps.jsonl and steps.csv are written")
      ->capture_default_str();
  cmd->add_option("--http-port", args->http_port,
                  "HTTP port for /metrics, /health, /get_reward on 127.0.0.1 (0: off; default: "
                  "server.http_port)");
  add_runtime_flags(*cmd, args->runtime);
  cmd->callback([args, exit_code] { *exit_code = run_serve(*args); });
}

}  // namespace safrl::cli
