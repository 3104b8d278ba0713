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
#include <fcntl.h>
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
#include "cli/score_record.h"
#include "cli/score_stats.h"
#include "reward/monitor_inputs.h"
#include "reward/monitors.h"
#include "reward/rescore.h"
#include "reward/scorer.h"
#include "util/error.h"
#include "util/sha256.h"

namespace safrl::cli {

namespace {

using Clock = std::chrono::steady_clock;

struct ScoreArgs {
  std::string config;
  std::string input;
  std::string output;
  std::string reward;
  std::string stats_out;
  size_t chunk = 64;
  RuntimeFlags runtime;
  bool overwrite = false;
  RescoreArgs rescore;  // --rescore: its file; the rest is copied from the options above
};

// Appends whole lines to a file and makes them durable before returning.
class DurableAppender {
 public:
  explicit DurableAppender(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) throw util::Error(util::cat("cannot open ", path, " for writing"));
  }
  ~DurableAppender() { ::close(fd_); }
  void append(const std::string& text) {
    size_t written = 0;
    while (written < text.size()) {
      const ssize_t n = ::write(fd_, text.data() + written, text.size() - written);
      if (n < 0) throw util::Error(util::cat("cannot write to ", path_));
      written += static_cast<size_t>(n);
    }
    if (::fsync(fd_) != 0) throw util::Error(util::cat("cannot sync ", path_));
  }

 private:
  std::string path_;
  int fd_ = -1;
};

// What an earlier run wrote to the output file.
struct EarlierOutput {
  std::vector<nlohmann::json> lines;
  size_t complete_bytes = 0;  // up to the end of the last whole line
  size_t torn_bytes = 0;      // after it: an interrupted write
};

EarlierOutput read_earlier_output(const std::string& path) {
  EarlierOutput earlier;
  std::ifstream in(path, std::ios::binary);
  if (!in) return earlier;
  const std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t last_newline = content.rfind('\n');
  earlier.complete_bytes = last_newline == std::string::npos ? 0 : last_newline + 1;
  earlier.torn_bytes = content.size() - earlier.complete_bytes;
  // A scored line holds its input's meta and a few dozen values more.
  LineLimits limits;
  limits.max_values *= 2;
  size_t start = 0, number = 1;
  for (size_t end; start < earlier.complete_bytes; start = end + 1, ++number) {
    end = content.find('\n', start);
    try {
      earlier.lines.push_back(
          parse_json_line({number, content.substr(start, end - start), 0}, limits));
    } catch (const util::InputError& e) {
      throw util::Error(util::cat(path, " line ", number, " is not a scored sample (", e.what(),
                                  "); this file was not written by safrl score. Move it away or "
                                  "give another --output"));
    }
  }
  return earlier;
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
    std::cerr << "safrl score: warning: " << args.output
              << " has no record of the input and config that made it (it was written by an "
                 "earlier safrl, or "
              << record_path
              << " was deleted), so this run cannot check that it continues the same work; "
                 "resuming, and recording this input and config in "
              << record_path << '\n';
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

// The terminal's width in columns; 0 when stderr is not a terminal or does not say.
size_t terminal_columns() {
  winsize size{};
  return ::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 ? size.ws_col : 0;
}

int run_score(const ScoreArgs& args) {
  reward::Config config = load_config_file(args.config).reward;
  if (!args.reward.empty()) config.reward.type = reward::parse_reward_type(args.reward);
  if (config.reward.type != reward::RewardType::kGuardOnly && !config.helpfulness) {
    throw util::LoadError(util::cat("reward ", reward::reward_type_name(config.reward.type),
                                    " needs a helpfulness model, and ", config.source,
                                    " has no helpfulness section"));
  }
  apply_runtime_flags(&args.runtime, config);

  const std::string errors_path = args.output + ".errors.jsonl";
  if (args.overwrite) {
    if (std::filesystem::exists(args.output)) {
      std::cerr << "safrl score: --overwrite: scoring " << args.output << " from the start\n";
    }
    for (const std::string& path : {args.output, errors_path, score_record_path(args.output)}) {
      std::filesystem::remove(path);
    }
  }
  EarlierOutput earlier = read_earlier_output(args.output);
  auto absolute = [](const std::string& path) {
    return std::filesystem::absolute(path).lexically_normal().string();
  };
  check_or_record(args, earlier,
                  make_score_record(absolute(args.input), util::sha256_file_hex(args.input),
                                    absolute(args.config), reward::scoring_settings_json(config)));
  if (earlier.torn_bytes > 0) {
    std::cerr << "safrl score: " << args.output << " ends in a torn line (" << earlier.torn_bytes
              << " bytes, an interrupted write); it is discarded and its sample scored again\n";
    if (::truncate(args.output.c_str(), static_cast<off_t>(earlier.complete_bytes)) != 0) {
      throw util::Error(util::cat("cannot truncate the torn last line of ", args.output));
    }
  }
  std::vector<nlohmann::json> written = std::move(earlier.lines);
  std::set<std::string> done;
  for (const auto& line : written) {
    if (!line.contains("id"))
      throw util::Error(util::cat(args.output, " has a line without an id"));
    done.insert(reward::id_key(line["id"]));
  }

  std::ofstream errors(errors_path, std::ios::trunc);
  size_t failed = 0;
  // While the progress line is drawn, messages go through it so they do not tear it.
  std::optional<Progress> progress;
  auto report = [&](size_t number, const nlohmann::json& id, const std::string& message) {
    const std::string line =
        util::cat("safrl score: ", args.input, " line ", number, ": ", message);
    if (progress) {
      progress->note(line);
    } else {
      std::cerr << line << '\n';
    }
    errors << dump_line({{"line", number}, {"id", id}, {"error", message}}) << '\n';
    errors.flush();
    ++failed;
  };

  std::ifstream in(args.input, std::ios::binary);
  if (!in) throw util::Error(util::cat("cannot open --input ", args.input));
  ScoreInput input = read_score_input(in);
  for (const BadLine& bad : input.bad) report(bad.number, bad.id, bad.error);
  // The monitors' duplicates within groups, over the whole input (resumed lines included).
  std::map<std::string, reward::DuplicateMark> duplicates;
  {
    std::vector<const reward::Sample*> all;
    for (const InputLine& line : input.samples) all.push_back(&line.sample);
    const std::vector<reward::DuplicateMark> marks = reward::mark_duplicates_by_group(all);
    for (size_t i = 0; i < all.size(); ++i) duplicates[reward::id_key(all[i]->id)] = marks[i];
  }
  std::vector<InputLine> pending;
  size_t resumed = 0;
  for (InputLine& line : input.samples) {
    if (done.count(reward::id_key(line.sample.id)) != 0) {
      ++resumed;
    } else {
      pending.push_back(std::move(line));
    }
  }
  if (resumed > 0) std::cerr << "safrl score: resuming; " << resumed << " samples already scored\n";

  reward::Scorer scorer(config);
  const std::string models = reward::models_hash(config);
  DurableAppender output(args.output);
  std::optional<ProgressTicker> ticker;
  if (!pending.empty()) {
    ProgressOptions options;
    options.terminal = ::isatty(STDERR_FILENO) != 0;
    options.width = terminal_columns();
    options.prefix = "safrl score: ";
    progress.emplace(pending.size(), std::cerr, options);
    // A terminal's line is redrawn twice a second, so its clock never lags a second behind; a
    // log only needs its line every 30 s.
    ticker.emplace(*progress, std::chrono::milliseconds(options.terminal ? 500 : 1000));
  }
  std::map<reward::StepKey, double> seconds_by_step;
  size_t scored_count = 0;
  for (size_t begin = 0; begin < pending.size(); begin += args.chunk) {
    const size_t end = std::min(pending.size(), begin + args.chunk);
    std::vector<InputLine> chunk(pending.begin() + begin, pending.begin() + end);
    const auto start = Clock::now();
    std::vector<reward::Sample> samples;
    for (const InputLine& line : chunk) samples.push_back(line.sample);
    // One sample the models refuse must not take its chunk with it: score_groups scores the
    // lines one by one then.
    std::vector<reward::GroupResult> outcomes =
        reward::score_groups(scorer, samples, std::vector<size_t>(chunk.size(), 1));
    std::vector<std::pair<const InputLine*, reward::ScoredSample>> results;
    for (size_t i = 0; i < chunk.size(); ++i) {
      switch (outcomes[i].failure) {
        case reward::GroupResult::Failure::kNone:
          results.emplace_back(&chunk[i], std::move(outcomes[i].scored.front()));
          break;
        case reward::GroupResult::Failure::kBadInput:
        case reward::GroupResult::Failure::kTooLong:
        case reward::GroupResult::Failure::kModel:  // reported; a rerun scores it again
          report(chunk[i].number, chunk[i].sample.id, outcomes[i].message);
          break;
        case reward::GroupResult::Failure::kInternal:
          // The models failed, not the line: stop, and a rerun resumes here.
          throw util::Error(
              util::cat("scoring line ", chunk[i].number, " failed: ", outcomes[i].message));
      }
    }
    std::string block;
    for (const auto& [line, scored] : results) {
      nlohmann::json json = scorer.to_json(line->sample, scored);
      json["models"] = models;  // what a rescore checks (reward/rescore.h)
      block += dump_line(json) + '\n';
      written.push_back(std::move(json));
    }
    output.append(block);
    scored_count += results.size();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    for (const auto& [line, scored] : results) {
      seconds_by_step[line->sample.step] += seconds / results.size();
    }
    progress->count(end);
  }
  if (progress) {
    ticker.reset();
    progress->finish();
  }

  // The rows as the server writes them (shared with --rescore, cli/score_stats.h).
  const nlohmann::json summaries =
      score_step_rows(written, config, duplicates, seconds_by_step, "safrl score");
  for (const auto& summary : summaries) std::cerr << "step " << summary.dump() << '\n';
  if (!args.stats_out.empty()) {
    std::ofstream stats_file(args.stats_out, std::ios::trunc);
    if (!stats_file) throw util::Error(util::cat("cannot write --stats-out ", args.stats_out));
    stats_file << summaries.dump(2) << '\n';
  }
  const auto timing = scorer.timing();
  std::cerr << "safrl score: " << scored_count << " scored, " << resumed << " resumed, " << failed
            << " failed" << (failed > 0 ? util::cat(" (see ", errors_path, ")") : "")
            << "; guard prefill " << timing.guard.prefill_seconds << " s, guard decode "
            << timing.guard.decode_seconds << " s, helpfulness " << timing.helpfulness_seconds
            << " s\n";
  return failed > 0 ? 1 : 0;
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
  cmd->add_option("--rescore", args->rescore.rescore,
                  "a safrl score output: recompute its rewards and step statistics under "
                  "--config's reward settings from its stored verdicts, without any model "
                  "(docs/score.md)")
      ->check(CLI::ExistingFile)
      ->excludes(input)
      ->excludes(chunk);
  add_runtime_flags(*cmd, args->runtime);
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
