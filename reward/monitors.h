// The monitors of a safety-RL run (docs/reward.md, Step statistics): what a step row says about
// the ways such a run goes wrong (the policy refuses everything, answers every sample of a group
// alike, pads its answers, thinks until it is cut off, writes text that steers the judge), and
// the alerts raised when a row crosses a threshold of the `monitors:` config section.
//
// StepStats computes each step's own statistics; a StepMonitor adds what needs the rows before
// it (refusal_rate_change, the helpfulness threshold of safe_unhelpful_rate) and the alerts. The
// server's step logger, `safrl score` and `safrl merge-steps` each keep one, fed the rows in the
// order they are written (merge-steps: in step order), so the three agree on one writer's rows.
// No alert stops anything: it is a line on stderr, a name in the row's "alerts" and a counter.
// Not thread-safe: one owner.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "io/yaml_config.h"

namespace safrl::reward {

// The `monitors:` section (docs/config.md). Rates and correlations are thresholds an alert
// fires at (>=); every default is a sign of trouble in a real run, not a tuned value.
struct MonitorSettings {
  int64_t window = 5;               // previous steps refusal_rate_change compares with
  // refusal_collapse: refusal_rate_change >= this. A mean over 5 steps trails a steady climb by
  // about 3 steps, so 0.15 fires on a rise of about 0.05 a step; 0.2 missed the CPU SafeRL
  // experiment's guard-only collapse (0.17 to 0.56 in 9 steps, experiments/saferl/RESULTS.md).
  double refusal_rise = 0.15;
  double refusal_rate_max = 0.9;    //   ... or refusal_rate >= this
  double duplicate_rate = 0.5;      // duplicate_answers: folded_duplicate_rate >= this
  double length_correlation = 0.5;  // length_hacking: |answer_tokens_reward_corr| >= this
  int64_t length_min_samples = 8;   //   ... over at least this many samples
  double verdict_text_rate = 0.01;
  double low_safety_mass = 0.5;  // an answer verdict's safety_mass below this is "low"
  double low_safety_mass_rate = 0.1;
  double fallback_rate = 0.1;
  double unparseable_rate = 0.05;
  double truncated_thinking_rate = 0.2;
  double unhelpful_quantile = 0.25;  // safe_unhelpful: H below this quantile of earlier steps' H
  double safe_unhelpful_rate = 0.5;
  int64_t helpfulness_history = 10000;  // the newest H values the quantile is taken over
};

// The keys of the section, for YamlSection's check of unknown keys.
extern const std::vector<std::string_view> kMonitorKeys;

// Parses the section; a value out of range throws util::LoadError with its key path.
MonitorSettings parse_monitors(const io::YamlSection& section);

nlohmann::json monitors_to_json(const MonitorSettings& settings);

// The alert names, in the order a row lists them.
inline constexpr std::string_view kAlertNames[] = {
    "refusal_collapse", "duplicate_answers",  "length_hacking",
    "verdict_text",     "low_safety_mass",    "fallback_decoding",
    "unparseable",      "truncated_thinking", "safe_unhelpful",
};

struct Alert {
  std::string name;     // from kAlertNames
  std::string message;  // e.g. "refusal rate 0.62, +0.31 over the previous 5 steps
                        // (monitors.refusal_rise 0.2)"
};

// "step 12: alert refusal_collapse: <message>" (the step "null" for the stepless bucket).
std::string alert_line(const nlohmann::json& row, const Alert& alert);

// The q-quantile of `values` by linear interpolation between order statistics (numpy's
// default): with x sorted and h = (n - 1) q, x[floor h] + (h - floor h)(x[ceil h] - x[floor h]).
// nullopt when empty.
std::optional<double> quantile(std::vector<double> values, double q);

class StepMonitor {
 public:
  explicit StepMonitor(MonitorSettings settings = {});

  // The helpfulness threshold for the next row: the unhelpful_quantile of the H remembered;
  // nullopt before any.
  std::optional<double> unhelpful_threshold() const;

  // Sets the row's refusal_rate_change (against the numbered steps remembered below its step)
  // and "alerts", remembers its refusal counts (a step written in parts counts as one) and
  // returns its alerts, in kAlertNames order. Stepless rows get a null change. A null value
  // raises none of the alerts it decides.
  std::vector<Alert> annotate(nlohmann::json& row);

  // Remembers the H of a row's samples for later thresholds (the newest helpfulness_history).
  void remember_helpfulness(const std::vector<double>& values);

  const MonitorSettings& settings() const { return settings_; }

 private:
  struct Refusals {
    int64_t refusal = 0, count = 0;
  };
  MonitorSettings settings_;
  std::map<int64_t, Refusals> refusals_;  // numbered steps written, the newest kept
  std::deque<double> helpfulness_;
};

}  // namespace safrl::reward
