#include <CLI/CLI.hpp>

#include "cli/commands.h"

namespace safrl::cli {

void add_forward_command(CLI::App& app, int* exit_code) {
  app.add_subcommand("forward", "not implemented yet")->callback([exit_code] { *exit_code = 1; });
}

}  // namespace safrl::cli
