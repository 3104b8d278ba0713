// `safrl score`: offline scoring of a JSONL file of rollouts, crash-safe and resumable.
//
// Output lines are appended and flushed to disk after every chunk; on a rerun with the same
// output file the ids already written are skipped and a torn last line (a crash mid-write) is cut
// off and redone, so nothing is lost or written twice. OUTPUT.meta.json records the input and the
// config that made the output (cli/score_record.h): a rerun with another input or config is
// refused, saying what differs, before anything is changed. A bad input line is recorded with its
// line number in OUTPUT.errors.jsonl and scoring goes on; the exit code is 1 when any line failed.
// The step statistics are computed from the whole output file (earlier runs included), with the
// same code the server uses.
//
// What goes to stderr: the command's own report (the progress line, each failed line, the step
// rows and the closing summary), written plainly, since users and scripts read it as the command's
// output and a failed line must pass through the progress line so as not to tear it; and its
// diagnostics (what it does with an earlier output, the monitors' alerts) through util::log, so
// --log-level and --log-format apply to them as to every other command's.
#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/config_file.h"
#include "cli/json_lines.h"
#include "cli/progress.h"
#include "cli/rescore.h"
#include "cli/runtime_flags.h"
#include "cli/score_input.h"
#include "cli/score_output.h"
#include "cli/score_record.h"
#include "cli/score_stats.h"
#include "reward/monitor_inputs.h"
#include "reward/rescore.h"
#include "reward/scorer.h"
#include "util/error.h"
#include "util/log.h"
#include "util/sha256.h"

namespace safrl::cli {

namespace {

using Clock = std::chrono::steady_clock;

// The logger's component of this command's diagnostics.
constexpr const char* kComponent = "score";

struct ScoreArgs {
  std::string config;
  std::string input;
  std::string output;
  std::string reward;
  std::string stats_out;
  size_t chunk = 64;
  RuntimeFlags runtime;
  bool overwrite = false;
  bool token_safety = false;  // --token-safety: each line gets the Stream guard's token labels
  RescoreArgs rescore;        // --rescore: its file; the rest is copied from the options above
};

std::string errors_path(const std::string& output) {
  return output + ".errors.jsonl";
}

std::string absolute(const std::string& path) {
  return std::filesystem::absolute(path).lexically_normal().string();
}

// The config's reward settings with the command line's overrides, refused before any model loads
// when the reward asked for needs a model the config does not have.
reward::Config load_score_config(const ScoreArgs& args) {
  reward::Config config = load_config_file(args.config).reward;
  if (!args.reward.empty()) reward::override_reward_type(config, args.reward);
  if (config.reward.type != reward::RewardType::kGuardOnly && !config.helpfulness) {
    throw util::LoadError(util::cat("reward ", reward::reward_type_name(config.reward.type),
                                    " needs a helpfulness model, and ", config.source,
                                    " has no helpfulness section"));
  }
  if (args.token_safety && config.guard.kind != reward::GuardKind::kStream) {
    throw util::LoadError(util::cat("--token-safety needs guard.kind: stream (", config.source,
                                    "'s guard is Qwen3Guard-Gen)"));
  }
  apply_runtime_flags(&args.runtime, config);
  return config;
}

// Checks that the output holds this input's and this config's work before anything is written
// to it, and records them when it holds nothing yet (or was written before records existed).
void check_or_record(const ScoreArgs& args, const EarlierOutput& earlier,
                     const nlohmann::json& current) {
  const std::string record_path = score_record_path(args.output);
  if (earlier.lines.empty()) {  // nothing to continue: whatever record is there is stale
    write_score_record(record_path, current);
    return;
  }
  const nlohmann::json recorded = read_score_record(record_path);
  if (recorded.is_null()) {
    util::log_warn(kComponent,
                   util::cat(args.output,
                             " has no record of the input and config that made it (it was "
                             "written by an earlier safrl, or ",
                             record_path,
                             " was deleted), so this run cannot check that it continues the same "
                             "work; resuming, and recording this input and config in ",
                             record_path));
    write_score_record(record_path, current);
    return;
  }
  // A record written before a setting existed: that run computed with the setting's default.
  const std::string mismatch =
      score_record_mismatch(recorded, current, reward::scoring_settings_json(reward::Config{}));
  if (!mismatch.empty()) {
    throw util::Error(util::cat(
        args.output, " holds ", earlier.lines.size(),
        " samples scored from another input or config, so this run cannot resume it: ", mismatch,
        ". To score from the start, delete ", args.output, " and ", record_path,
        " or add --overwrite; to keep them, give another --output"));
  }
}

// The output as earlier runs left it, made ready to append to.
struct ResumedOutput {
  std::vector<nlohmann::json> lines;  // the scored lines already there, in file order
  std::set<std::string> done;         // their ids, as reward::id_key
};

// Discards the output under --overwrite; otherwise reads it, checks it holds this run's work (or
// records that it does), and cuts off a torn last line, whose sample is then scored again.
ResumedOutput resume_output(const ScoreArgs& args, const reward::Config& config) {
  if (args.overwrite) {
    if (std::filesystem::exists(args.output)) {
      util::log_info(kComponent,
                     util::cat("--overwrite: scoring ", args.output, " from the start"));
    }
    for (const std::string& path :
         {args.output, errors_path(args.output), score_record_path(args.output)}) {
      std::filesystem::remove(path);
    }
  }
  EarlierOutput earlier = read_earlier_output(args.output);
  check_or_record(args, earlier,
                  make_score_record(absolute(args.input), util::sha256_file_hex(args.input),
                                    absolute(args.config), reward::scoring_settings_json(config)));
  if (earlier.torn_bytes > 0) {
    util::log_info(kComponent, util::cat(args.output, " ends in a torn line (", earlier.torn_bytes,
                                         " bytes, an interrupted write); it is discarded and its "
                                         "sample scored again"));
    cut_torn_line(args.output, earlier);
  }
  ResumedOutput resumed{std::move(earlier.lines), {}};
  for (const auto& line : resumed.lines) {
    if (!line.contains("id")) {
      throw util::Error(util::cat(args.output, " has a line without an id"));
    }
    resumed.done.insert(reward::id_key(line["id"]));
  }
  return resumed;
}

// The lines that could not be scored: each on stderr as "safrl score: IN line N: why" and in
// OUT.errors.jsonl, which holds this run's failures only (a rerun meets them again).
class FailureReport {
 public:
  FailureReport(std::string input, std::string path)
      : input_(std::move(input)), path_(std::move(path)), file_(path_, std::ios::trunc) {}

  // While a progress line is drawn, the lines go through it so they do not tear it.
  void draw_through(Progress* progress) { progress_ = progress; }

  void add(size_t number, const nlohmann::json& id, const std::string& message) {
    const std::string line = util::cat("safrl score: ", input_, " line ", number, ": ", message);
    if (progress_ != nullptr) {
      progress_->note(line);
    } else {
      std::cerr << line << '\n';
    }
    // Flushed at once: a run that crashes later still says which lines failed before it.
    file_ << dump_line({{"line", number}, {"id", id}, {"error", message}}) << '\n';
    file_.flush();
    ++count_;
  }

  size_t count() const { return count_; }
  const std::string& path() const { return path_; }

 private:
  std::string input_;
  std::string path_;
  std::ofstream file_;
  Progress* progress_ = nullptr;
  size_t count_ = 0;
};

// What this run has to do, read from the whole input.
struct ScoreWork {
  std::vector<InputLine> pending;  // not in the output yet, in input order
  size_t resumed = 0;              // in the output already
  // The monitors' within-group duplicates over the whole input, resumed lines included.
  std::map<std::string, reward::DuplicateMark> duplicates;
};

// Reads the input, reports its bad lines, and leaves out the samples already scored.
ScoreWork read_work(const std::string& input_path, const std::set<std::string>& done,
                    FailureReport& failures) {
  std::ifstream in(input_path, std::ios::binary);
  if (!in) throw util::Error(util::cat("cannot open --input ", input_path));
  ScoreInput input = read_score_input(in);
  for (const BadLine& bad : input.bad) failures.add(bad.number, bad.id, bad.error);
  ScoreWork work;
  work.duplicates = duplicate_marks_by_id(input.samples);
  for (InputLine& line : input.samples) {
    if (done.count(reward::id_key(line.sample.id)) != 0) {
      ++work.resumed;
    } else {
      work.pending.push_back(std::move(line));
    }
  }
  if (work.resumed > 0) {
    util::log_info(kComponent, util::cat("resuming; ", work.resumed, " samples already scored"));
  }
  return work;
}

using ScoredLine = std::pair<const InputLine*, reward::ScoredSample>;

// Scores one chunk; the lines the models refuse are reported and left out of the result.
std::vector<ScoredLine> score_chunk(reward::Scorer& scorer, const std::vector<InputLine>& chunk,
                                    FailureReport& failures) {
  std::vector<reward::Sample> samples;
  for (const InputLine& line : chunk) samples.push_back(line.sample);
  // One sample the models refuse must not take its chunk with it: score_groups scores the
  // lines one by one then.
  std::vector<reward::GroupResult> outcomes =
      reward::score_groups(scorer, samples, std::vector<size_t>(chunk.size(), 1));
  std::vector<ScoredLine> results;
  for (size_t i = 0; i < chunk.size(); ++i) {
    switch (outcomes[i].failure) {
      case reward::GroupResult::Failure::kNone:
        results.emplace_back(&chunk[i], std::move(outcomes[i].scored.front()));
        break;
      case reward::GroupResult::Failure::kBadInput:
      case reward::GroupResult::Failure::kTooLong:
      case reward::GroupResult::Failure::kModel:  // reported; a rerun scores it again
        failures.add(chunk[i].number, chunk[i].sample.id, outcomes[i].message);
        break;
      case reward::GroupResult::Failure::kInternal:
        // The models failed, not the line: stop, and a rerun resumes here.
        throw util::Error(
            util::cat("scoring line ", chunk[i].number, " failed: ", outcomes[i].message));
    }
  }
  return results;
}

// The progress display on stderr, as its terminal (or a log) wants it.
ProgressOptions stderr_progress() {
  ProgressOptions options;
  options.terminal = ::isatty(STDERR_FILENO) != 0;
  winsize size{};  // the terminal's columns; 0 when stderr is not a terminal or does not say
  options.width = ::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 ? size.ws_col : 0;
  options.prefix = "safrl score: ";
  return options;
}

struct ScoringTotals {
  size_t scored = 0;
  std::map<reward::StepKey, double> seconds_by_step;  // wall time spent on each step's samples
};

// Scores the pending samples chunk by chunk, each chunk appended to the output (and to `written`)
// and on disk before the next starts, with the progress on stderr.
ScoringTotals score_pending(const ScoreArgs& args, reward::Scorer& scorer,
                            const reward::Config& config, const std::vector<InputLine>& pending,
                            FailureReport& failures, std::vector<nlohmann::json>* written) {
  const std::string models = reward::models_hash(config);
  DurableAppender output(args.output);
  ScoringTotals totals;
  if (pending.empty()) return totals;
  const ProgressOptions options = stderr_progress();
  Progress progress(pending.size(), std::cerr, options);
  failures.draw_through(&progress);
  {
    // A terminal's line is redrawn twice a second, so its clock never lags a second behind; a
    // log only needs its line every 30 s.
    ProgressTicker ticker(progress, std::chrono::milliseconds(options.terminal ? 500 : 1000));
    for (size_t begin = 0; begin < pending.size(); begin += args.chunk) {
      const size_t end = std::min(pending.size(), begin + args.chunk);
      const std::vector<InputLine> chunk(pending.begin() + begin, pending.begin() + end);
      const auto start = Clock::now();
      const std::vector<ScoredLine> results = score_chunk(scorer, chunk, failures);
      std::string block;
      for (const auto& [line, scored] : results) {
        nlohmann::json json = scorer.to_json(line->sample, scored);
        json["models"] = models;  // what a rescore checks (reward/rescore.h)
        block += dump_line(json) + '\n';
        written->push_back(std::move(json));
      }
      output.append(block);
      totals.scored += results.size();
      const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
      for (const auto& [line, scored] : results) {
        totals.seconds_by_step[line->sample.step] += seconds / results.size();
      }
      progress.count(end);
    }
  }
  progress.finish();
  failures.draw_through(nullptr);
  return totals;
}

// The step rows of the whole output as the server writes them (shared with --rescore,
// cli/score_stats.h): on stderr, and in --stats-out when given.
void write_step_rows(const ScoreArgs& args, const reward::Config& config,
                     const std::vector<nlohmann::json>& written, const ScoreWork& work,
                     const ScoringTotals& totals) {
  const nlohmann::json rows =
      score_step_rows(written, config, work.duplicates, totals.seconds_by_step, kComponent);
  for (const auto& row : rows) std::cerr << "step " << row.dump() << '\n';
  if (args.stats_out.empty()) return;
  std::ofstream stats_file(args.stats_out, std::ios::trunc);
  if (!stats_file) throw util::Error(util::cat("cannot write --stats-out ", args.stats_out));
  stats_file << rows.dump(2) << '\n';
}

// The closing line: what this run did and where its time went.
std::string summary_line(const ScoringTotals& totals, const ScoreWork& work,
                         const FailureReport& failures, const reward::Scorer& scorer) {
  const auto timing = scorer.timing();
  return util::cat(
      "safrl score: ", totals.scored, " scored, ", work.resumed, " resumed, ", failures.count(),
      " failed", failures.count() > 0 ? util::cat(" (see ", failures.path(), ")") : "",
      "; guard prefill ", timing.guard.prefill_seconds, " s, guard decode ",
      timing.guard.decode_seconds, " s, helpfulness ", timing.helpfulness_seconds, " s");
}

int run_score(const ScoreArgs& args) {
  const reward::Config config = load_score_config(args);
  ResumedOutput resumed = resume_output(args, config);
  // Opened (and emptied) only once the output is known to be this run's to continue.
  FailureReport failures(args.input, errors_path(args.output));
  ScoreWork work = read_work(args.input, resumed.done, failures);
  for (InputLine& line : work.pending) line.sample.token_safety = args.token_safety;
  reward::Scorer scorer(config);
  std::vector<nlohmann::json> written = std::move(resumed.lines);
  const ScoringTotals totals =
      score_pending(args, scorer, config, work.pending, failures, &written);
  write_step_rows(args, config, written, work, totals);
  std::cerr << summary_line(totals, work, failures, scorer) << '\n';
  return failures.count() > 0 ? 1 : 0;
}

}  // namespace

void add_score_command(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<ScoreArgs>();
  CLI::App* cmd = app.add_subcommand(
      "score", "Score a JSONL file of rollouts offline (resumable; see docs/score.md)");
  cmd->add_option("--config", args->config, "YAML config (configs/default.yaml)")
      ->required()
      ->check(CLI::ExistingFile);
  CLI::Option* input =
      cmd->add_option(
             "--input", args->input,
             "JSONL: {\"id\", \"prompt\" or \"messages\", \"response\"} per line (docs/score.md)")
          ->check(CLI::ExistingFile);
  cmd->add_option("--output", args->output,
                  "JSONL output; rerun with the same file to resume (with --rescore: where the "
                  "rescored lines go, stdout without it)");
  cmd->add_option("--reward", args->reward,
                  "override reward.type: hybrid | guard_only | helpfulness_only");
  cmd->add_option("--stats-out", args->stats_out, "write the per-step statistics here (JSON)");
  CLI::Option* chunk =
      cmd->add_option("--chunk", args->chunk, "samples scored and written together")
          ->check(CLI::PositiveNumber)
          ->capture_default_str();
  CLI::Option* rescore =
      cmd->add_option("--rescore", args->rescore.rescore,
                      "a safrl score output: recompute its rewards and step statistics under "
                      "--config's reward settings from its stored verdicts, without any model "
                      "(docs/score.md)")
          ->check(CLI::ExistingFile)
          ->excludes(input)
          ->excludes(chunk);
  add_runtime_flags(*cmd, args->runtime);
  CLI::Option* token_safety = cmd->add_flag(
      "--token-safety", args->token_safety,
      "write each response's per-token safety labels (\"token_safety\"; needs guard.kind: "
      "stream; docs/score.md)");
  // A rescore keeps the token labels its lines hold; it computes none.
  token_safety->excludes(rescore);
  cmd->add_flag("--overwrite", args->overwrite,
                "score from the start: discard OUT, OUT.errors.jsonl and OUT.meta.json first "
                "(without it, a rerun resumes OUT)");
  cmd->callback([args, exit_code] {
    if (!args->rescore.rescore.empty()) {
      RescoreArgs& rescore = args->rescore;
      rescore.config = args->config;
      rescore.output = args->output;
      rescore.reward = args->reward;
      rescore.stats_out = args->stats_out;
      rescore.runtime = args->runtime;
      rescore.overwrite = args->overwrite;
      *exit_code = run_rescore(rescore);
      return;
    }
    if (args->input.empty()) throw CLI::RequiredError("--input (or --rescore)");
    if (args->output.empty()) throw CLI::RequiredError("--output");
    *exit_code = run_score(*args);
  });
}

}  // namespace safrl::cli
