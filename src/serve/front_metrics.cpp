#include "serve/front_metrics.h"

#include <cstdint>
#include <map>
#include <sstream>

namespace safrl::serve {

namespace {

struct Family {
  std::vector<std::string> comments;  // HELP and TYPE, from the first engine that has them
  size_t comments_from = SIZE_MAX;
  std::vector<std::string> samples;
};

// `name{labels} value` or `name value` with engine="i" added to the labels.
std::string labelled(const std::string& sample, size_t engine) {
  const std::string label = "engine=\"" + std::to_string(engine) + "\"";
  const size_t brace = sample.find('{');
  const size_t space = sample.find(' ');
  if (brace != std::string::npos && brace < space) {
    const bool empty = sample.compare(brace + 1, 1, "}") == 0;
    return sample.substr(0, brace + 1) + label + (empty ? "" : ",") + sample.substr(brace + 1);
  }
  if (space == std::string::npos) return sample;
  return sample.substr(0, space) + "{" + label + "}" + sample.substr(space);
}

// The family a sample line belongs to: its name, less a histogram's or summary's suffix.
std::string family_of(const std::string& sample, const std::map<std::string, Family>& known) {
  std::string name = sample.substr(0, sample.find_first_of("{ "));
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string s = suffix;
    if (!known.count(name) && name.size() > s.size() &&
        name.compare(name.size() - s.size(), s.size(), s) == 0) {
      const std::string base = name.substr(0, name.size() - s.size());
      if (known.count(base)) return base;
    }
  }
  return name;
}

}  // namespace

std::string merge_engine_metrics(const std::vector<std::string>& texts) {
  if (texts.size() == 1) return texts.front();
  std::map<std::string, Family> families;
  std::vector<std::string> order;
  for (size_t engine = 0; engine < texts.size(); ++engine) {
    std::istringstream lines(texts[engine]);
    for (std::string line; std::getline(lines, line);) {
      if (line.empty()) continue;
      std::string name;
      if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
        name = line.substr(7, line.find(' ', 7) - 7);
      } else if (line[0] == '#') {
        continue;
      } else {
        name = family_of(line, families);
      }
      auto [it, added] = families.try_emplace(name);
      if (added) order.push_back(name);
      Family& family = it->second;
      if (line[0] == '#') {
        if (family.comments_from == SIZE_MAX) family.comments_from = engine;
        if (family.comments_from == engine) family.comments.push_back(line);
      } else {
        family.samples.push_back(labelled(line, engine));
      }
    }
  }
  std::string out;
  for (const std::string& name : order) {
    for (const std::string& line : families[name].comments) out += line + "\n";
    for (const std::string& line : families[name].samples) out += line + "\n";
  }
  return out;
}

}  // namespace safrl::serve
