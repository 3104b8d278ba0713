// `safrl serve`: the reward service (docs/serve.md, docs/protocol.md).
#include <csignal>
#include <optional>
#include <string>

#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/config_file.h"
#include "cli/runtime_flags.h"
#include "io/yaml_config.h"
#include "reward/config.h"
#include "serve/bind_rules.h"
#include "serve/serve_config.h"
#include "serve/server.h"
#include "util/error.h"
#include "util/log.h"

namespace safrl::cli {

namespace {

struct ServeArgs {
  std::string config;
  std::string endpoint;
  std::string run_dir = "safrl-run";
  int http_port = -1;
  bool insecure_bind = false;
  std::string curve_keys;
  RuntimeFlags runtime;
};

// The file of --curve-keys holds the keys of server.curve (public_key, secret_key,
// allowed_client_keys), read with the same checks: safrl.ray writes one per run, readable by its
// owner only, so the secret key is neither in the shared config nor on a command line.
serve::CurveConfig load_curve_keys(const std::string& path) {
  YAML::Node section;
  section["curve"] = io::parse_yaml(io::read_config_file(path), path);
  const io::YamlSource source{path, ""};
  std::optional<serve::CurveConfig> curve =
      serve::parse_server_config(io::YamlValue(source, section, "")).curve;
  if (!curve) {
    throw util::LoadError(util::cat(path,
                                    ": no CURVE keys; give public_key, secret_key and "
                                    "allowed_client_keys, as in server.curve"));
  }
  return *curve;
}

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
  // Passive unless the config says otherwise: a trainer beside the server needs the cores its
  // idle threads would spin on.
  const OmpWaitPolicyPlan omp = apply_runtime_flags(&args.runtime, options.reward);
  // Logged once the models have loaded: an error loading them stays the first line on stderr.
  const reward::RuntimeConfig asked_runtime = options.reward.runtime;
  // The info reply says what runs, not only what was asked.
  options.reward.runtime.threads = at::get_num_threads();
  options.reward.runtime.omp_wait_policy = omp.in_effect;
  if (args.http_port >= 0) options.server.http_port = args.http_port;
  if (!args.curve_keys.empty()) options.server.curve = load_curve_keys(args.curve_keys);
  if (args.insecure_bind) options.server.insecure_bind = true;
  // Before any model loads: a refused bind costs no loading time.
  const std::string exposure = serve::check_bind_rules(options.server);
  if (!exposure.empty()) util::log_warn("serve", exposure);
  options.run_dir = args.run_dir;
  serve::Server server(options);
  log_cpu_threads("serve", asked_runtime, omp.description);
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
  cmd->add_flag("--insecure-bind", args->insecure_bind,
                "bind an endpoint other machines can reach with neither CURVE nor "
                "server.allowed_clients (default: server.insecure_bind; docs/security.md)");
  cmd->add_option("--curve-keys", args->curve_keys,
                  "YAML file with the CURVE keys (public_key, secret_key, allowed_client_keys), "
                  "replacing server.curve")
      ->check(CLI::ExistingFile);
  add_runtime_flags(*cmd, args->runtime);
  cmd->callback([args, exit_code] { *exit_code = run_serve(*args); });
}

}  // namespace safrl::cli
