#include "cli/score_stats.h"

#include "reward/monitors.h"
#include "reward/score_line.h"
#include "util/log.h"

namespace safrl::cli {

nlohmann::json score_step_rows(const std::vector<nlohmann::json>& lines,
                               const reward::Config& config,
                               const std::map<std::string, reward::DuplicateMark>& duplicates,
                               std::map<reward::StepKey, double> seconds_by_step,
                               const std::string& component) {
  reward::StepStats stats(config.monitors.low_safety_mass);
  for (const auto& line : lines) {
    reward::SampleOutcome outcome = reward::outcome_from_output(line, config.reward);
    if (auto mark = duplicates.find(reward::id_key(line["id"])); mark != duplicates.end()) {
      outcome.duplicate = mark->second.exact;
      outcome.folded_duplicate = mark->second.folded;
    }
    stats.add(outcome);
  }
  // The rows as the server writes them: in step order, each annotated by the monitor.
  reward::StepMonitor monitor(config.monitors);
  nlohmann::json summaries = nlohmann::json::array();
  for (const reward::StepKey& step : stats.steps()) {
    nlohmann::json summary =
        stats.summary(step, seconds_by_step[step], monitor.unhelpful_threshold());
    for (const reward::Alert& alert : monitor.annotate(summary)) {
      util::log_warn(component, reward::alert_line(summary, alert));
    }
    monitor.remember_helpfulness(stats.helpfulness_values(step));
    summaries.push_back(std::move(summary));
  }
  return summaries;
}

}  // namespace safrl::cli
