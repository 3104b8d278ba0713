// The JSON-lines loop shared by the developer subcommands (forward, tokenize, render).
//
// Each input line is parsed and handed to `handle`, whose result is written as one output line.
// A line that is not JSON, or for which `handle` throws util::InputError, is reported on `err`
// as "line N: <what is wrong>" and answered with {"error": "..."} so output line i still
// belongs to input line i; the loop goes on. Blank lines are skipped. Returns the exit code:
// 0 when every line succeeded, 1 otherwise.
#pragma once

#include <functional>
#include <iosfwd>

#include <nlohmann/json_fwd.hpp>

namespace safrl::cli {

using LineHandler = std::function<nlohmann::json(const nlohmann::json& line)>;

int run_json_lines(std::istream& in, std::ostream& out, std::ostream& err,
                   const LineHandler& handle);

}  // namespace safrl::cli
