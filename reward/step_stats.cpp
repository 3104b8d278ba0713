#include "reward/step_stats.h"

#include <algorithm>
#include <cmath>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include "util/error.h"

namespace safrl::reward {
namespace {

constexpr std::string_view kCategoryColumnPrefix = "unsafe_rate_";

// The columns before and after the per-category ones, in steps.csv order.
constexpr std::string_view kLeadingColumns[] = {
    "step", "count", "safety_rate", "refusal_rate", "controversial_rate", "unparseable_rate",
};
constexpr std::string_view kTrailingColumns[] = {
    "helpfulness_mean", "helpfulness_std", "helpfulness_min", "helpfulness_max",
    "reward_mean",      "reward_std",      "reward_min",      "reward_max",
    "tokens",           "seconds",         "samples_per_s",
};

size_t category_index(std::string_view name) {
  auto it = std::find(kPromptCategories.begin(), kPromptCategories.end(), name);
  return it == kPromptCategories.end() ? kPromptCategories.size()
                                       : static_cast<size_t>(it - kPromptCategories.begin());
}

void add_unique(std::vector<std::string>& names, const std::string& name) {
  if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
}

// A rate of `part` in `count`; null for an empty step.
nlohmann::json rate(int64_t part, int64_t count) {
  if (count == 0) return nullptr;
  return static_cast<double>(part) / static_cast<double>(count);
}

// <prefix>_mean/std/min/max of `values` into `out`: two passes (mean, then the mean squared
// deviation), population std; nulls when there are no values.
void describe(const std::vector<double>& values, const std::string& prefix, nlohmann::json& out) {
  if (values.empty()) {
    for (const char* stat : {"_mean", "_std", "_min", "_max"}) out[prefix + stat] = nullptr;
    return;
  }
  Eigen::Map<const Eigen::ArrayXd> x(values.data(), static_cast<Eigen::Index>(values.size()));
  const double mean = x.mean();
  out[prefix + "_mean"] = mean;
  out[prefix + "_std"] = std::sqrt((x - mean).square().mean());
  out[prefix + "_min"] = x.minCoeff();
  out[prefix + "_max"] = x.maxCoeff();
}

}  // namespace

SampleOutcome make_outcome(int64_t step, const RewardSettings& settings,
                           const std::optional<Verdict>& answer,
                           const std::optional<Verdict>& thinking, const RewardResult& result,
                           std::optional<double> helpfulness, int64_t tokens) {
  SampleOutcome outcome;
  outcome.step = step;
  outcome.safe = result.safe;
  outcome.refusal = result.refusal;
  outcome.unparseable = result.reward_case == kCaseUnparseable;
  outcome.helpfulness = helpfulness;
  outcome.reward = result.reward;
  outcome.tokens = tokens;
  for (const std::optional<Verdict>* verdict : {&answer, &thinking}) {
    if (!verdict->has_value()) continue;
    if (verdict == &thinking && !settings.judge_thinking) continue;
    const Verdict& judged = **verdict;
    if (judged.safety == Safety::kControversial) outcome.controversial = true;
    if (counts_as_unsafe(settings, judged)) {
      for (const std::string& category : judged.categories) {
        add_unique(outcome.unsafe_categories, category);
      }
    }
  }
  return outcome;
}

void StepStats::add(const SampleOutcome& outcome) {
  // Validate everything first so that a refused outcome leaves the step untouched.
  std::vector<size_t> categories;
  for (const std::string& name : outcome.unsafe_categories) {
    size_t index = category_index(name);
    if (index == kPromptCategories.size()) {
      throw util::InputError(util::cat("step statistics: unknown unsafe category \"", name, "\""));
    }
    if (std::find(categories.begin(), categories.end(), index) == categories.end()) {
      categories.push_back(index);
    }
  }
  if (outcome.helpfulness && !std::isfinite(*outcome.helpfulness)) {
    throw util::InputError(
        util::cat("step statistics: helpfulness ", *outcome.helpfulness, " is not finite"));
  }
  if (!std::isfinite(outcome.reward)) {
    throw util::InputError(util::cat("step statistics: reward ", outcome.reward, " is not finite"));
  }
  if (outcome.tokens < 0) {
    throw util::InputError(util::cat("step statistics: negative token count ", outcome.tokens));
  }

  Step& step = steps_[outcome.step];
  ++step.count;
  step.safe += outcome.safe;
  step.refusal += outcome.refusal;
  step.controversial += outcome.controversial;
  step.unparseable += outcome.unparseable;
  for (size_t index : categories) ++step.unsafe_by_category[index];
  if (outcome.helpfulness) step.helpfulness.push_back(*outcome.helpfulness);
  step.rewards.push_back(outcome.reward);
  step.tokens += outcome.tokens;
}

nlohmann::json StepStats::summary(int64_t step, double seconds) const {
  if (!std::isfinite(seconds) || seconds < 0) {
    throw util::InputError(
        util::cat("step statistics: seconds must be finite and >= 0, got ", seconds));
  }
  static const Step kEmpty;
  auto it = steps_.find(step);
  const Step& s = it == steps_.end() ? kEmpty : it->second;

  nlohmann::json out;
  out["step"] = step;
  out["count"] = s.count;
  out["safety_rate"] = rate(s.safe, s.count);
  out["refusal_rate"] = rate(s.refusal, s.count);
  out["controversial_rate"] = rate(s.controversial, s.count);
  out["unparseable_rate"] = rate(s.unparseable, s.count);
  nlohmann::json by_category = nlohmann::json::object();
  for (size_t i = 0; i < kPromptCategories.size(); ++i) {
    by_category[std::string(kPromptCategories[i])] = rate(s.unsafe_by_category[i], s.count);
  }
  out["unsafe_rate_by_category"] = std::move(by_category);
  describe(s.helpfulness, "helpfulness", out);
  describe(s.rewards, "reward", out);
  out["tokens"] = s.tokens;
  out["seconds"] = seconds;
  out["samples_per_s"] =
      seconds > 0 ? nlohmann::json(static_cast<double>(s.count) / seconds) : nlohmann::json();
  return out;
}

std::vector<int64_t> StepStats::steps() const {
  std::vector<int64_t> steps;
  steps.reserve(steps_.size());
  for (const auto& entry : steps_) steps.push_back(entry.first);
  return steps;
}

void StepStats::clear(int64_t step) {
  steps_.erase(step);
}

std::vector<std::string> StepStats::csv_columns() {
  std::vector<std::string> columns(std::begin(kLeadingColumns), std::end(kLeadingColumns));
  for (std::string_view category : kPromptCategories) {
    columns.push_back(util::cat(kCategoryColumnPrefix, category));
  }
  columns.insert(columns.end(), std::begin(kTrailingColumns), std::end(kTrailingColumns));
  return columns;
}

std::string StepStats::csv_header() {
  std::string header;
  for (const std::string& column : csv_columns()) {
    header += header.empty() ? "" : ",";
    header += column;
  }
  return header;
}

std::string StepStats::csv_row(const nlohmann::json& summary) {
  // Category names hold spaces but no comma or quote, and every cell is a number or empty, so
  // nothing needs CSV quoting.
  auto by_category_it = summary.find("unsafe_rate_by_category");
  if (by_category_it == summary.end() || !by_category_it->is_object()) {
    throw util::InputError("csv_row: the summary has no object \"unsafe_rate_by_category\"");
  }
  const nlohmann::json& by_category = *by_category_it;
  std::string row;
  bool first = true;
  for (const std::string& column : csv_columns()) {
    const bool per_category = column.rfind(kCategoryColumnPrefix, 0) == 0;
    const nlohmann::json& source = per_category ? by_category : summary;
    const std::string key = per_category ? column.substr(kCategoryColumnPrefix.size()) : column;
    auto it = source.find(key);
    if (it == source.end()) {
      throw util::InputError(util::cat("csv_row: the summary has no field \"", key, "\""));
    }
    row += first ? "" : ",";
    first = false;
    if (!it->is_null()) row += it->dump();
  }
  return row;
}

}  // namespace safrl::reward
