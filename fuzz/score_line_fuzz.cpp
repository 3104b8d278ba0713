// Feeds arbitrary bytes, as a whole input file, to the line reader of `safrl score`
// (cli::read_score_input) and to the developer subcommands' loop (cli::run_json_lines). Checks,
// beyond not crashing:
//   - every line that is not blank is either a sample or a bad line, once, in order; the blank
//     lines are counted here on their own, by the rule docs/score.md states;
//   - a line read as a sample holds no NUL (which nlohmann takes for the end of the input, so the
//     rest of the line would be dropped unread) and no bytes that are not UTF-8;
//   - a sample has a string or integer id, unique, and its text and `meta` are UTF-8, so the output
//     line that echoes them is written with strict JSON (no replacement needed);
//   - a bad line's message is UTF-8 and its errors-file line dumps with strict JSON;
//   - run_json_lines answers every line that is not blank with one output line of JSON.
// The bounds are scaled down to the size of a fuzz input so that each is reached.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/json_lines.h"
#include "cli/score_input.h"
#include "util/utf8.h"

namespace {

using nlohmann::json;
using safrl::util::utf8::is_valid;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "score_line_fuzz: %s\n", what);
  std::abort();
}

// The lines a reader must answer, by number: LF-separated, the last one without LF included,
// those made only of spaces, tabs and CRs left out.
std::map<size_t, std::string_view> lines_to_answer(std::string_view text) {
  std::map<size_t, std::string_view> lines;
  size_t number = 0;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    ++number;
    if (line.find_first_not_of(" \t\r") != std::string_view::npos) lines.emplace(number, line);
    start = end + 1;
  }
  return lines;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  safrl::cli::LineLimits limits;
  limits.max_bytes = 512;
  limits.max_depth = 8;
  limits.max_values = 64;

  std::istringstream in(text);
  const safrl::cli::ScoreInput input = safrl::cli::read_score_input(in, limits);
  const std::map<size_t, std::string_view> lines = lines_to_answer(text);
  std::vector<size_t> answered;
  std::set<std::string> ids;
  for (const auto& line : input.samples) {
    answered.push_back(line.number);
    // nlohmann reads a NUL as the end of its input: a line read whole holds none.
    const auto raw = lines.find(line.number);
    if (raw == lines.end() || raw->second.find('\0') != std::string_view::npos ||
        !is_valid(raw->second)) {
      fail("a line with a NUL or bytes that are not UTF-8 was read as a sample");
    }
    const auto& sample = line.sample;
    if (!sample.id.is_string() && !sample.id.is_number_integer()) fail("an id of another type");
    if (!ids.insert(safrl::reward::id_key(sample.id)).second) fail("an id used twice");
    bool text_valid = is_valid(sample.answer) && (!sample.thinking || is_valid(*sample.thinking));
    for (const auto& call : sample.tool_calls) {
      text_valid = text_valid && is_valid(call.name) && is_valid(call.arguments);
    }
    for (const auto& message : sample.messages) {
      text_valid = text_valid && is_valid(message.content);
      for (const auto& call : message.tool_calls) {
        text_valid = text_valid && is_valid(call.name) && is_valid(call.arguments);
      }
    }
    if (!text_valid) fail("a sample's text is not UTF-8");
    // Strict: throws type_error 316 if anything echoed is not UTF-8.
    (void)json({{"id", sample.id}, {"meta", sample.meta}}).dump();
  }
  for (const auto& bad : input.bad) {
    answered.push_back(bad.number);
    if (!is_valid(bad.error)) fail("an error message that is not UTF-8");
    (void)json({{"line", bad.number}, {"id", bad.id}, {"error", bad.error}}).dump();
  }
  std::sort(answered.begin(), answered.end());
  std::vector<size_t> expected;
  for (const auto& [number, line] : lines) expected.push_back(number);
  if (answered != expected) fail("a line answered twice, or not at all");

  std::istringstream again(text);
  std::ostringstream out, err;
  safrl::cli::run_json_lines(again, out, err, [](const json& line) { return line; });
  std::istringstream written(out.str());
  size_t count = 0;
  for (std::string line; std::getline(written, line); ++count) (void)json::parse(line);
  if (count != answered.size()) fail("run_json_lines did not answer each line once");
  return 0;
}
