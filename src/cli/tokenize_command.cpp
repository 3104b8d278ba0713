// safrl tokenize --tokenizer DIR [--decode | --stream]
//
// JSON lines on stdin, one answer line per input line on stdout:
//   {"text": "..."}  ->  {"ids": [...]}        (special tokens written in the text are recognised)
//   with --decode:
//   {"ids": [...]}   ->  {"text": "..."}       (special tokens kept as text)
//   with --stream (the Qwen3Guard-Stream input, chat/stream_input.h, docs/stream-guard.md):
//   {"messages": [...]}  ->  {"ids", "query_begin", "query_end", "response_begin",
//                             "response_offsets": [[begin, end], ...]}
// A bad line (missing field, wrong type, unknown id) is reported as "line N: ..." on stderr and
// answered with {"error": "..."}; see cli/json_lines.h.
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "chat/message.h"
#include "chat/stream_input.h"
#include "cli/commands.h"
#include "cli/json_lines.h"
#include "io/json_reader.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace safrl::cli {
namespace {

using nlohmann::json;

struct TokenizeOptions {
  std::string tokenizer_dir;  // directory with tokenizer.json (and tokenizer_config.json)
  bool decode = false;        // ids -> text instead of text -> ids
  bool stream = false;        // messages -> the Stream guard's ids and spans
};

const json& require_field(const json& line, const char* field, const char* example) {
  if (!line.is_object() || !line.contains(field)) {
    throw util::InputError(util::cat("missing field \"", field, "\" (expected ", example, ")"));
  }
  return line[field];
}

json encode_line(const tokenizer::Tokenizer& tokenizer, const json& line) {
  const json& text = require_field(line, "text", R"({"text": "..."})");
  if (!text.is_string()) {
    throw util::InputError(util::cat("field \"text\" must be a string, got ", text.type_name()));
  }
  return json{{"ids", tokenizer.encode(text.get_ref<const std::string&>())}};
}

json decode_line(const tokenizer::Tokenizer& tokenizer, const json& line) {
  const json& ids = require_field(line, "ids", R"({"ids": [1, 2, 3]})");
  if (!ids.is_array()) {
    throw util::InputError(
        util::cat("field \"ids\" must be an array of token ids, got ", ids.type_name()));
  }
  std::vector<int32_t> values;
  values.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    const json& id = ids[i];
    if (!id.is_number_integer()) {
      throw util::InputError(util::cat("ids[", i, "] = ", id.dump(), " is not an integer"));
    }
    const int64_t value = id.get<int64_t>();
    if (value < 0 || value >= tokenizer.vocab_size()) {
      throw util::InputError(util::cat("ids[", i, "] = ", id.dump(),
                                       " is not a token id (the vocabulary has ids 0..",
                                       tokenizer.vocab_size() - 1, ")"));
    }
    values.push_back(static_cast<int32_t>(value));
  }
  return json{{"text", tokenizer.decode(values, false)}};
}

json stream_line(const tokenizer::Tokenizer& tokenizer, const json& line) {
  const io::JsonReader reader(line, io::throw_as<util::InputError>());
  reader.allow_keys({"messages"}, R"(--stream reads lines {"messages": [...]})");
  const chat::StreamInput input = chat::stream_input(
      tokenizer, chat::read_messages(reader.at("messages")), chat::ToolTurns::kQwen3);
  return json{{"ids", input.ids},
              {"query_begin", input.query_begin},
              {"query_end", input.query_end},
              {"response_begin", input.response_begin},
              {"response_offsets", input.response_offsets}};
}

}  // namespace

void add_tokenize_command(CLI::App& app, int* exit_code) {
  auto options = std::make_shared<TokenizeOptions>();
  CLI::App* command = app.add_subcommand(
      "tokenize",
      "Tokenize JSON lines {\"text\": ...} into {\"ids\": [...]}, or back with --decode");
  command
      ->add_option("--tokenizer", options->tokenizer_dir,
                   "Directory with tokenizer.json (and tokenizer_config.json)")
      ->required();
  command->add_flag("--decode", options->decode,
                    "Read {\"ids\": [...]} and write {\"text\": ...}, special tokens kept");
  command
      ->add_flag("--stream", options->stream,
                 "Read {\"messages\": [...]} and write the Qwen3Guard-Stream input: ids, query "
                 "and response spans, response byte offsets")
      ->excludes("--decode");
  command->callback([options, exit_code] {
    const auto tokenizer = tokenizer::Tokenizer::load(options->tokenizer_dir);
    const bool decode = options->decode;
    const bool stream = options->stream;
    *exit_code = run_json_lines(std::cin, std::cout, std::cerr, [&](const json& line) {
      if (stream) return stream_line(*tokenizer, line);
      return decode ? decode_line(*tokenizer, line) : encode_line(*tokenizer, line);
    });
  });
}

}  // namespace safrl::cli
