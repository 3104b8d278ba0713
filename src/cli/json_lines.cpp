#include "cli/json_lines.h"

#include <istream>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace safrl::cli {

int run_json_lines(std::istream& in, std::ostream& out, std::ostream& err,
                   const LineHandler& handle) {
  int exit_code = 0;
  std::string line;
  for (size_t number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::string problem;
    try {
      nlohmann::json parsed = nlohmann::json::parse(line);
      // Non-ASCII text is written as UTF-8; invalid UTF-8 in a result is replaced, not thrown.
      out << handle(parsed).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
      continue;
    } catch (const nlohmann::json::parse_error& e) {
      problem = util::cat("not valid JSON (", e.what(), ")");
    } catch (const util::InputError& e) {
      problem = e.what();
    } catch (const nlohmann::json::type_error& e) {
      problem = util::cat("a field has the wrong type (", e.what(), ")");
    } catch (const nlohmann::json::exception& e) {
      problem = util::cat("not usable JSON (", e.what(), ")");
    }
    err << "line " << number << ": " << problem << '\n';
    out << nlohmann::json{{"error", problem}}.dump() << '\n';
    exit_code = 1;
  }
  out.flush();
  return exit_code;
}

}  // namespace safrl::cli
