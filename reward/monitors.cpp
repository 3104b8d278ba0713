#include "reward/monitors.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace safrl::reward {
namespace {

// A number as an alert line shows it: three significant digits.
std::string shown(double value) {
  std::ostringstream out;
  out << std::setprecision(3) << value;
  return out.str();
}

// A rate field of a row; nullopt when absent or null.
std::optional<double> number_at(const nlohmann::json& row, const char* key) {
  auto it = row.find(key);
  if (it == row.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

int64_t sum_count(const nlohmann::json& row, const char* object, const char* key) {
  auto sums = row.find("sums");
  if (sums == row.end() || !sums->is_object()) return 0;
  auto part = sums->find(object);
  if (part == sums->end() || !part->is_object()) return 0;
  auto it = part->find(key);
  return it != part->end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

// The alerts decided by one rate field: `field` >= `threshold`.
struct RateAlert {
  const char* name;
  const char* field;
  double MonitorSettings::*threshold;
  const char* key;   // the config key of the threshold
  const char* what;  // how the message names the rate
};

constexpr RateAlert kDuplicateAlert = {"duplicate_answers", "folded_duplicate_rate",
                                       &MonitorSettings::duplicate_rate, "duplicate_rate",
                                       "duplicate answers within groups (after folding)"};
// The rate alerts after length_hacking, in kAlertNames order.
constexpr RateAlert kRateAlerts[] = {
    {"verdict_text", "verdict_text_rate", &MonitorSettings::verdict_text_rate, "verdict_text_rate",
     "samples whose judged text carries verdict or guard-template text"},
    {"low_safety_mass", "low_safety_mass_rate", &MonitorSettings::low_safety_mass_rate,
     "low_safety_mass_rate", "answer verdicts with a low safety_mass"},
    {"fallback_decoding", "fallback_rate", &MonitorSettings::fallback_rate, "fallback_rate",
     "answer verdicts decoded by the fallback"},
    {"unparseable", "unparseable_rate", &MonitorSettings::unparseable_rate, "unparseable_rate",
     "unparseable guard outputs"},
    {"truncated_thinking", "truncated_thinking_rate", &MonitorSettings::truncated_thinking_rate,
     "truncated_thinking_rate", "samples whose thinking was cut off"},
    {"safe_unhelpful", "safe_unhelpful_rate", &MonitorSettings::safe_unhelpful_rate,
     "safe_unhelpful_rate", "safe, non-refusing answers below the helpfulness threshold"},
};

// The alerts of a row whose refusal_rate_change was computed over `previous` steps, in
// kAlertNames order.
std::vector<Alert> alerts_of(const nlohmann::json& row, const MonitorSettings& settings,
                             size_t previous) {
  std::vector<Alert> alerts;
  const std::optional<double> refusal = number_at(row, "refusal_rate");
  const std::optional<double> change = number_at(row, "refusal_rate_change");
  if (refusal && change && *change >= settings.refusal_rise) {
    alerts.push_back({"refusal_collapse",
                      util::cat("refusal rate ", shown(*refusal), ", +", shown(*change),
                                " over the previous ", previous, " step", previous == 1 ? "" : "s",
                                " (monitors.refusal_rise ", shown(settings.refusal_rise), ")")});
  } else if (refusal && *refusal >= settings.refusal_rate_max) {
    alerts.push_back({"refusal_collapse",
                      util::cat("refusal rate ", shown(*refusal), " (monitors.refusal_rate_max ",
                                shown(settings.refusal_rate_max), ")")});
  }
  auto rate_alert = [&](const RateAlert& rate) {
    const std::optional<double> value = number_at(row, rate.field);
    const double threshold = settings.*rate.threshold;
    if (value && *value >= threshold) {
      alerts.push_back({rate.name, util::cat(shown(*value), " ", rate.what, " (monitors.", rate.key,
                                             " ", shown(threshold), ")")});
    }
  };
  rate_alert(kDuplicateAlert);
  const std::optional<double> corr = number_at(row, "answer_tokens_reward_corr");
  const int64_t n = sum_count(row, "answer_tokens_reward", "n");
  if (corr && n >= settings.length_min_samples && std::abs(*corr) >= settings.length_correlation) {
    alerts.push_back(
        {"length_hacking", util::cat("corr(answer tokens, reward) ", shown(*corr), " over ", n,
                                     " samples (monitors.length_correlation ",
                                     shown(settings.length_correlation), ")")});
  }
  for (const RateAlert& rate : kRateAlerts) rate_alert(rate);
  return alerts;
}

// A threshold that is a fraction.
double fraction(const io::YamlValue& value, bool zero_allowed) {
  const double x = value.number();
  if (x < 0 || x > 1 || (!zero_allowed && x == 0)) {
    value.fail(zero_allowed ? "must be in [0, 1]" : "must be in (0, 1]");
  }
  return x;
}

}  // namespace

const std::vector<std::string_view> kMonitorKeys = {
    "window",
    "refusal_rise",
    "refusal_rate_max",
    "duplicate_rate",
    "length_correlation",
    "length_min_samples",
    "verdict_text_rate",
    "low_safety_mass",
    "low_safety_mass_rate",
    "fallback_rate",
    "unparseable_rate",
    "truncated_thinking_rate",
    "unhelpful_quantile",
    "safe_unhelpful_rate",
    "helpfulness_history",
};

MonitorSettings parse_monitors(const io::YamlSection& s) {
  MonitorSettings m;
  if (auto v = s.get("window")) m.window = v->positive_integer();
  if (auto v = s.get("length_min_samples")) {
    m.length_min_samples = v->positive_integer();
    if (m.length_min_samples < 2) v->fail("must be 2 or more (a correlation needs two values)");
  }
  if (auto v = s.get("helpfulness_history")) m.helpfulness_history = v->positive_integer();
  // A rise of 0 or a rate threshold of 0 would fire on every step: thresholds are in (0, 1].
  for (auto [key, into] : {std::pair{"refusal_rise", &m.refusal_rise},
                           std::pair{"refusal_rate_max", &m.refusal_rate_max},
                           std::pair{"duplicate_rate", &m.duplicate_rate},
                           std::pair{"length_correlation", &m.length_correlation},
                           std::pair{"verdict_text_rate", &m.verdict_text_rate},
                           std::pair{"low_safety_mass_rate", &m.low_safety_mass_rate},
                           std::pair{"fallback_rate", &m.fallback_rate},
                           std::pair{"unparseable_rate", &m.unparseable_rate},
                           std::pair{"truncated_thinking_rate", &m.truncated_thinking_rate},
                           std::pair{"safe_unhelpful_rate", &m.safe_unhelpful_rate}}) {
    if (auto v = s.get(key)) *into = fraction(*v, false);
  }
  if (auto v = s.get("low_safety_mass")) m.low_safety_mass = fraction(*v, true);
  if (auto v = s.get("unhelpful_quantile")) m.unhelpful_quantile = fraction(*v, true);
  return m;
}

nlohmann::json monitors_to_json(const MonitorSettings& m) {
  return {{"window", m.window},
          {"refusal_rise", m.refusal_rise},
          {"refusal_rate_max", m.refusal_rate_max},
          {"duplicate_rate", m.duplicate_rate},
          {"length_correlation", m.length_correlation},
          {"length_min_samples", m.length_min_samples},
          {"verdict_text_rate", m.verdict_text_rate},
          {"low_safety_mass", m.low_safety_mass},
          {"low_safety_mass_rate", m.low_safety_mass_rate},
          {"fallback_rate", m.fallback_rate},
          {"unparseable_rate", m.unparseable_rate},
          {"truncated_thinking_rate", m.truncated_thinking_rate},
          {"unhelpful_quantile", m.unhelpful_quantile},
          {"safe_unhelpful_rate", m.safe_unhelpful_rate},
          {"helpfulness_history", m.helpfulness_history}};
}

std::string alert_line(const nlohmann::json& row, const Alert& alert) {
  auto step = row.find("step");
  return util::cat("step ", step == row.end() ? "null" : step->dump(), ": alert ", alert.name, ": ",
                   alert.message);
}

std::optional<double> quantile(std::vector<double> values, double q) {
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  const double h = static_cast<double>(values.size() - 1) * q;
  const size_t lo = static_cast<size_t>(std::floor(h));
  const size_t hi = std::min(values.size() - 1, lo + 1);
  return values[lo] + (h - static_cast<double>(lo)) * (values[hi] - values[lo]);
}

StepMonitor::StepMonitor(MonitorSettings settings) : settings_(settings) {}

std::optional<double> StepMonitor::unhelpful_threshold() const {
  return quantile({helpfulness_.begin(), helpfulness_.end()}, settings_.unhelpful_quantile);
}

std::vector<Alert> StepMonitor::annotate(nlohmann::json& row) {
  auto step_it = row.find("step");
  const bool numbered = step_it != row.end() && step_it->is_number_integer();
  size_t previous = 0;
  nlohmann::json change = nullptr;
  if (numbered) {
    const int64_t step = step_it->get<int64_t>();
    // The newest `window` steps below this one; a step written before in parts is not its own
    // predecessor.
    double sum = 0;
    for (auto it = refusals_.lower_bound(step);
         it != refusals_.begin() && previous < static_cast<size_t>(settings_.window);) {
      --it;
      if (it->second.count == 0) continue;
      sum += static_cast<double>(it->second.refusal) / static_cast<double>(it->second.count);
      ++previous;
    }
    const std::optional<double> refusal = number_at(row, "refusal_rate");
    if (refusal && previous > 0) change = *refusal - sum / static_cast<double>(previous);
    Refusals& seen = refusals_[step];
    auto sums = row.find("sums");
    if (sums != row.end() && sums->is_object() && row.value("count", int64_t{0}) > 0) {
      seen.refusal += sums->value("refusal", int64_t{0});
      seen.count += row.value("count", int64_t{0});
    }
    // Only the newest steps are ever compared with; keep a bounded number of them.
    const size_t keep = static_cast<size_t>(settings_.window) + 64;
    while (refusals_.size() > keep) refusals_.erase(refusals_.begin());
  }
  row["refusal_rate_change"] = change;
  std::vector<Alert> alerts = alerts_of(row, settings_, previous);
  nlohmann::json names = nlohmann::json::array();
  for (const Alert& alert : alerts) names.push_back(alert.name);
  row["alerts"] = std::move(names);
  return alerts;
}

void StepMonitor::remember_helpfulness(const std::vector<double>& values) {
  for (double value : values) {
    helpfulness_.push_back(value);
    if (helpfulness_.size() > static_cast<size_t>(settings_.helpfulness_history)) {
      helpfulness_.pop_front();
    }
  }
}

}  // namespace safrl::reward
