// safrl: the command-line entry point. Every subcommand runs inside one catch that turns a
// safrl error into a message on stderr and exit code 2, so no input can crash the program.
#include <exception>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "util/error.h"
#include "util/process_memory.h"
#include "util/version.h"

int main(int argc, char** argv) {
  safrl::util::keep_freed_memory_for_reuse();
  CLI::App app{"safrl: Qwen3Guard rewards for safety reinforcement learning"};
  app.set_version_flag("--version", safrl::util::kVersion);
  app.require_subcommand(1);
  int exit_code = 0;
  safrl::cli::add_tokenize_command(app, &exit_code);
  safrl::cli::add_render_command(app, &exit_code);
  safrl::cli::add_merge_steps_command(app, &exit_code);
#ifdef SAFRL_WITH_TORCH
  safrl::cli::add_forward_command(app, &exit_code);
  safrl::cli::add_score_command(app, &exit_code);
#ifdef SAFRL_WITH_SERVER
  safrl::cli::add_serve_command(app, &exit_code);
  safrl::cli::add_front_command(app, &exit_code);
#endif
  safrl::cli::add_bench_command(app, &exit_code);
#endif
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const safrl::util::Error& e) {
    std::cerr << "safrl: " << e.what() << '\n';
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "safrl: internal error: " << e.what() << '\n';
    return 3;
  }
  return exit_code;
}
