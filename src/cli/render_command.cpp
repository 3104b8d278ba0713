// safrl render --format guard|qwen3|chatml: JSON lines {"messages": [...]} on stdin, one
// {"text": "..."} per line on stdout (a developer tool for checking prompts byte for byte). A line
// may also carry apply_chat_template's "add_generation_prompt" and "enable_thinking" (booleans).
#include <iostream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "chat/message.h"
#include "chat/render.h"
#include "cli/commands.h"
#include "cli/json_lines.h"
#include "util/error.h"

namespace safrl::cli {
namespace {

// An optional boolean switch of a line; absent means `fallback`.
bool switch_of(const nlohmann::json& line, const char* name, bool fallback) {
  auto value = line.find(name);
  if (value == line.end()) return fallback;
  if (!value->is_boolean()) {
    throw util::InputError(util::cat("\"", name, "\" must be true or false, got ", value->dump()));
  }
  return value->get<bool>();
}

nlohmann::json render_line(chat::ChatFormat format, const nlohmann::json& line) {
  if (!line.is_object()) {
    throw util::InputError(
        util::cat("expected an object {\"messages\": [...]}, got ", line.type_name()));
  }
  for (const auto& item : line.items()) {
    if (item.key() == "tools") throw util::InputError("\"tools\" is not supported");
    if (item.key() != "messages" && item.key() != "add_generation_prompt" &&
        item.key() != "enable_thinking") {
      throw util::InputError(util::cat("unknown field \"", item.key(),
                                       "\"; a line has \"messages\" and optionally "
                                       "\"add_generation_prompt\" and \"enable_thinking\""));
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

}  // namespace

void add_render_command(CLI::App& app, int* exit_code) {
  CLI::App* command = app.add_subcommand(
      "render", "Render JSON lines {\"messages\": [...]} to {\"text\": ...} in a chat format");
  // CLI11 writes the option into this string during parsing; the callback shares ownership.
  auto format_name = std::make_shared<std::string>();
  command->add_option("--format", *format_name, "guard, qwen3 or chatml")->required();
  command->callback([exit_code, format_name] {
    // parse_chat_format() throws InputError for an unknown name; main reports it (exit code 2).
    const chat::ChatFormat format = chat::parse_chat_format(*format_name);
    *exit_code =
        run_json_lines(std::cin, std::cout, std::cerr,
                       [format](const nlohmann::json& line) { return render_line(format, line); });
  });
}

}  // namespace safrl::cli
