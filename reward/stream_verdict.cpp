#include "reward/stream_verdict.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "util/error.h"

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

TokenSafety token_safety_from_json(const nlohmann::json& value) {
  TokenSafety safety;
  for (const auto& label : value.at("labels")) {
    safety.labels.push_back(parse_safety(label.get<std::string>()));
  }
  for (const auto& probs : value.at("probs")) {
    safety.probs.push_back(probs.get<std::array<double, 3>>());
  }
  for (const auto& category : value.at("categories")) {
    const std::string name = category.get<std::string>();
    const auto* known =
        std::find(std::begin(kStreamResponseCategories), std::end(kStreamResponseCategories), name);
    if (known == std::end(kStreamResponseCategories)) {
      throw util::InputError(util::cat("token_safety.categories: \"", name,
                                       "\" is not a Qwen3Guard-Stream response category"));
    }
    safety.categories.push_back(*known);
  }
  for (const auto& offset : value.at("offsets")) {
    safety.offsets.emplace_back(offset.at(0).get<int64_t>(), offset.at(1).get<int64_t>());
  }
  safety.debounced.outcome = parse_safety(value.at("outcome").get<std::string>());
  const nlohmann::json& first = value.at("first_unsafe");
  safety.debounced.index = first.is_null() ? -1 : first.get<int64_t>();
  return safety;
}

namespace {

bool continuation_byte(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

}  // namespace

int64_t code_points(std::string_view text) {
  return static_cast<int64_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return !continuation_byte(c); }));
}

TokenSafety with_code_point_offsets(TokenSafety safety, std::string_view text, int64_t base) {
  // before[b]: the characters that start in text[0, b).
  std::vector<int64_t> before(text.size() + 1, 0);
  for (size_t b = 0; b < text.size(); ++b) {
    before[b + 1] = before[b] + (continuation_byte(text[b]) ? 0 : 1);
  }
  const auto size = static_cast<int64_t>(text.size());
  for (auto& [begin, end] : safety.offsets) {
    begin = std::clamp<int64_t>(begin, 0, size);
    end = std::clamp<int64_t>(end, begin, size);
    const bool inside = begin < size && continuation_byte(text[static_cast<size_t>(begin)]);
    // An end inside a character already counts it (its first byte lies before the end).
    begin = base + before[static_cast<size_t>(begin)] - (inside ? 1 : 0);
    end = base + before[static_cast<size_t>(end)];
  }
  return safety;
}

}  // namespace safrl::reward
