#include "reward/verdict.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace safrl::reward {
namespace {

// The last alternative of both category regexes, after the task's category names.
constexpr std::string_view kNoCategory = "None";

// The first alternative that matches `text` at `pos`, or npos. A regex alternation of literals
// tries its branches left to right at each position and takes the first that matches; no
// alternative here is a prefix of a later one, so this is the same as the longest match too.
template <size_t N>
size_t match_alternative(std::string_view text, size_t pos,
                         const std::array<std::string_view, N>& alternatives) {
  for (size_t i = 0; i < N; ++i) {
    if (text.compare(pos, alternatives[i].size(), alternatives[i]) == 0) return i;
  }
  return std::string_view::npos;
}

// re.search(prefix + "(a|b|...)", text): the alternative at the leftmost occurrence of `prefix`
// that is followed by one of them, or npos.
template <size_t N>
size_t search_line(std::string_view text, std::string_view prefix,
                   const std::array<std::string_view, N>& alternatives) {
  for (size_t pos = text.find(prefix); pos != std::string_view::npos;
       pos = text.find(prefix, pos + 1)) {
    size_t found = match_alternative(text, pos + prefix.size(), alternatives);
    if (found != std::string_view::npos) return found;
  }
  return std::string_view::npos;
}

// re.findall over "(name_1|...|name_N|None)": scan left to right; after a match resume right after
// it (matches never overlap), otherwise advance one character. "None" matches are dropped.
template <size_t N>
std::vector<std::string> find_categories(std::string_view text,
                                         const std::array<std::string_view, N>& names) {
  std::vector<std::string> categories;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t found = match_alternative(text, pos, names);
    if (found != std::string_view::npos) {
      categories.emplace_back(names[found]);
      pos += names[found].size();
    } else if (text.compare(pos, kNoCategory.size(), kNoCategory) == 0) {
      pos += kNoCategory.size();
    } else {
      ++pos;
    }
  }
  return categories;
}

// Indexed by Safety; also the order of the alternatives in the official safety regex.
constexpr std::array<std::string_view, 3> kSafetyNames = {"Safe", "Unsafe", "Controversial"};
constexpr std::array<std::string_view, 2> kRefusalAlternatives = {"Yes", "No"};

nlohmann::json probability(double p) {
  return std::isnan(p) ? nlohmann::json() : nlohmann::json(p);
}

[[noreturn]] void bad_field(std::string_view field, std::string_view expected,
                            const nlohmann::json& got) {
  throw util::InputError(
      util::cat("verdict field \"", field, "\" must be ", expected, ", got ", got.dump()));
}

// A probability field of verdict_to_json(): null (or absent) for not computed.
double probability_from_json(const nlohmann::json& object, const std::string& key,
                             std::string_view field) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return Verdict::kNotComputed;
  if (!it->is_number()) bad_field(field, "a number or null", *it);
  return it->get<double>();
}

}  // namespace

std::string_view safety_name(Safety safety) {
  return kSafetyNames.at(static_cast<size_t>(safety));
}

Safety parse_safety(std::string_view name) {
  auto it = std::find(kSafetyNames.begin(), kSafetyNames.end(), name);
  if (it == kSafetyNames.end()) {
    throw util::InputError(
        util::cat("unknown safety \"", name, "\"; valid values: Safe, Unsafe, Controversial"));
  }
  return static_cast<Safety>(it - kSafetyNames.begin());
}

bool is_response_category(std::string_view name) {
  return std::find(kResponseCategories.begin(), kResponseCategories.end(), name) !=
         kResponseCategories.end();
}

bool is_prompt_category(std::string_view name) {
  return std::find(kPromptCategories.begin(), kPromptCategories.end(), name) !=
         kPromptCategories.end();
}

std::optional<Verdict> parse_verdict(std::string_view text, GuardTask task) {
  size_t safety = search_line(text, "Safety: ", kSafetyNames);
  if (safety == std::string_view::npos) return std::nullopt;

  Verdict verdict;
  verdict.safety = static_cast<Safety>(safety);
  if (task == GuardTask::kResponse) {
    size_t refusal = search_line(text, "Refusal: ", kRefusalAlternatives);
    if (refusal == std::string_view::npos) return std::nullopt;
    verdict.refusal = kRefusalAlternatives[refusal] == "Yes";
    verdict.categories = find_categories(text, kResponseCategories);
  } else {
    verdict.categories = find_categories(text, kPromptCategories);
  }
  verdict.text = std::string(text);
  return verdict;
}

nlohmann::json verdict_to_json(const Verdict& verdict) {
  nlohmann::json probs = nlohmann::json::object();
  for (size_t i = 0; i < kSafetyNames.size(); ++i) {
    probs[std::string(kSafetyNames[i])] = probability(verdict.safety_probs[i]);
  }
  return {
      {"safety", safety_name(verdict.safety)},
      {"categories", verdict.categories},
      {"refusal", verdict.refusal ? nlohmann::json(*verdict.refusal) : nlohmann::json()},
      {"probs", std::move(probs)},
      {"refusal_prob",
       verdict.refusal_prob ? probability(*verdict.refusal_prob) : nlohmann::json()},
  };
}

Verdict verdict_from_json(const nlohmann::json& value) {
  if (!value.is_object()) bad_field("(verdict)", "an object", value);
  Verdict verdict;
  const nlohmann::json& safety = value.contains("safety") ? value["safety"] : nlohmann::json();
  if (!safety.is_string()) bad_field("safety", "a string", safety);
  verdict.safety = parse_safety(safety.get_ref<const std::string&>());

  const nlohmann::json& categories =
      value.contains("categories") ? value["categories"] : nlohmann::json();
  if (!categories.is_array()) bad_field("categories", "a list of strings", categories);
  for (const nlohmann::json& category : categories) {
    if (!category.is_string()) bad_field("categories", "a list of strings", categories);
    verdict.categories.push_back(category.get<std::string>());
  }

  if (value.contains("refusal") && !value["refusal"].is_null()) {
    if (!value["refusal"].is_boolean())
      bad_field("refusal", "true, false or null", value["refusal"]);
    verdict.refusal = value["refusal"].get<bool>();
  }
  if (value.contains("probs") && !value["probs"].is_null()) {
    const nlohmann::json& probs = value["probs"];
    if (!probs.is_object()) bad_field("probs", "an object or null", probs);
    for (size_t i = 0; i < kSafetyNames.size(); ++i) {
      const std::string name(kSafetyNames[i]);
      verdict.safety_probs[i] = probability_from_json(probs, name, "probs." + name);
    }
  }
  const double refusal_prob = probability_from_json(value, "refusal_prob", "refusal_prob");
  if (!std::isnan(refusal_prob)) verdict.refusal_prob = refusal_prob;
  if (value.contains("text")) {
    if (!value["text"].is_string()) bad_field("text", "a string", value["text"]);
    verdict.text = value["text"].get<std::string>();
  }
  return verdict;
}

}  // namespace safrl::reward
