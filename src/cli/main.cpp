// safrl: the command-line entry point. Every subcommand runs inside one catch that turns a
// safrl error into a message on stderr and exit code 2, so no input can crash the program.
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "util/error.h"
#include "util/log.h"
#include "util/process_memory.h"
#include "util/version.h"

namespace {

// One logger setting: its flag on every command, the environment variable that gives its default
// and what applies a value (throwing util::InputError that names the allowed values).
struct LogSetting {
  const char* flag;
  const char* variable;
  void (*apply)(std::string_view value);
  const char* help;
};

const LogSetting kLogSettings[] = {
    {"--log-level", "SAFRL_LOG_LEVEL",
     [](std::string_view value) {
       safrl::util::set_log_level(safrl::util::parse_log_level(value));
     },
     "lowest level of the lines logged on stderr: debug, info (default), warn or error; "
     "default from SAFRL_LOG_LEVEL"},
    {"--log-format", "SAFRL_LOG_FORMAT",
     [](std::string_view value) {
       safrl::util::set_log_json(safrl::util::parse_log_format_is_json(value));
     },
     "text (default) or json: each log line one JSON object; default from SAFRL_LOG_FORMAT"},
};

// Applies `value` to `setting`; its error names where the value came from (flag or variable).
void apply_log_setting(const LogSetting& setting, std::string_view source, std::string_view value) {
  try {
    setting.apply(value);
  } catch (const safrl::util::InputError& e) {
    throw safrl::util::InputError(safrl::util::cat(source, ": ", e.what()));
  }
}

// The environment gives the defaults before any flag is read, so a command's flag wins. Read
// here, not by CLI11's envname: CLI11 fills an envname option on every subcommand, selected or
// not, and runs their callbacks after the selected one's, so the environment would win.
void apply_log_environment() {
  for (const LogSetting& setting : kLogSettings) {
    const char* value = std::getenv(setting.variable);
    if (value != nullptr && *value != '\0') apply_log_setting(setting, setting.variable, value);
  }
}

// The flags on `command`, applied while the command line is parsed: before the command's
// callback runs and writes its first line.
void add_log_flags(CLI::App& command) {
  for (const LogSetting& setting : kLogSettings) {
    command.add_option_function<std::string>(
        setting.flag,
        [&setting](const std::string& value) { apply_log_setting(setting, setting.flag, value); },
        setting.help);
  }
}

}  // namespace

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
  for (CLI::App* command : app.get_subcommands({})) add_log_flags(*command);
  try {
    apply_log_environment();
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
