// The step rows of a `safrl score` output, computed from its lines (earlier runs included) with
// the server's code, so `safrl score` and `safrl score --rescore` write the same rows from the
// same lines: each line's outcome (reward::outcome_from_output) with its within-group duplicate
// marks, the rows in step order, each annotated by the monitors, whose alerts are logged as
// warnings of `component` (util/log.h), as the server logs them.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "reward/config.h"
#include "reward/monitor_inputs.h"
#include "reward/step_stats.h"

namespace safrl::cli {

// `duplicates` by reward::id_key of the line's id (a line without a mark counts as no duplicate);
// `seconds_by_step` the wall time spent on each step (0 where absent).
nlohmann::json score_step_rows(const std::vector<nlohmann::json>& lines,
                               const reward::Config& config,
                               const std::map<std::string, reward::DuplicateMark>& duplicates,
                               std::map<reward::StepKey, double> seconds_by_step,
                               const std::string& component);

}  // namespace safrl::cli
