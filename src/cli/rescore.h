// `safrl score --rescore OUT.jsonl --config NEW.yaml [--output NEW_OUT.jsonl]`: the lines of a
// `safrl score` output rescored under NEW's reward settings (reward/rescore.h) and their step
// statistics, without loading any model (docs/score.md, "Scoring again without judging again").
// Every line is rescored before anything is written: a line that cannot be (it needs a model
// output it lacks, or was judged by other models) stops the run, naming the line and the setting.
// The output is written whole (to a temporary file renamed into place) with its record
// (OUT.meta.json: the rescored file as input, NEW's settings), or to stdout without --output.
#pragma once

#include <string>

#include "cli/runtime_flags.h"

namespace safrl::cli {

struct RescoreArgs {
  std::string rescore;  // the `safrl score` output to rescore
  std::string config;
  std::string output;  // empty: stdout
  std::string reward;  // overrides reward.type, as for a scoring run
  std::string stats_out;
  RuntimeFlags runtime;  // --dtype enters the models hash; --device is not used
  bool overwrite = false;
};

// Returns the exit code (0); throws util::Error when the rescore cannot be done.
int run_rescore(const RescoreArgs& args);

}  // namespace safrl::cli
