// `safrl score`: offline scoring of a JSONL file of rollouts, crash-safe and resumable.
//
// Output lines are appended and flushed to disk after every chunk; on a rerun with the same
// output file the ids already written are skipped and a torn last line (a crash mid-write) is cut
// off and redone, so nothing is lost or written twice. A bad input line is recorded with its line
// number in OUTPUT.errors.jsonl and scoring goes on; the exit code is 1 when any line failed.
// The step statistics are computed from the whole output file (earlier runs included), with the
// same code the server uses.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/config_file.h"
#include "reward/scorer.h"
#include "util/error.h"

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
};

struct InputLine {
  size_t number = 0;
  reward::Sample sample;
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

// Reads the lines an earlier run wrote; cuts a torn last line off the file.
std::vector<nlohmann::json> resume_output(const std::string& path) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(path, std::ios::binary);
  if (!in) return lines;
  const std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t complete = content.rfind('\n') == std::string::npos ? 0 : content.rfind('\n') + 1;
  size_t start = 0, number = 1;
  for (size_t end; start < complete; start = end + 1, ++number) {
    end = content.find('\n', start);
    try {
      lines.push_back(nlohmann::json::parse(content.substr(start, end - start)));
    } catch (const nlohmann::json::exception&) {
      throw util::Error(util::cat(path, " line ", number,
                                  " is not JSON; this file was not written by safrl score. Move "
                                  "it away or give another --output"));
    }
  }
  if (complete < content.size()) {
    std::cerr << "safrl score: " << path << " ends in a torn line (" << content.size() - complete
              << " bytes, an interrupted write); it is discarded and its sample scored again\n";
    if (::truncate(path.c_str(), static_cast<off_t>(complete)) != 0) {
      throw util::Error(util::cat("cannot truncate the torn last line of ", path));
    }
  }
  return lines;
}

std::string format_duration(double seconds) {
  const long s = static_cast<long>(seconds + 0.5);
  char text[32];
  if (s >= 3600) {
    std::snprintf(text, sizeof text, "%ldh%02ldm", s / 3600, s / 60 % 60);
  } else {
    std::snprintf(text, sizeof text, "%ldm%02lds", s / 60, s % 60);
  }
  return text;
}

class Progress {
 public:
  explicit Progress(size_t total) : total_(total), tty_(::isatty(2) != 0), start_(Clock::now()) {}
  void update(size_t done, bool final = false) {
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    if (!tty_ && !final && elapsed - last_print_ < 10) return;
    last_print_ = elapsed;
    const double rate = elapsed > 0 ? done / elapsed : 0;
    const double eta = rate > 0 ? (total_ - done) / rate : 0;
    const int width = 30;
    const int filled = total_ ? static_cast<int>(width * done / total_) : width;
    std::fprintf(stderr, "%s[%s%s] %zu/%zu %.2f samples/s ETA %s%s", tty_ ? "\r" : "",
                 std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(), done,
                 total_, rate, format_duration(eta).c_str(), tty_ && !final ? "" : "\n");
    std::fflush(stderr);
  }

 private:
  size_t total_;
  bool tty_;
  Clock::time_point start_;
  double last_print_ = -1e9;
};

int run_score(const ScoreArgs& args) {
  reward::Config config = load_config_file(args.config).reward;
  if (!args.reward.empty()) config.reward.type = reward::parse_reward_type(args.reward);
  if (config.reward.type != reward::RewardType::kGuardOnly && !config.helpfulness) {
    throw util::LoadError(util::cat("reward ", reward::reward_type_name(config.reward.type),
                                    " needs a helpfulness model, and ", config.source,
                                    " has no helpfulness section"));
  }

  std::vector<nlohmann::json> written = resume_output(args.output);
  std::set<std::string> done;
  for (const auto& line : written) {
    if (!line.contains("id"))
      throw util::Error(util::cat(args.output, " has a line without an id"));
    done.insert(reward::id_key(line["id"]));
  }

  const std::string errors_path = args.output + ".errors.jsonl";
  std::ofstream errors(errors_path, std::ios::trunc);
  size_t failed = 0;
  auto report = [&](size_t number, const nlohmann::json& id, const std::string& message) {
    std::cerr << "safrl score: " << args.input << " line " << number << ": " << message << '\n';
    errors << nlohmann::json{{"line", number}, {"id", id}, {"error", message}}.dump() << '\n';
    errors.flush();
    ++failed;
  };

  std::ifstream in(args.input);
  if (!in) throw util::Error(util::cat("cannot open --input ", args.input));
  std::vector<InputLine> pending;
  std::map<std::string, size_t> seen;
  size_t resumed = 0;
  std::string text;
  for (size_t number = 1; std::getline(in, text); ++number) {
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json value;
    try {
      value = nlohmann::json::parse(text);
      InputLine line{number, reward::sample_from_json(value)};
      const std::string key = reward::id_key(line.sample.id);
      if (auto it = seen.find(key); it != seen.end()) {
        throw util::InputError(util::cat("id ", key, " was already used on line ", it->second,
                                         "; ids must be unique"));
      }
      seen.emplace(key, number);
      if (done.count(key) != 0) {
        ++resumed;
      } else {
        pending.push_back(std::move(line));
      }
    } catch (const nlohmann::json::exception& e) {
      report(number, nullptr, util::cat("not valid JSON (", e.what(), ")"));
    } catch (const util::InputError& e) {
      report(number, value.is_object() && value.contains("id") ? value["id"] : nlohmann::json(),
             e.what());
    }
  }
  if (resumed > 0) std::cerr << "safrl score: resuming; " << resumed << " samples already scored\n";

  reward::Scorer scorer(config);
  DurableAppender output(args.output);
  Progress progress(pending.size());
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
      block += json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + '\n';
      written.push_back(std::move(json));
    }
    output.append(block);
    scored_count += results.size();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    for (const auto& [line, scored] : results) {
      seconds_by_step[line->sample.step] += seconds / results.size();
    }
    progress.update(end, end == pending.size());
  }

  reward::StepStats stats;
  for (const auto& line : written) stats.add(reward::outcome_from_output(line, config.reward));
  nlohmann::json summaries = nlohmann::json::array();
  for (const reward::StepKey& step : stats.steps()) {
    summaries.push_back(stats.summary(step, seconds_by_step[step]));
  }
  for (const auto& summary : summaries) std::cerr << "step " << summary.dump() << '\n';
  if (!args.stats_out.empty()) {
    std::ofstream stats_file(args.stats_out, std::ios::trunc);
    if (!stats_file) throw util::Error(util::cat("cannot write --stats-out ", args.stats_out));
    stats_file << summaries.dump(2) << '\n';
  }
  const auto timing = scorer.timing();
  std::cerr << "safrl score: " << scored_count << " scored, " << resumed << " resumed, " << failed
            << " failed (see " << errors_path << "); guard prefill " << timing.guard.prefill_seconds
            << " s, guard decode " << timing.guard.decode_seconds << " s, helpfulness "
            << timing.helpfulness_seconds << " s\n";
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
  cmd->add_option("--input", args->input, "JSONL: {\"id\", \"prompt\", \"response\"} per line")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--output", args->output, "JSONL output; rerun with the same file to resume")
      ->required();
  cmd->add_option("--reward", args->reward,
                  "override reward.type: hybrid | guard_only | helpfulness_only");
  cmd->add_option("--stats-out", args->stats_out, "write the per-step statistics here (JSON)");
  cmd->add_option("--chunk", args->chunk, "samples scored and written together")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->callback([args, exit_code] { *exit_code = run_score(*args); });
}

}  // namespace safrl::cli
