// Registration of the `safrl` subcommands. Each add_* function declares its options on `app`
// and sets the callback that runs it; the callback's exit code is stored in `*exit_code`.
#pragma once

namespace CLI {
class App;
}

namespace safrl::cli {

void add_tokenize_command(CLI::App& app, int* exit_code);
void add_render_command(CLI::App& app, int* exit_code);
void add_merge_steps_command(CLI::App& app, int* exit_code);
#ifdef SAFRL_WITH_TORCH
void add_forward_command(CLI::App& app, int* exit_code);
void add_score_command(CLI::App& app, int* exit_code);
void add_serve_command(CLI::App& app, int* exit_code);
void add_front_command(CLI::App& app, int* exit_code);
void add_bench_command(CLI::App& app, int* exit_code);
#endif

}  // namespace safrl::cli
