#include "cli/rescore.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/config_file.h"
#include "cli/json_lines.h"
#include "cli/score_input.h"
#include "cli/score_record.h"
#include "cli/score_stats.h"
#include "reward/rescore.h"
#include "util/error.h"
#include "util/log.h"
#include "util/sha256.h"

namespace safrl::cli {
namespace {

// The lines of a `safrl score` output; a torn last line (a run still going, or killed) is refused.
std::vector<nlohmann::json> read_output_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw util::Error(util::cat("cannot open --rescore ", path));
  const std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!content.empty() && content.back() != '\n') {
    throw util::Error(util::cat(path,
                                " ends in a torn line (an interrupted write, or a run still "
                                "writing); finish it first by running the same safrl score again"));
  }
  // A scored line holds its input's meta and a few dozen values more.
  LineLimits limits;
  limits.max_values *= 2;
  std::istringstream text(content);
  LineReader reader(text, limits.max_bytes);
  std::vector<nlohmann::json> lines;
  for (RawLine raw; reader.next(raw);) {
    try {
      lines.push_back(parse_json_line(raw, limits));
    } catch (const util::InputError& e) {
      throw util::InputError(util::cat(path, " line ", raw.number, ": ", e.what()));
    }
  }
  return lines;
}

std::string absolute(const std::string& path) {
  return std::filesystem::absolute(path).lexically_normal().string();
}

// Writes `text` to `path` in one rename, so a crash leaves no half-written output.
void write_whole(const std::string& path, const std::string& text) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) throw util::Error(util::cat("cannot write ", temporary));
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    throw util::Error(util::cat("cannot rename ", temporary, " to ", path));
  }
}

// The input that the rescored output was scored from, as its record names it, when it is still
// there unchanged; otherwise why not.
struct RecordedInput {
  std::string path, sha256;
  std::string why_not;  // empty when path is usable
};

RecordedInput recorded_input(const std::string& rescored) {
  const std::string record_path = score_record_path(rescored);
  RecordedInput input;
  nlohmann::json record;
  try {
    record = read_score_record(record_path);
  } catch (const util::Error& e) {
    input.why_not = e.what();
    return input;
  }
  if (record.is_null()) {
    input.why_not = util::cat(record_path, " is missing");
    return input;
  }
  input.path = record["input"]["path"].get<std::string>();
  input.sha256 = record["input"]["sha256"].get<std::string>();
  std::error_code error;
  if (!std::filesystem::is_regular_file(input.path, error)) {
    input.why_not = util::cat("the input it records, ", input.path, ", is gone");
  } else if (util::sha256_file_hex(input.path) != input.sha256) {
    input.why_not = util::cat("the input it records, ", input.path, ", has changed since");
  }
  return input;
}

// The monitors' within-group duplicate marks need the answers, which the lines do not hold: they
// are read from the recorded input (as `safrl score` marks them); without it none is marked, and
// the reason is said.
std::map<std::string, reward::DuplicateMark> duplicate_marks(const RecordedInput& input) {
  if (!input.why_not.empty()) {
    util::log_warn("score", util::cat("--rescore: ", input.why_not,
                                      ", so no answer is marked as a within-group duplicate (the "
                                      "lines do not hold the answers); duplicate_rate and "
                                      "folded_duplicate_rate read 0"));
    return {};
  }
  std::ifstream in(input.path, std::ios::binary);
  return duplicate_marks_by_id(read_score_input(in).samples);
}

}  // namespace

int run_rescore(const RescoreArgs& args) {
  reward::Config config = load_config_file(args.config).reward;
  if (!args.reward.empty()) reward::override_reward_type(config, args.reward);
  // --dtype enters the models hash as it did when scoring; the device does not, and no model
  // runs, so none is checked.
  RuntimeFlags runtime = args.runtime;
  runtime.device.clear();
  config.runtime.device = "cpu";
  // No OpenMP default of its own (std::nullopt): no model runs, so no reason to run again.
  apply_runtime_flags(&runtime, config, std::nullopt);

  if (!args.output.empty()) {
    std::error_code error;
    if (std::filesystem::equivalent(args.output, args.rescore, error)) {
      throw util::Error(util::cat("--output ", args.output,
                                  " is the file being rescored; give another --output"));
    }
    if (std::filesystem::exists(args.output) && !args.overwrite) {
      throw util::Error(util::cat("--output ", args.output,
                                  " exists; add --overwrite to replace it, or give another "
                                  "--output"));
    }
  }

  const std::vector<nlohmann::json> lines = read_output_lines(args.rescore);
  const RecordedInput input = recorded_input(args.rescore);
  const reward::Rescorer rescorer(config);
  std::vector<nlohmann::json> rescored;
  rescored.reserve(lines.size());
  // Line numbers count every line; the output has no blank ones, so they are the indices + 1.
  size_t number = 0;
  for (const nlohmann::json& line : lines) {
    ++number;
    try {
      rescored.push_back(rescorer.rescore(line));
    } catch (const util::InputError& e) {
      throw util::InputError(util::cat(args.rescore, " line ", number, " cannot be rescored under ",
                                       args.config, ": ", e.what()));
    }
  }

  std::string text;
  for (const nlohmann::json& line : rescored) text += dump_line(line) + '\n';
  if (args.output.empty()) {
    std::cout << text << std::flush;
  } else {
    write_whole(args.output, text);
    // What made the output: the input the rescored file was scored from (else that file) and the
    // new settings, as a fresh `safrl score` of it would record; a later `safrl score` into the
    // output resumes it only with that input and config.
    const bool known = input.why_not.empty();
    write_score_record(
        score_record_path(args.output),
        make_score_record(known ? input.path : absolute(args.rescore),
                          known ? input.sha256 : util::sha256_file_hex(args.rescore),
                          absolute(args.config), reward::scoring_settings_json(config)));
  }

  // No model ran: no time is attributed to a step (seconds 0, samples_per_s null).
  const nlohmann::json summaries =
      score_step_rows(rescored, config, duplicate_marks(input), {}, "score");
  for (const auto& summary : summaries) std::cerr << "step " << summary.dump() << '\n';
  if (!args.stats_out.empty()) {
    std::ofstream stats_file(args.stats_out, std::ios::trunc);
    if (!stats_file) throw util::Error(util::cat("cannot write --stats-out ", args.stats_out));
    stats_file << summaries.dump(2) << '\n';
  }
  // The command's result, not a log line: plain, as `safrl score`'s closing summary.
  std::cerr << "safrl score --rescore: " << rescored.size() << " lines of " << args.rescore
            << " rescored under " << args.config << " (no model loaded)"
            << (args.output.empty() ? "" : util::cat("; written to ", args.output)) << '\n';
  return 0;
}

}  // namespace safrl::cli
