#include "reward/stream_verdict.h"

#include <nlohmann/json.hpp>

namespace safrl::reward {

Safety most_likely(const std::array<double, 3>& probs) {
  size_t best = 0;
  for (size_t i = 1; i < probs.size(); ++i) {
    if (probs[i] > probs[best]) best = i;
  }
  return static_cast<Safety>(best);
}

Verdict stream_response_verdict(const TokenSafety& safety) {
  Verdict verdict;
  verdict.safety = safety.debounced.outcome;
  if (safety.debounced.outcome != Safety::kSafe) {
    const auto at = static_cast<size_t>(safety.debounced.index);
    verdict.categories = {std::string(safety.categories.at(at))};
    verdict.safety_probs = safety.probs.at(at);
    return verdict;
  }
  // Never flagged: the riskiest position's probabilities.
  for (size_t i = 0; i < safety.probs.size(); ++i) {
    if (i == 0 || safety.probs[i][0] < verdict.safety_probs[0]) {
      verdict.safety_probs = safety.probs[i];
    }
  }
  return verdict;
}

Verdict stream_query_verdict(const std::array<double, 3>& probs, std::string_view category) {
  Verdict verdict;
  verdict.safety = most_likely(probs);
  if (verdict.safety != Safety::kSafe) verdict.categories = {std::string(category)};
  verdict.safety_probs = probs;
  return verdict;
}

nlohmann::json token_safety_json(const TokenSafety& safety) {
  nlohmann::json labels = nlohmann::json::array(), probs = nlohmann::json::array(),
                 categories = nlohmann::json::array(), offsets = nlohmann::json::array();
  for (size_t i = 0; i < safety.labels.size(); ++i) {
    labels.push_back(safety_name(safety.labels[i]));
    probs.push_back(safety.probs[i]);
    categories.push_back(safety.categories[i]);
    offsets.push_back({safety.offsets[i].first, safety.offsets[i].second});
  }
  const bool flagged = safety.debounced.outcome != Safety::kSafe;
  const auto at = static_cast<size_t>(safety.debounced.index);
  return {{"labels", std::move(labels)},
          {"probs", std::move(probs)},
          {"categories", std::move(categories)},
          {"offsets", std::move(offsets)},
          {"outcome", safety_name(safety.debounced.outcome)},
          {"first_unsafe", flagged ? nlohmann::json(safety.debounced.index) : nlohmann::json()},
          {"first_unsafe_offset",
           flagged ? nlohmann::json(safety.offsets.at(at).first) : nlohmann::json()}};
}

}  // namespace safrl::reward
