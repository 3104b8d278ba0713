// safrl merge-steps RUN_DIR|steps.jsonl ... [--out DIR]: the step rows of several servers (the
// replicas of one training run) or of one server that wrote a step in parts (late samples), merged
// into one row per step with the statistics of all its samples (reward/step_stats.h). A step's
// seconds run from the earliest started_at to the latest ended_at of its rows. The rows go to
// DIR/steps.jsonl and DIR/steps.csv (replaced), or to stdout as JSON lines; merged rows merge
// again. Rows written before the prompt, turn and tool-result counts existed merge as zero counts
// of them (StepStats::add_row), so old and new logs of one run merge together.
//
// The monitors (reward/monitors.h) are recomputed on the merged rows, in step order:
// refusal_rate_change against the merged rows before each, and the alerts, with the thresholds of
// --config's `monitors:` section (the defaults without --config); each alert is a line on stderr.
// safe_unhelpful_rate is not judged again: its counts add, each writer having judged its own
// samples against its own threshold (unhelpful_threshold is kept when all the parts used one,
// null otherwise).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/config_file.h"
#include "reward/monitors.h"
#include "reward/step_stats.h"
#include "util/error.h"
#include "util/log.h"

namespace safrl::cli {
namespace {

struct Span {
  double started_at = 0, ended_at = 0;
  double seconds = 0;  // the rows' seconds added, for rows without a wall-clock span
  bool wall_clock = true;
};

std::string steps_file(const std::string& path) {
  if (std::filesystem::is_directory(path)) return path + "/steps.jsonl";
  return path;
}

int merge_steps(const std::vector<std::string>& inputs, const std::string& out_dir,
                const std::string& config_path) {
  const reward::MonitorSettings monitors = config_path.empty()
                                               ? reward::MonitorSettings{}
                                               : load_config_file(config_path).reward.monitors;
  reward::StepMonitor monitor(monitors);
  reward::StepStats stats(monitors.low_safety_mass);
  std::map<reward::StepKey, Span> spans;
  for (const std::string& input : inputs) {
    const std::string path = steps_file(input);
    std::ifstream in(path);
    if (!in) {
      throw util::InputError(
          util::cat("cannot read ", path, "; give run directories or steps.jsonl files"));
    }
    std::string text;
    for (int number = 1; std::getline(in, text); ++number) {
      if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
      try {
        const nlohmann::json row = nlohmann::json::parse(text);
        const reward::StepKey step = stats.add_row(row);
        const bool wall = row.contains("started_at") && row["started_at"].is_number() &&
                          row.contains("ended_at") && row["ended_at"].is_number();
        auto [it, inserted] = spans.try_emplace(step);
        Span& span = it->second;
        if (wall) {
          const double started = row["started_at"].get<double>();
          const double ended = row["ended_at"].get<double>();
          span.started_at = inserted ? started : std::min(span.started_at, started);
          span.ended_at = inserted ? ended : std::max(span.ended_at, ended);
        }
        span.wall_clock = span.wall_clock && wall;
        if (row.contains("seconds") && row["seconds"].is_number()) {
          span.seconds += row["seconds"].get<double>();
        }
      } catch (const nlohmann::json::exception& e) {
        throw util::InputError(
            util::cat(path, " line ", number, ": not a JSON row (", e.what(), ")"));
      } catch (const util::InputError& e) {
        throw util::InputError(util::cat(path, " line ", number, ": ", e.what()));
      }
    }
  }
  std::ofstream jsonl, csv;
  if (!out_dir.empty()) {
    std::filesystem::create_directories(out_dir);
    jsonl.open(out_dir + "/steps.jsonl", std::ios::trunc);
    csv.open(out_dir + "/steps.csv", std::ios::trunc);
    if (!jsonl || !csv) throw util::Error(util::cat("cannot write the step logs in ", out_dir));
    csv << reward::StepStats::csv_header() << '\n';
  }
  for (const reward::StepKey& step : stats.steps()) {
    const Span& span = spans.at(step);
    const double seconds =
        span.wall_clock ? std::max(0.0, span.ended_at - span.started_at) : span.seconds;
    nlohmann::json row = stats.summary(step, seconds);
    if (span.wall_clock) {
      row["started_at"] = span.started_at;
      row["ended_at"] = span.ended_at;
    }
    for (const reward::Alert& alert : monitor.annotate(row)) {
      util::log_warn("merge-steps", reward::alert_line(row, alert));
    }
    if (out_dir.empty()) {
      std::cout << row.dump() << '\n';
    } else {
      jsonl << row.dump() << '\n';
      csv << reward::StepStats::csv_row(row) << '\n';
    }
  }
  if (!out_dir.empty() && (!jsonl.flush() || !csv.flush())) {
    throw util::Error(util::cat("cannot write the step logs in ", out_dir));
  }
  std::cerr << "safrl merge-steps: " << stats.steps().size() << " step(s) from " << inputs.size()
            << " log(s)" << (out_dir.empty() ? "" : " into " + out_dir) << '\n';
  return 0;
}

}  // namespace

void add_merge_steps_command(CLI::App& app, int* exit_code) {
  CLI::App* command = app.add_subcommand(
      "merge-steps",
      "Merge the step logs of several servers (or a step written in parts) into one row per step");
  auto inputs = std::make_shared<std::vector<std::string>>();
  auto out_dir = std::make_shared<std::string>();
  auto config = std::make_shared<std::string>();
  command->add_option("logs", *inputs, "run directories (their steps.jsonl) or steps.jsonl files")
      ->required();
  command->add_option("--out", *out_dir,
                      "write DIR/steps.jsonl and DIR/steps.csv (replaced) instead of stdout");
  command
      ->add_option("--config", *config,
                   "YAML config whose monitors: section sets the alert thresholds (defaults "
                   "without it)")
      ->check(CLI::ExistingFile);
  command->callback([inputs, out_dir, config, exit_code] {
    *exit_code = merge_steps(*inputs, *out_dir, *config);
  });
}

}  // namespace safrl::cli
