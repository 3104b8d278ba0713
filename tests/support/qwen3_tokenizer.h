// Helpers shared by the tokenizer tests: the real Qwen3 tokenizer (installed by scripts/setup.sh)
// loaded once per test binary, and the committed corpus with its reference ids.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer.h"

namespace safrl::testing {

inline const std::string kQwen3TokenizerDir = SAFRL_TOKENIZER_DIR;
inline const std::string kTokenizerDataDir = SAFRL_SOURCE_DIR "/tests/data/tokenizer";

// The Qwen3 tokenizer, loaded on first use and shared by every test.
inline const tokenizer::Tokenizer& qwen3() {
  static const std::shared_ptr<const tokenizer::Tokenizer> instance = [] {
    if (!std::filesystem::exists(kQwen3TokenizerDir + "/tokenizer.json")) {
      throw std::runtime_error(kQwen3TokenizerDir +
                               "/tokenizer.json is missing; run scripts/setup.sh");
    }
    return tokenizer::Tokenizer::load(kQwen3TokenizerDir);
  }();
  return *instance;
}

inline nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  return nlohmann::json::parse(in);
}

// One corpus text with the ids the reference gives it.
struct ReferenceCase {
  std::string name;
  std::string text;
  std::vector<int32_t> ids;
  nlohmann::json entry;  // the corpus entry, for its other fields
};

inline std::vector<ReferenceCase> reference_cases() {
  const nlohmann::json corpus = read_json(kTokenizerDataDir + "/corpus.json");
  const nlohmann::json reference = read_json(kTokenizerDataDir + "/reference_ids.json");
  const auto& entries = corpus.at("entries");
  const auto& expected = reference.at("entries");
  if (entries.size() != expected.size()) {
    throw std::runtime_error(
        "corpus.json and reference_ids.json differ in length; rerun "
        "scripts/reference/tokenize_reference.py");
  }
  std::vector<ReferenceCase> cases;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].at("name") != expected[i].at("name")) {
      throw std::runtime_error("reference_ids.json is out of date at " +
                               entries[i].at("name").get<std::string>());
    }
    cases.push_back(
        {entries[i].at("name"), entries[i].at("text"), expected[i].at("ids"), entries[i]});
  }
  return cases;
}

}  // namespace safrl::testing
