// safrl render --format guard|qwen3|chatml: JSON lines on stdin, one result per line on stdout (a
// developer tool for checking prompts byte for byte).
//   {"messages": [...]} (optionally apply_chat_template's "add_generation_prompt" and
//     "enable_thinking", booleans) -> {"text": "..."}
//   a score line, one with "response" or "answer" (docs/score.md; --format guard only) ->
//     {"id", "calls": [{"kind", "turn", "text"}]}: the guard text of every call the scorer makes
//     for it (reward::guard_calls), under the reward settings of --config or the defaults, with
//     --judge, --judge-prompt, --judge-tool-results and --tool-turns over them.
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "chat/message.h"
#include "chat/render.h"
#include "cli/commands.h"
#include "cli/config_file.h"
#include "cli/json_lines.h"
#include "reward/judged_turns.h"
#include "reward/sample.h"
#include "util/error.h"

namespace safrl::cli {
namespace {

struct RenderArgs {
  std::string format;
  std::string config;
  std::string judge, tool_turns;
  bool judge_prompt = false, judge_tool_results = false;
};

// What a score line is judged under: the settings, and how tool turns render.
struct GuardSetup {
  reward::RewardSettings settings;
  chat::RenderOptions options;
};

// An optional boolean switch of a line; absent means `fallback`.
bool switch_of(const nlohmann::json& line, const char* name, bool fallback) {
  auto value = line.find(name);
  if (value == line.end()) return fallback;
  if (!value->is_boolean()) {
    throw util::InputError(util::cat("\"", name, "\" must be true or false, got ", value->dump()));
  }
  return value->get<bool>();
}

bool is_score_line(const nlohmann::json& line) {
  return line.contains("response") || line.contains("answer");
}

nlohmann::json render_messages(chat::ChatFormat format, const nlohmann::json& line) {
  for (const auto& item : line.items()) {
    if (item.key() == "tools") throw util::InputError("\"tools\" is not supported");
    if (item.key() != "messages" && item.key() != "add_generation_prompt" &&
        item.key() != "enable_thinking") {
      throw util::InputError(
          util::cat("unknown field \"", item.key(),
                    "\"; a line has \"messages\" and optionally \"add_generation_prompt\" and "
                    "\"enable_thinking\", or is a score line (with \"response\" or \"answer\")"));
    }
  }
  auto messages = line.find("messages");
  if (messages == line.end()) throw util::InputError("missing field \"messages\"");
  chat::RenderOptions options;
  options.add_generation_prompt =
      switch_of(line, "add_generation_prompt", options.add_generation_prompt);
  options.enable_thinking = switch_of(line, "enable_thinking", options.enable_thinking);
  return {{"text", chat::render(format, chat::messages_from_json(*messages), options)}};
}

nlohmann::json render_score_line(const GuardSetup& setup, const nlohmann::json& line) {
  const reward::Sample sample = reward::sample_from_json(line);
  nlohmann::json calls = nlohmann::json::array();
  for (const reward::GuardCall& call : reward::guard_calls(sample, setup.settings)) {
    calls.push_back(
        {{"kind", reward::guard_call_kind_name(call.kind)},
         {"turn", call.turn},
         {"text", chat::render(chat::ChatFormat::kGuard, call.conversation, setup.options)}});
  }
  return {{"id", sample.id}, {"calls", std::move(calls)}};
}

nlohmann::json render_line(chat::ChatFormat format, const GuardSetup& setup,
                           const nlohmann::json& line) {
  if (!line.is_object()) {
    throw util::InputError(
        util::cat("expected an object {\"messages\": [...]}, got ", line.type_name()));
  }
  if (!is_score_line(line)) return render_messages(format, line);
  if (format != chat::ChatFormat::kGuard) {
    throw util::InputError(
        "a score line (with \"response\" or \"answer\") renders only with --format guard");
  }
  return render_score_line(setup, line);
}

GuardSetup guard_setup(const RenderArgs& args, const CLI::App& command) {
  GuardSetup setup;
  if (!args.config.empty()) {
    const ConfigFile config = load_config_file(args.config);
    setup.settings = config.reward.reward;
    setup.options.tool_turns = config.reward.guard.tool_turns;
  }
  if (!args.judge.empty()) setup.settings.judge = reward::parse_judge_turns(args.judge);
  if (!args.tool_turns.empty()) setup.options.tool_turns = chat::parse_tool_turns(args.tool_turns);
  if (command.count("--judge-prompt") > 0) setup.settings.judge_prompt = args.judge_prompt;
  if (command.count("--judge-tool-results") > 0) {
    setup.settings.judge_tool_results = args.judge_tool_results;
  }
  return setup;
}

}  // namespace

void add_render_command(CLI::App& app, int* exit_code) {
  CLI::App* command = app.add_subcommand(
      "render",
      "Render JSON lines {\"messages\": [...]} to {\"text\": ...} in a chat format, or score "
      "lines to the guard text of each call the scorer makes for them");
  // CLI11 writes the options into this struct during parsing; the callback shares ownership.
  auto args = std::make_shared<RenderArgs>();
  command->add_option("--format", args->format, "guard, qwen3 or chatml")->required();
  command->add_option("--config", args->config,
                      "YAML config whose reward and guard settings score lines are judged under "
                      "(default: the built-in defaults)");
  command->add_option("--judge", args->judge, "score lines: last or all_turns (reward.judge)");
  command->add_flag("--judge-prompt", args->judge_prompt,
                    "score lines: judge the prompt too (reward.judge_prompt; =false turns it off)");
  command->add_flag("--judge-tool-results", args->judge_tool_results,
                    "score lines: judge each tool result (reward.judge_tool_results)");
  command->add_option("--tool-turns", args->tool_turns,
                      "score lines: qwen3 or refuse (guard.tool_turns)");
  command->callback([exit_code, args, command] {
    // The parse_* functions throw InputError for an unknown name; main reports it (exit code 2).
    const chat::ChatFormat format = chat::parse_chat_format(args->format);
    const GuardSetup setup = guard_setup(*args, *command);
    *exit_code = run_json_lines(
        std::cin, std::cout, std::cerr,
        [format, &setup](const nlohmann::json& line) { return render_line(format, setup, line); });
  });
}

}  // namespace safrl::cli
