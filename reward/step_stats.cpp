#include "reward/step_stats.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include "util/error.h"

namespace safrl::reward {
namespace {

constexpr std::string_view kCategoryColumnPrefix = "unsafe_rate_";

// steps.csv columns: the column name and where its value is in a summary.
struct Column {
  std::string name;
  nlohmann::json::json_pointer path;
};

// The columns before and after the per-category ones, in steps.csv order.
constexpr std::string_view kLeadingColumns[] = {
    "step", "count", "safety_rate", "refusal_rate", "controversial_rate", "unparseable_rate",
};
constexpr std::string_view kTrailingColumns[] = {
    "helpfulness_mean", "helpfulness_std", "helpfulness_min", "helpfulness_max",
    "reward_mean",      "reward_std",      "reward_min",      "reward_max",
    "tokens",           "seconds",         "samples_per_s",
};
// Last, so that the columns written before them keep their places. A nested field's columns
// are named <field>_<key>.
constexpr std::string_view kConversationColumns[] = {
    "prompts_judged",
    "harmful_prompt_rate",
    "over_refusal_rate",
    "under_refusal_rate",
    "refusal_rate_by_prompt/safe",
    "refusal_rate_by_prompt/harmful",
    "unsafe_rate_by_prompt/safe",
    "unsafe_rate_by_prompt/harmful",
    "turns_judged",
    "unsafe_turn_rate",
    "tool_results_judged",
    "injection_rate",
};
// The monitors' columns (reward/monitors.h), after the conversation ones. "alerts" holds the
// alert names separated by single spaces ("" when none).
constexpr std::string_view kMonitorColumns[] = {
    "refusal_rate_change",
    "duplicate_rate",
    "folded_duplicate_rate",
    "answer_tokens_mean",
    "answer_tokens_helpfulness_corr",
    "answer_tokens_reward_corr",
    "verdict_text_rate",
    "safety_mass_mean",
    "safety_mass_min",
    "low_safety_mass_rate",
    "fallback_rate",
    "truncated_thinking_rate",
    "safe_unhelpful_rate",
    "unhelpful_threshold",
    "alerts",
};
// Step::by_prompt's index of each prompt verdict, and its name in rows.
constexpr size_t kSafePrompt = 0, kHarmfulPrompt = 1;
constexpr const char* kPromptNames[] = {"safe", "harmful"};

std::vector<Column> columns() {
  std::vector<Column> columns;
  auto plain = [&](std::string_view path) {
    std::string name(path);
    std::replace(name.begin(), name.end(), '/', '_');
    columns.push_back({name, nlohmann::json::json_pointer(util::cat("/", path))});
  };
  for (std::string_view name : kLeadingColumns) plain(name);
  for (std::string_view category : kPromptCategories) {
    columns.push_back(
        {util::cat(kCategoryColumnPrefix, category),
         nlohmann::json::json_pointer(util::cat("/unsafe_rate_by_category/", category))});
  }
  for (std::string_view name : kTrailingColumns) plain(name);
  for (std::string_view path : kConversationColumns) plain(path);
  for (std::string_view name : kMonitorColumns) plain(name);
  return columns;
}

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

// A field of a row being merged, with the row's step in the message when it is missing or of
// the wrong type.
const nlohmann::json& field(const nlohmann::json& object, const char* key, const char* where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) {
    throw util::InputError(util::cat("a step row's ", where, " has no \"", key, "\""));
  }
  return *it;
}

int64_t count_field(const nlohmann::json& object, const char* key, const char* where) {
  const nlohmann::json& value = field(object, key, where);
  if (!value.is_number_integer() || value.get<int64_t>() < 0) {
    throw util::InputError(
        util::cat("a step row's ", where, ".", key, " is not a count: ", value.dump()));
  }
  return value.get<int64_t>();
}

// A count that rows written before it existed lack: absent or null reads as 0.
int64_t optional_count(const nlohmann::json& object, const char* key, const char* where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return 0;
  return count_field(object, key, where);
}

}  // namespace

nlohmann::json step_json(const StepKey& step) {
  return step ? nlohmann::json(*step) : nlohmann::json(nullptr);
}

Moments Moments::of(const std::vector<double>& values) {
  Moments m;
  if (values.empty()) return m;
  Eigen::Map<const Eigen::ArrayXd> x(values.data(), static_cast<Eigen::Index>(values.size()));
  m.n = static_cast<int64_t>(values.size());
  m.mean = x.mean();
  m.m2 = (x - m.mean).square().sum();
  m.min = x.minCoeff();
  m.max = x.maxCoeff();
  return m;
}

void Moments::merge(const Moments& other) {
  if (other.n == 0) return;
  if (n == 0) {
    *this = other;
    return;
  }
  const double total = static_cast<double>(n + other.n);
  const double delta = other.mean - mean;
  mean += delta * static_cast<double>(other.n) / total;
  m2 += other.m2 + delta * delta * static_cast<double>(n) * static_cast<double>(other.n) / total;
  min = std::min(min, other.min);
  max = std::max(max, other.max);
  n += other.n;
}

CoMoments CoMoments::of(const std::vector<std::pair<double, double>>& pairs) {
  CoMoments m;
  if (pairs.empty()) return m;
  // The pairs lie in memory as x0 y0 x1 y1 ...: two strided views, no copy.
  static_assert(sizeof(std::pair<double, double>) == 2 * sizeof(double));
  using Strided = Eigen::Map<const Eigen::ArrayXd, 0, Eigen::InnerStride<2>>;
  const auto n = static_cast<Eigen::Index>(pairs.size());
  const Strided x(&pairs.front().first, n), y(&pairs.front().second, n);
  m.n = static_cast<int64_t>(pairs.size());
  m.mean_x = x.mean();
  m.mean_y = y.mean();
  const Eigen::ArrayXd dx = x - m.mean_x, dy = y - m.mean_y;
  m.m2x = dx.square().sum();
  m.m2y = dy.square().sum();
  m.cxy = (dx * dy).sum();
  return m;
}

void CoMoments::merge(const CoMoments& other) {
  if (other.n == 0) return;
  if (n == 0) {
    *this = other;
    return;
  }
  const double na = static_cast<double>(n), nb = static_cast<double>(other.n);
  const double total = na + nb;
  const double dx = other.mean_x - mean_x, dy = other.mean_y - mean_y;
  mean_x += dx * nb / total;
  mean_y += dy * nb / total;
  m2x += other.m2x + dx * dx * na * nb / total;
  m2y += other.m2y + dy * dy * na * nb / total;
  cxy += other.cxy + dx * dy * na * nb / total;
  n += other.n;
}

std::optional<double> CoMoments::correlation() const {
  if (n < 2) return std::nullopt;
  // Values that are all equal leave rounding residue in m2 (their mean is rounded): zero.
  auto flat = [&](double m2, double mean) {
    const double scale = 1e-12 * std::max(1.0, std::abs(mean));
    return m2 <= static_cast<double>(n) * scale * scale;
  };
  if (flat(m2x, mean_x) || flat(m2y, mean_y)) return std::nullopt;
  return std::clamp(cxy / std::sqrt(m2x * m2y), -1.0, 1.0);
}

namespace {

// <prefix>_mean/std/min/max into `out` (population std); nulls when there are no values.
void describe(const Moments& m, const std::string& prefix, nlohmann::json& out) {
  if (m.n == 0) {
    for (const char* stat : {"_mean", "_std", "_min", "_max"}) out[prefix + stat] = nullptr;
    return;
  }
  out[prefix + "_mean"] = m.mean;
  out[prefix + "_std"] = std::sqrt(m.m2 / static_cast<double>(m.n));
  out[prefix + "_min"] = m.min;
  out[prefix + "_max"] = m.max;
}

nlohmann::json moments_json(const Moments& m) {
  return {{"n", m.n}, {"mean", m.mean}, {"m2", m.m2}, {"min", m.min}, {"max", m.max}};
}

Moments moments_from(const nlohmann::json& object, const char* where) {
  Moments m;
  m.n = count_field(object, "n", where);
  if (m.n == 0) return m;
  for (auto [key, value] : {std::pair{"mean", &m.mean}, std::pair{"m2", &m.m2},
                            std::pair{"min", &m.min}, std::pair{"max", &m.max}}) {
    const nlohmann::json& number = field(object, key, where);
    if (!number.is_number() || !std::isfinite(number.get<double>())) {
      throw util::InputError(
          util::cat("a step row's ", where, ".", key, " is not a finite number"));
    }
    *value = number.get<double>();
  }
  return m;
}

nlohmann::json comoments_json(const CoMoments& m) {
  return {{"n", m.n},     {"mean_x", m.mean_x}, {"mean_y", m.mean_y},
          {"m2x", m.m2x}, {"m2y", m.m2y},       {"cxy", m.cxy}};
}

// Co-moments in a row's sums; absent (a row written before the monitors) reads as none.
CoMoments comoments_from(const nlohmann::json& sums, const char* key) {
  CoMoments m;
  auto it = sums.find(key);
  if (it == sums.end() || it->is_null()) return m;
  const std::string where = util::cat("sums.", key);
  m.n = count_field(*it, "n", where.c_str());
  if (m.n == 0) return m;
  for (auto [name, value] :
       {std::pair{"mean_x", &m.mean_x}, std::pair{"mean_y", &m.mean_y}, std::pair{"m2x", &m.m2x},
        std::pair{"m2y", &m.m2y}, std::pair{"cxy", &m.cxy}}) {
    const nlohmann::json& number = field(*it, name, where.c_str());
    if (!number.is_number() || !std::isfinite(number.get<double>())) {
      throw util::InputError(
          util::cat("a step row's ", where, ".", name, " is not a finite number"));
    }
    *value = number.get<double>();
  }
  return m;
}

nlohmann::json optional_json(const std::optional<double>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

}  // namespace

SampleOutcome make_outcome(StepKey step, const RewardSettings& settings,
                           const std::optional<Verdict>& answer,
                           const std::optional<Verdict>& thinking, const RewardResult& result,
                           std::optional<double> helpfulness, int64_t tokens,
                           const ConversationOutcome& conversation) {
  SampleOutcome outcome;
  outcome.step = step;
  outcome.safe = result.safe;
  outcome.refusal = result.refusal;
  outcome.unparseable = result.reward_case == kCaseUnparseable;
  outcome.helpfulness = helpfulness;
  outcome.reward = result.reward;
  outcome.tokens = tokens;
  // An unparseable output, or a truncated trace that was not judged, is not safe but was never
  // judged unsafe; under-refusal counts only what the guard called unsafe.
  outcome.unsafe = !result.safe && result.reward_case != kCaseUnparseable &&
                   result.reward_case != kCaseTruncated;
  if (result.reward_case == kCaseInjection) {
    // on_injection: unsafe paid the unsafe reward whatever the guard said; the statistics keep
    // what the guard said (verdict_text_rate counts the finding), so an injection neither hides
    // an unparseable output or a refusal nor counts as judged unsafe. `safe` stays false: the
    // sample was not rewarded as safe.
    outcome.unparseable = !answer;
    outcome.refusal = answer && answer->refusal.value_or(false);
    outcome.unsafe = (answer && counts_as_unsafe(settings, *answer)) ||
                     (settings.judge_thinking && thinking && counts_as_unsafe(settings, *thinking));
  }
  outcome.conversation = conversation;
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
  if (outcome.answer_tokens && *outcome.answer_tokens < 0) {
    throw util::InputError(
        util::cat("step statistics: negative answer length ", *outcome.answer_tokens));
  }
  if (outcome.safety_mass && !std::isfinite(*outcome.safety_mass)) {
    throw util::InputError(
        util::cat("step statistics: safety_mass ", *outcome.safety_mass, " is not finite"));
  }
  if (outcome.duplicate && !outcome.folded_duplicate) {
    throw util::InputError(
        "step statistics: an exact duplicate that is not a folded duplicate (folding keeps "
        "equal answers equal)");
  }
  const CacheHits& hits = outcome.cache_hits;
  if (hits.guard < 0 || hits.helpfulness < 0 || hits.prompt < 0) {
    throw util::InputError("step statistics: a negative count of cache hits");
  }
  const ConversationOutcome& c = outcome.conversation;
  for (auto [part, whole, what] : {std::tuple{c.unsafe_turns, c.turns_judged, "unsafe turns"},
                                   {c.injections, c.tool_results_judged, "injections"}}) {
    if (part < 0 || part > whole) {
      throw util::InputError(util::cat("step statistics: ", part, " ", what, " of ", whole,
                                       " judged is not a count of them"));
    }
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
  if (c.prompt_harmful) {
    Step::ByPrompt& by = step.by_prompt[*c.prompt_harmful ? kHarmfulPrompt : kSafePrompt];
    ++by.count;
    by.refusal += outcome.refusal;
    by.unsafe += outcome.unsafe;
  }
  step.turns_judged += c.turns_judged;
  step.unsafe_turns += c.unsafe_turns;
  step.tool_results_judged += c.tool_results_judged;
  step.injections += c.injections;
  ++step.added;
  step.duplicates += outcome.duplicate;
  step.folded_duplicates += outcome.folded_duplicate;
  step.verdict_text += outcome.verdict_text;
  step.fallback += outcome.fallback;
  step.truncated_thinking += outcome.truncated_thinking;
  step.cache_hits += hits;
  if (outcome.safety_mass) {
    step.safety_masses.push_back(*outcome.safety_mass);
    step.low_safety_mass += *outcome.safety_mass < low_safety_mass_;
  }
  if (outcome.answer_tokens) {
    const double length = static_cast<double>(*outcome.answer_tokens);
    step.length_reward.emplace_back(length, outcome.reward);
    if (outcome.helpfulness) step.length_helpfulness.emplace_back(length, *outcome.helpfulness);
  }
  if (outcome.safe && !outcome.refusal && outcome.helpfulness) {
    step.safe_answer_helpfulness.push_back(*outcome.helpfulness);
  }
}

StepKey StepStats::add_row(const nlohmann::json& row) {
  if (!row.is_object()) throw util::InputError("a step row is not a JSON object");
  auto step_it = row.find("step");
  if (step_it == row.end() || !(step_it->is_null() || step_it->is_number_integer())) {
    throw util::InputError("a step row's \"step\" is not an integer or null");
  }
  const StepKey step = step_it->is_null() ? StepKey() : StepKey(step_it->get<int64_t>());
  auto sums_it = row.find("sums");
  if (sums_it == row.end() || !sums_it->is_object()) {
    throw util::InputError(util::cat(
        "the row of step ", step_it->dump(),
        " has no \"sums\" (written before safrl 0.2?): rows without them cannot be merged"));
  }
  const nlohmann::json& sums = *sums_it;
  // Read everything first, so a refused row leaves the step untouched.
  Step part;
  part.count = count_field(row, "count", "top level");
  part.tokens = count_field(row, "tokens", "top level");
  part.safe = count_field(sums, "safe", "sums");
  part.refusal = count_field(sums, "refusal", "sums");
  part.controversial = count_field(sums, "controversial", "sums");
  part.unparseable = count_field(sums, "unparseable", "sums");
  const nlohmann::json& by_category = field(sums, "unsafe_by_category", "sums");
  for (size_t i = 0; i < kPromptCategories.size(); ++i) {
    part.unsafe_by_category[i] =
        count_field(by_category, std::string(kPromptCategories[i]).c_str(), "unsafe_by_category");
  }
  part.merged_helpfulness = moments_from(field(sums, "helpfulness", "sums"), "sums.helpfulness");
  part.merged_rewards = moments_from(field(sums, "reward", "sums"), "sums.reward");
  if (part.merged_rewards.n != part.count) {
    throw util::InputError(util::cat("the row of step ", step_it->dump(), " counts ", part.count,
                                     " samples but ", part.merged_rewards.n, " rewards"));
  }
  // Rows written before conversations were judged have none of these: zero counts.
  if (auto by_prompt = sums.find("by_prompt"); by_prompt != sums.end() && !by_prompt->is_null()) {
    for (size_t i : {kSafePrompt, kHarmfulPrompt}) {
      const nlohmann::json& counts = field(*by_prompt, kPromptNames[i], "sums.by_prompt");
      const std::string where = util::cat("sums.by_prompt.", kPromptNames[i]);
      Step::ByPrompt& by = part.by_prompt[i];
      by.count = count_field(counts, "count", where.c_str());
      by.refusal = count_field(counts, "refusal", where.c_str());
      by.unsafe = count_field(counts, "unsafe", where.c_str());
    }
  }
  part.turns_judged = optional_count(sums, "turns_judged", "sums");
  part.unsafe_turns = optional_count(sums, "unsafe_turns", "sums");
  part.tool_results_judged = optional_count(sums, "tool_results_judged", "sums");
  part.injections = optional_count(sums, "injections", "sums");
  // Rows written before the monitors have none of these: zero counts, no values.
  part.duplicates = optional_count(sums, "duplicates", "sums");
  part.folded_duplicates = optional_count(sums, "folded_duplicates", "sums");
  part.verdict_text = optional_count(sums, "verdict_text", "sums");
  part.fallback = optional_count(sums, "fallback", "sums");
  part.truncated_thinking = optional_count(sums, "truncated_thinking", "sums");
  part.low_safety_mass = optional_count(sums, "low_safety_mass", "sums");
  // Rows written before the judgement cache have none: zero hits.
  if (auto hits = row.find("cache_hits"); hits != row.end() && !hits->is_null()) {
    part.cache_hits = {count_field(*hits, "guard", "cache_hits"),
                       count_field(*hits, "helpfulness", "cache_hits"),
                       count_field(*hits, "prompt", "cache_hits")};
  }
  if (auto mass = sums.find("safety_mass"); mass != sums.end() && !mass->is_null()) {
    part.merged_safety_mass = moments_from(*mass, "sums.safety_mass");
  }
  part.merged_length_helpfulness = comoments_from(sums, "answer_tokens_helpfulness");
  part.merged_length_reward = comoments_from(sums, "answer_tokens_reward");
  part.merged_safe_unhelpful = optional_count(sums, "safe_unhelpful", "sums");
  part.merged_safe_unhelpful_judged = optional_count(sums, "safe_unhelpful_judged", "sums");
  if (part.merged_safe_unhelpful > part.merged_safe_unhelpful_judged) {
    throw util::InputError(util::cat("the row of step ", step_it->dump(), " counts ",
                                     part.merged_safe_unhelpful, " safe unhelpful samples of ",
                                     part.merged_safe_unhelpful_judged, " judged"));
  }
  if (auto threshold = row.find("unhelpful_threshold"); part.merged_safe_unhelpful_judged > 0) {
    if (threshold != row.end() && threshold->is_number()) {
      part.merged_thresholds.push_back(threshold->get<double>());
    } else {
      part.mixed_thresholds = true;  // a merged row of parts with different thresholds
    }
  }
  Step& into = steps_[step];
  into.count += part.count;
  into.safe += part.safe;
  into.refusal += part.refusal;
  into.controversial += part.controversial;
  into.unparseable += part.unparseable;
  for (size_t i = 0; i < kPromptCategories.size(); ++i) {
    into.unsafe_by_category[i] += part.unsafe_by_category[i];
  }
  into.merged_helpfulness.merge(part.merged_helpfulness);
  into.merged_rewards.merge(part.merged_rewards);
  into.tokens += part.tokens;
  for (size_t i : {kSafePrompt, kHarmfulPrompt}) {
    into.by_prompt[i].count += part.by_prompt[i].count;
    into.by_prompt[i].refusal += part.by_prompt[i].refusal;
    into.by_prompt[i].unsafe += part.by_prompt[i].unsafe;
  }
  into.turns_judged += part.turns_judged;
  into.unsafe_turns += part.unsafe_turns;
  into.tool_results_judged += part.tool_results_judged;
  into.injections += part.injections;
  into.duplicates += part.duplicates;
  into.folded_duplicates += part.folded_duplicates;
  into.verdict_text += part.verdict_text;
  into.fallback += part.fallback;
  into.truncated_thinking += part.truncated_thinking;
  into.low_safety_mass += part.low_safety_mass;
  into.cache_hits += part.cache_hits;
  into.merged_safety_mass.merge(part.merged_safety_mass);
  into.merged_length_helpfulness.merge(part.merged_length_helpfulness);
  into.merged_length_reward.merge(part.merged_length_reward);
  into.merged_safe_unhelpful += part.merged_safe_unhelpful;
  into.merged_safe_unhelpful_judged += part.merged_safe_unhelpful_judged;
  into.mixed_thresholds = into.mixed_thresholds || part.mixed_thresholds;
  for (double threshold : part.merged_thresholds) {
    if (std::find(into.merged_thresholds.begin(), into.merged_thresholds.end(), threshold) ==
        into.merged_thresholds.end()) {
      into.merged_thresholds.push_back(threshold);
    }
  }
  return step;
}

nlohmann::json StepStats::summary(StepKey step, double seconds,
                                  std::optional<double> unhelpful_threshold) const {
  if (!std::isfinite(seconds) || seconds < 0) {
    throw util::InputError(
        util::cat("step statistics: seconds must be finite and >= 0, got ", seconds));
  }
  static const Step kEmpty;
  auto it = steps_.find(step);
  const Step& s = it == steps_.end() ? kEmpty : it->second;

  nlohmann::json out;
  out["step"] = step_json(step);
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
  Moments helpfulness = Moments::of(s.helpfulness);
  helpfulness.merge(s.merged_helpfulness);
  Moments rewards = Moments::of(s.rewards);
  rewards.merge(s.merged_rewards);
  describe(helpfulness, "helpfulness", out);
  describe(rewards, "reward", out);
  out["tokens"] = s.tokens;
  out["seconds"] = seconds;
  out["samples_per_s"] =
      seconds > 0 ? nlohmann::json(static_cast<double>(s.count) / seconds) : nlohmann::json();
  const Step::ByPrompt& safe_prompt = s.by_prompt[kSafePrompt];
  const Step::ByPrompt& harmful_prompt = s.by_prompt[kHarmfulPrompt];
  const int64_t prompts_judged = safe_prompt.count + harmful_prompt.count;
  out["prompts_judged"] = prompts_judged;
  out["harmful_prompt_rate"] = rate(harmful_prompt.count, prompts_judged);
  out["over_refusal_rate"] = rate(safe_prompt.refusal, safe_prompt.count);
  out["under_refusal_rate"] = rate(harmful_prompt.unsafe, harmful_prompt.count);
  nlohmann::json refusal_by_prompt, unsafe_by_prompt, by_prompt_sums;
  for (size_t i : {kSafePrompt, kHarmfulPrompt}) {
    const Step::ByPrompt& by = s.by_prompt[i];
    refusal_by_prompt[kPromptNames[i]] = rate(by.refusal, by.count);
    unsafe_by_prompt[kPromptNames[i]] = rate(by.unsafe, by.count);
    by_prompt_sums[kPromptNames[i]] = {
        {"count", by.count}, {"refusal", by.refusal}, {"unsafe", by.unsafe}};
  }
  out["refusal_rate_by_prompt"] = std::move(refusal_by_prompt);
  out["unsafe_rate_by_prompt"] = std::move(unsafe_by_prompt);
  out["turns_judged"] = s.turns_judged;
  out["unsafe_turn_rate"] = rate(s.unsafe_turns, s.turns_judged);
  out["tool_results_judged"] = s.tool_results_judged;
  out["injection_rate"] = rate(s.injections, s.tool_results_judged);
  // The monitors.
  out["refusal_rate_change"] = nullptr;  // StepMonitor::annotate
  out["duplicate_rate"] = rate(s.duplicates, s.count);
  out["folded_duplicate_rate"] = rate(s.folded_duplicates, s.count);
  CoMoments length_helpfulness = CoMoments::of(s.length_helpfulness);
  length_helpfulness.merge(s.merged_length_helpfulness);
  CoMoments length_reward = CoMoments::of(s.length_reward);
  length_reward.merge(s.merged_length_reward);
  out["answer_tokens_mean"] =
      length_reward.n > 0 ? nlohmann::json(length_reward.mean_x) : nlohmann::json(nullptr);
  out["answer_tokens_helpfulness_corr"] = optional_json(length_helpfulness.correlation());
  out["answer_tokens_reward_corr"] = optional_json(length_reward.correlation());
  out["verdict_text_rate"] = rate(s.verdict_text, s.count);
  Moments safety_mass = Moments::of(s.safety_masses);
  safety_mass.merge(s.merged_safety_mass);
  out["safety_mass_mean"] =
      safety_mass.n > 0 ? nlohmann::json(safety_mass.mean) : nlohmann::json(nullptr);
  out["safety_mass_min"] =
      safety_mass.n > 0 ? nlohmann::json(safety_mass.min) : nlohmann::json(nullptr);
  out["low_safety_mass_rate"] = rate(s.low_safety_mass, safety_mass.n);
  out["fallback_rate"] = rate(s.fallback, s.count);
  out["truncated_thinking_rate"] = rate(s.truncated_thinking, s.count);
  // The samples added here are judged against the threshold given; merged rows bring their own
  // counts, judged against their writers' thresholds.
  int64_t safe_unhelpful = s.merged_safe_unhelpful;
  int64_t safe_unhelpful_judged = s.merged_safe_unhelpful_judged;
  std::vector<double> thresholds = s.merged_thresholds;
  if (unhelpful_threshold && s.added > 0) {
    safe_unhelpful_judged += s.added;
    for (double h : s.safe_answer_helpfulness) safe_unhelpful += h < *unhelpful_threshold;
    if (std::find(thresholds.begin(), thresholds.end(), *unhelpful_threshold) == thresholds.end()) {
      thresholds.push_back(*unhelpful_threshold);
    }
  }
  out["safe_unhelpful_rate"] = rate(safe_unhelpful, safe_unhelpful_judged);
  // One threshold when every part used the same; null when none was judged or they differ.
  out["unhelpful_threshold"] = thresholds.size() == 1 && !s.mixed_thresholds
                                   ? nlohmann::json(thresholds.front())
                                   : nlohmann::json(nullptr);
  out["alerts"] = nlohmann::json::array();  // StepMonitor::annotate
  out["cache_hits"] = {{"guard", s.cache_hits.guard},
                       {"helpfulness", s.cache_hits.helpfulness},
                       {"prompt", s.cache_hits.prompt}};
  nlohmann::json unsafe_counts = nlohmann::json::object();
  for (size_t i = 0; i < kPromptCategories.size(); ++i) {
    unsafe_counts[std::string(kPromptCategories[i])] = s.unsafe_by_category[i];
  }
  out["sums"] = {{"safe", s.safe},
                 {"refusal", s.refusal},
                 {"controversial", s.controversial},
                 {"unparseable", s.unparseable},
                 {"unsafe_by_category", std::move(unsafe_counts)},
                 {"helpfulness", moments_json(helpfulness)},
                 {"reward", moments_json(rewards)},
                 {"by_prompt", std::move(by_prompt_sums)},
                 {"turns_judged", s.turns_judged},
                 {"unsafe_turns", s.unsafe_turns},
                 {"tool_results_judged", s.tool_results_judged},
                 {"injections", s.injections},
                 {"duplicates", s.duplicates},
                 {"folded_duplicates", s.folded_duplicates},
                 {"verdict_text", s.verdict_text},
                 {"fallback", s.fallback},
                 {"truncated_thinking", s.truncated_thinking},
                 {"low_safety_mass", s.low_safety_mass},
                 {"safety_mass", moments_json(safety_mass)},
                 {"answer_tokens_helpfulness", comoments_json(length_helpfulness)},
                 {"answer_tokens_reward", comoments_json(length_reward)},
                 {"safe_unhelpful", safe_unhelpful},
                 {"safe_unhelpful_judged", safe_unhelpful_judged}};
  return out;
}

std::vector<double> StepStats::helpfulness_values(StepKey step) const {
  auto it = steps_.find(step);
  return it == steps_.end() ? std::vector<double>() : it->second.helpfulness;
}

std::vector<StepKey> StepStats::steps() const {
  std::vector<StepKey> steps;
  steps.reserve(steps_.size());
  for (const auto& entry : steps_) steps.push_back(entry.first);
  return steps;
}

void StepStats::clear(StepKey step) {
  steps_.erase(step);
}

std::vector<std::string> StepStats::csv_columns() {
  std::vector<std::string> names;
  for (const Column& column : columns()) names.push_back(column.name);
  return names;
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
  std::string row;
  bool first = true;
  for (const Column& column : columns()) {
    if (!summary.contains(column.path)) {
      throw util::InputError(
          util::cat("csv_row: the summary has no field \"", column.path.to_string(), "\""));
    }
    const nlohmann::json& value = summary.at(column.path);
    row += first ? "" : ",";
    first = false;
    if (value.is_array()) {  // alerts: names without commas or quotes, space-separated
      for (size_t i = 0; i < value.size(); ++i) {
        row += (i == 0 ? "" : " ") + value[i].get<std::string>();
      }
    } else if (!value.is_null()) {
      row += value.dump();
    }
  }
  return row;
}

}  // namespace safrl::reward
