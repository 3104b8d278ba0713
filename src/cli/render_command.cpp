// safrl render --format guard|qwen3|chatml: JSON lines {"messages": [...]} on stdin, one
// {"text": "..."} per line on stdout (a developer tool for checking prompts byte for byte).
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

nlohmann::json render_line(chat::ChatFormat format, const nlohmann::json& line) {
  if (!line.is_object()) {
    throw util::InputError(
        util::cat("expected an object {\"messages\": [...]}, got ", line.type_name()));
  }
  for (const auto& item : line.items()) {
    if (item.key() == "tools") throw util::InputError("\"tools\" is not supported");
    if (item.key() != "messages") {
      throw util::InputError(
          util::cat("unknown field \"", item.key(), "\"; a line has only \"messages\""));
    }
  }
  auto messages = line.find("messages");
  if (messages == line.end()) throw util::InputError("missing field \"messages\"");
  return {{"text", chat::render(format, chat::messages_from_json(*messages))}};
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
