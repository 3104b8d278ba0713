// Single-thread throughput of safrl's tokenizer on a JSON-lines corpus ({"text": ...} per line),
// and, given the reference ids of the same corpus, how many documents match them exactly.
//
// Usage: tokenizer_bench --tokenizer DIR --corpus CORPUS.jsonl [--reference IDS.jsonl]
//                        [--repeat N]
// Prints one JSON object: load seconds, bytes, tokens, best-of-N encode seconds, MB/s, tokens/s,
// and with --reference the number of documents whose ids differ (their indices on stderr).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::vector<nlohmann::json> read_lines(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw safrl::util::LoadError("cannot open " + path);
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(nlohmann::json::parse(line));
  }
  return lines;
}

int run(int argc, char** argv) {
  std::string tokenizer_dir, corpus_path, reference_path;
  int repeat = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--tokenizer")
      tokenizer_dir = argv[i + 1];
    else if (flag == "--corpus")
      corpus_path = argv[i + 1];
    else if (flag == "--reference")
      reference_path = argv[i + 1];
    else if (flag == "--repeat")
      repeat = std::max(1, std::atoi(argv[i + 1]));
    else
      throw safrl::util::InputError("unknown flag " + flag);
  }
  if (tokenizer_dir.empty() || corpus_path.empty()) {
    throw safrl::util::InputError(
        "usage: tokenizer_bench --tokenizer DIR --corpus CORPUS.jsonl [--reference IDS.jsonl] "
        "[--repeat N]");
  }

  const auto load_start = Clock::now();
  const auto tokenizer = safrl::tokenizer::Tokenizer::load(tokenizer_dir);
  const double load_seconds = seconds_since(load_start);

  std::vector<std::string> texts;
  size_t bytes = 0;
  for (const auto& line : read_lines(corpus_path)) {
    texts.push_back(line.at("text").get<std::string>());
    bytes += texts.back().size();
  }

  std::vector<std::vector<int32_t>> ids(texts.size());
  double best = 1e300;
  for (int round = 0; round < repeat; ++round) {
    const auto start = Clock::now();
    for (size_t i = 0; i < texts.size(); ++i) ids[i] = tokenizer->encode(texts[i]);
    best = std::min(best, seconds_since(start));
  }
  size_t tokens = 0;
  for (const auto& document : ids) tokens += document.size();

  nlohmann::json result = {{"implementation", "safrl"},
                           {"load_s", load_seconds},
                           {"documents", texts.size()},
                           {"bytes", bytes},
                           {"tokens", tokens},
                           {"encode_s", best},
                           {"mb_per_s", static_cast<double>(bytes) / 1e6 / best},
                           {"tokens_per_s", static_cast<double>(tokens) / best}};
  if (!reference_path.empty()) {
    const auto reference = read_lines(reference_path);
    if (reference.size() != ids.size()) {
      throw safrl::util::InputError("the reference has another number of documents");
    }
    size_t differing = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (reference[i].at("ids").get<std::vector<int32_t>>() != ids[i]) {
        ++differing;
        std::cerr << "document " << i << " differs from the reference\n";
      }
    }
    result["documents_differing_from_reference"] = differing;
  }
  std::cout << result.dump() << '\n';
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "tokenizer_bench: " << e.what() << '\n';
    return 2;
  }
}
