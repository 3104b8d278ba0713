// Reading JSON lines that a user wrote, and the JSON-lines loop of the developer subcommands
// (forward, tokenize, render).
//
// Nothing on a line can stop the reader: a line is read within a byte bound (a longer one is
// skipped, not held), checked to be UTF-8, and parsed with nlohmann's iterative SAX parser within
// a depth and a value-count bound (util/bounded_json.h; keys count as values), so a line nested
// 100,000 deep or holding millions of values is refused before it is built (the DOM's copy and
// dump recurse, and would overflow the stack).
// Every refusal is a util::InputError whose message is valid UTF-8 and never quotes the raw bytes,
// so it can itself be written as JSON. Pure functions and a reader that owns no stream.
#pragma once

#include <cstddef>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace safrl::cli {

// What one line may hold. The defaults take every sample the server takes (its frames and `meta`
// are smaller and shallower) and bound what one line costs to its bytes and about 64 MB of tree.
struct LineLimits {
  size_t max_bytes = size_t{64} << 20;  // longer lines are skipped while read, never held
  size_t max_depth = 64;                // nesting of arrays and objects; the line's own counts
  size_t max_values = 1'000'000;  // values of any kind and keys: 16 to 64 bytes each once built
};

// One line of the input. `number` counts from 1 and counts every line, blank ones included.
struct RawLine {
  size_t number = 0;
  std::string text;     // without its newline and a CR before it; empty when too long
  size_t too_long = 0;  // the line's length in bytes when it exceeded LineLimits::max_bytes
};

// Splits a stream into lines: LF-terminated, a CR before the LF dropped, the last line read even
// without a newline. Blank lines (spaces, tabs) are skipped.
class LineReader {
 public:
  LineReader(std::istream& in, size_t max_bytes) : in_(in), max_bytes_(max_bytes) {}
  // False at the end of the input.
  bool next(RawLine& line);

 private:
  std::istream& in_;
  size_t max_bytes_;
  size_t number_ = 0;
};

// Parses one line. Throws util::InputError saying what is wrong (too long, not UTF-8 and where,
// not JSON and where, too deep, too many values).
nlohmann::json parse_json_line(const RawLine& line, const LineLimits& limits);

// The loop: each line is parsed and handed to `handle`, whose result is written as one output
// line. A line that parse_json_line refuses, or for which `handle` throws util::InputError or a
// JSON error, is reported on `err` as "line N: <what is wrong>" and answered with
// {"error": "..."} so output line i still belongs to input line i; the loop goes on. Returns the
// exit code: 0 when every line succeeded, 1 otherwise.
using LineHandler = std::function<nlohmann::json(const nlohmann::json& line)>;

int run_json_lines(std::istream& in, std::ostream& out, std::ostream& err,
                   const LineHandler& handle);

// `value` as one line of JSON that never throws: text that is not UTF-8 (which a reader of
// user input never lets through, but a model's output might hold) is replaced by U+FFFD.
std::string dump_line(const nlohmann::json& value);

}  // namespace safrl::cli
