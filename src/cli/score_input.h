// The input of `safrl score`: a JSONL file of samples, read whole into the samples to score and
// the lines that cannot be, each with its line number and what is wrong with it.
//
// No line stops the reading: bytes that are not UTF-8, text that is not JSON, nesting or sizes
// past cli::LineLimits, a field of the wrong type (reward::sample_from_json) and an id used
// before all make a BadLine, and the lines after it are read as if it were not there, so a rerun
// meets the same bad line and goes past it again. Torch-free, so the fuzz target feeds it whole
// files. A pure function of the stream's bytes.
#pragma once

#include <cstddef>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/json_lines.h"
#include "reward/monitor_inputs.h"
#include "reward/sample.h"

namespace safrl::cli {

struct InputLine {
  size_t number = 0;  // from 1, counting every line of the file
  reward::Sample sample;
};

struct BadLine {
  size_t number = 0;
  nlohmann::json id;  // the line's "id" when it is an object that has one; else null
  std::string error;  // valid UTF-8: it is written to OUT.errors.jsonl
};

struct ScoreInput {
  std::vector<InputLine> samples;  // in input order, ids unique
  std::vector<BadLine> bad;        // in input order
};

ScoreInput read_score_input(std::istream& in, const LineLimits& limits = {});

// The monitors' within-group duplicate marks of the samples (reward::mark_duplicates_by_group), by
// reward::id_key of each sample's id: the whole input's, so a resumed run marks its lines as one
// uninterrupted run would.
std::map<std::string, reward::DuplicateMark> duplicate_marks_by_id(
    const std::vector<InputLine>& samples);

}  // namespace safrl::cli
