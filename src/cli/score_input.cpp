#include "cli/score_input.h"

#include <istream>
#include <map>

#include "util/error.h"
#include "util/utf8.h"

namespace safrl::cli {

namespace {

nlohmann::json id_of(const nlohmann::json& line) {
  return line.is_object() && line.contains("id") ? line["id"] : nlohmann::json();
}

}  // namespace

ScoreInput read_score_input(std::istream& in, const LineLimits& limits) {
  ScoreInput input;
  std::map<std::string, size_t> first_use;  // id key -> the line that used it
  LineReader reader(in, limits.max_bytes);
  for (RawLine line; reader.next(line);) {
    nlohmann::json value;
    try {
      value = parse_json_line(line, limits);
      reward::Sample sample = reward::sample_from_json(value);
      const std::string key = reward::id_key(sample.id);
      if (const auto [it, added] = first_use.emplace(key, line.number); !added) {
        throw util::InputError(util::cat("id ", key, " was already used on line ", it->second,
                                         "; ids must be unique"));
      }
      input.samples.push_back({line.number, std::move(sample)});
    } catch (const util::InputError& e) {
      input.bad.push_back({line.number, id_of(value), e.what()});
    } catch (const nlohmann::json::exception& e) {
      input.bad.push_back(
          {line.number, id_of(value),
           util::cat("a field has the wrong type (", util::utf8::repair(e.what()), ")")});
    }
  }
  return input;
}

std::map<std::string, reward::DuplicateMark> duplicate_marks_by_id(
    const std::vector<InputLine>& samples) {
  std::vector<const reward::Sample*> all;
  for (const InputLine& line : samples) all.push_back(&line.sample);
  const std::vector<reward::DuplicateMark> marks = reward::mark_duplicates_by_group(all);
  std::map<std::string, reward::DuplicateMark> by_id;
  for (size_t i = 0; i < all.size(); ++i) by_id[reward::id_key(all[i]->id)] = marks[i];
  return by_id;
}

}  // namespace safrl::cli
