// `safrl bench`: the scoring path on a GRPO-shaped workload (P prompts x G responses, lengths
// spread like real rollouts), in process or through a running service. Figures go to stdout as
// one JSON object (and a readable summary on stderr); RESULTS.md records them with the command.
#include <chrono>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/config_file.h"
#include "cli/runtime_flags.h"
#include "engine/matmul_rate.h"
#include "io/model_config.h"
#include "reward/scorer.h"
#ifdef SAFRL_WITH_SERVER
#include "serve/client.h"
#endif
#include "util/error.h"
#include "util/log.h"
#include "util/process_memory.h"

namespace safrl::cli {

namespace {

using Clock = std::chrono::steady_clock;

struct BenchArgs {
  std::string config;
  std::string endpoint;
  int prompts = 16;
  int group = 8;
  int in_flight = 8;
  int seed = 1;
  bool no_prefix_reuse = false;
  std::string dump_workload;
};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Text of `words` words drawn from a small multilingual word list.
std::string text(std::mt19937& rng, int words) {
  static const std::vector<std::string> kWords = {
      "the",    "model",  "answer", "safety", "please", "explain", "how",  "why",  "data",
      "policy", "reward", "train",  "step",   "group",  "prompt",  "知识", "安全", "réponse",
      "sí",     "ответ",  "code",   "def",    "return", "value",   "\n",   "123",  "?"};
  std::string out;
  for (int i = 0; i < words; ++i) out += (i ? " " : "") + kWords[rng() % kWords.size()];
  return out;
}

// Response lengths spread as rollouts are: many short, a long tail (log-uniform 20..400 words).
int response_words(std::mt19937& rng) {
  std::uniform_real_distribution<double> u(std::log(20.0), std::log(400.0));
  return static_cast<int>(std::exp(u(rng)));
}

std::vector<nlohmann::json> make_groups(const BenchArgs& args) {
  std::mt19937 rng(args.seed);
  std::vector<nlohmann::json> groups;
  for (int p = 0; p < args.prompts; ++p) {
    nlohmann::json responses = nlohmann::json::array();
    for (int g = 0; g < args.group; ++g) {
      std::string response = text(rng, response_words(rng));
      if (g % 2 == 0)
        response = "<think>\n" + text(rng, response_words(rng) / 2) + "\n</think>\n\n" + response;
      responses.push_back(response);
    }
    groups.push_back({{"prompt", text(rng, 20 + static_cast<int>(rng() % 100))},
                      {"responses", responses},
                      {"step", 0}});
  }
  return groups;
}

// The FLOP figures of one model's share of the run, over the seconds that model ran.
nlohmann::json work_json(const engine::Work& work, double seconds) {
  return {{"forwards", work.forwards},
          {"tokens", work.tokens},
          {"gflop", work.flops() / 1e9},
          {"gflop_per_s", seconds > 0 ? work.flops() / seconds / 1e9 : 0.0},
          {"head_gflop", work.head_flops / 1e9},
          {"full_head_gflop", work.full_head_flops / 1e9}};
}

int run_in_process(const BenchArgs& args) {
  const ConfigFile file = load_config_file(args.config);
  reward::Config config = file.reward;
  apply_runtime_flags(nullptr, config);
  if (args.no_prefix_reuse) config.batching.share_prefixes = false;
  // The models are measured, not the judgement cache: the warm-up's sample would come back
  // from it, and so would any repeated answer of the synthetic groups.
  config.batching.judgement_cache_bytes = 0;
  reward::Scorer scorer(config);
  std::vector<reward::Sample> samples;
  for (const auto& group : make_groups(args)) {
    for (size_t k = 0; k < group["responses"].size(); ++k) {
      samples.push_back(reward::sample_from_json({{"id", samples.size()},
                                                  {"prompt", group["prompt"]},
                                                  {"response", group["responses"][k]},
                                                  {"step", 0}}));
    }
  }
  // The ceiling: this machine's rate on a product of the guard's largest prefill shape (2048
  // tokens x hidden x MLP width), in the run's dtype and device, measured before the run.
  const io::ModelConfig guard_config = io::load_model_config(config.guard.model);
  const double matmul =
      engine::matmul_gflops(reward::run_options(config.runtime), 2048, guard_config.hidden_size,
                            guard_config.intermediate_size);
  scorer.score({samples.front()});  // warm-up: head caches, allocator
  const auto before = scorer.timing();
  const auto start = Clock::now();
  const size_t pass = static_cast<size_t>(file.server.max_batch_samples);
  for (size_t begin = 0; begin < samples.size(); begin += pass) {
    const size_t end = std::min(samples.size(), begin + pass);
    scorer.score({samples.begin() + static_cast<std::ptrdiff_t>(begin),
                  samples.begin() + static_cast<std::ptrdiff_t>(end)});
  }
  const double seconds = seconds_since(start);
  const auto after = scorer.timing();
  const engine::Work guard = after.guard_work - before.guard_work;
  const engine::Work helpfulness = after.helpfulness_work - before.helpfulness_work;
  engine::Work total = guard;
  total += helpfulness;
  const double achieved = total.flops() / seconds / 1e9;
  const nlohmann::json result = {
      {"mode", "in_process"},
      {"prompts", args.prompts},
      {"group", args.group},
      {"samples", samples.size()},
      {"prefix_reuse", config.batching.share_prefixes},
      {"seconds", seconds},
      {"samples_per_s", samples.size() / seconds},
      {"tokens_per_s", static_cast<double>(total.tokens) / seconds},
      {"gflop_per_s", achieved},
      {"matmul_gflop_per_s", matmul},
      {"fraction_of_matmul", achieved / matmul},
      {"peak_rss_mib",
       static_cast<double>(util::process_memory().peak_resident_bytes) / (1024.0 * 1024.0)},
      {"guard_prefill_s", after.guard.prefill_seconds - before.guard.prefill_seconds},
      {"guard_decode_s", after.guard.decode_seconds - before.guard.decode_seconds},
      {"guard_decode_steps", after.guard.decode_steps - before.guard.decode_steps},
      {"guard_prefill_tokens", after.guard.prefill_tokens - before.guard.prefill_tokens},
      {"guard_prefix_tokens_saved",
       after.guard.prefix_tokens_saved - before.guard.prefix_tokens_saved},
      {"helpfulness_s", after.helpfulness_seconds - before.helpfulness_seconds},
      {"helpfulness_tokens", after.helpfulness_tokens - before.helpfulness_tokens},
      {"helpfulness_prefix_tokens_saved",
       after.helpfulness_tokens_saved - before.helpfulness_tokens_saved},
      // What computing the LM head only at verdict positions (and only over the verdict
      // grammar's tokens) saves against a plain forward's head over every position.
      {"lm_head_gflop_saved", (guard.full_head_flops - guard.head_flops) / 1e9},
      {"guard_work",
       work_json(guard, after.guard.prefill_seconds + after.guard.decode_seconds -
                            before.guard.prefill_seconds - before.guard.decode_seconds)},
      {"helpfulness_work",
       work_json(helpfulness, after.helpfulness_seconds - before.helpfulness_seconds)},
  };
  std::cout << result.dump() << std::endl;
  std::cerr << "safrl bench: " << samples.size() << " samples in " << seconds
            << " s = " << result["samples_per_s"].get<double>() << " samples/s, "
            << result["tokens_per_s"].get<double>() << " tokens/s, " << achieved
            << " GFLOP/s = " << achieved / matmul << " of the matmul rate (" << matmul
            << " GFLOP/s); guard prefill " << result["guard_prefill_s"].get<double>()
            << " s, decode " << result["guard_decode_s"].get<double>() << " s, helpfulness "
            << result["helpfulness_s"].get<double>() << " s; peak RSS "
            << result["peak_rss_mib"].get<double>() << " MiB\n";
  return 0;
}

#ifdef SAFRL_WITH_SERVER
int run_through_service(const BenchArgs& args) {
  serve::ClientOptions options;
  options.endpoints = {args.endpoint};
  serve::Client client(options);
  client.ping();
  const auto groups = make_groups(args);
  const nlohmann::json counters_before = client.stats()["counters"];
  std::map<std::string, Clock::time_point> sent;
  std::vector<double> latencies;
  size_t next = 0, samples = 0, errors = 0;
  const auto start = Clock::now();
  while (latencies.size() + errors < groups.size()) {
    while (next < groups.size() && sent.size() < static_cast<size_t>(args.in_flight)) {
      const std::string id =
          client.send({{"type", "score"}, {"groups", nlohmann::json::array({groups[next]})}});
      sent[id] = Clock::now();
      ++next;
    }
    auto reply = client.receive(600);
    if (!reply) throw util::Error("the service did not answer within 600 s");
    auto it = sent.find(reply->value("id", ""));
    if (it == sent.end()) continue;
    if (reply->value("type", "") == "score") {
      latencies.push_back(seconds_since(it->second));
      samples += (*reply)["results"].size();
    } else {
      ++errors;
      util::log_error("bench", util::cat("error reply ", reply->dump()));
    }
    sent.erase(it);
  }
  const double seconds = seconds_since(start);
  const nlohmann::json counters = client.stats()["counters"];
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double q) {
    return latencies.empty() ? 0.0 : latencies[static_cast<size_t>(q * (latencies.size() - 1))];
  };
  const nlohmann::json result = {
      {"mode", "service"},
      {"endpoint", args.endpoint},
      {"prompts", args.prompts},
      {"group", args.group},
      {"in_flight", args.in_flight},
      {"requests", groups.size()},
      {"errors", errors},
      {"samples", samples},
      {"seconds", seconds},
      {"requests_per_s", groups.size() / seconds},
      {"samples_per_s", samples / seconds},
      // The server's own counters, so also what other clients sent.
      {"tokens_per_s",
       (counters.value("tokens", int64_t{0}) - counters_before.value("tokens", int64_t{0})) /
           seconds},
      {"prefix_tokens_saved", counters.value("prefix_tokens_saved", int64_t{0}) -
                                  counters_before.value("prefix_tokens_saved", int64_t{0})},
      {"server_peak_rss_mib",
       static_cast<double>(counters.value("peak_resident_bytes", int64_t{0})) / (1024.0 * 1024.0)},
      {"latency_p50_s", pct(0.5)},
      {"latency_p90_s", pct(0.9)},
      {"latency_p99_s", pct(0.99)}};
  std::cout << result.dump() << std::endl;
  return errors > 0 ? 1 : 0;
}
#else
int run_through_service(const BenchArgs&) {
  throw util::InputError("this safrl was built without the service (SAFRL_WITH_SERVER=OFF)");
}
#endif

}  // namespace

void add_bench_command(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "Benchmark the scoring path on a GRPO-shaped workload (in process or --endpoint)");
  cmd->add_option("--config", args->config, "YAML config (in-process mode)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--endpoint", args->endpoint, "benchmark a running service instead");
  cmd->add_option("--prompts", args->prompts, "prompts (P)")->capture_default_str();
  cmd->add_option("--group", args->group, "responses per prompt (G)")->capture_default_str();
  cmd->add_option("--in-flight", args->in_flight, "requests in flight (service mode)")
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "workload seed")->capture_default_str();
  cmd->add_flag("--no-prefix-reuse", args->no_prefix_reuse,
                "compute every token of every sample, the guard template's head included (to "
                "measure what reuse saves)");
  cmd->add_option("--dump-workload", args->dump_workload,
                  "write the workload's samples as JSON lines to this file and exit (for the "
                  "baseline in experiments/bench/peer/transformers_peer.py)");
  cmd->callback([args, exit_code] {
    if (!args->dump_workload.empty()) {
      std::ofstream out(args->dump_workload);
      int id = 0;
      for (const auto& group : make_groups(*args)) {
        for (const auto& response : group["responses"]) {
          out << nlohmann::json{{"id", id++}, {"prompt", group["prompt"]}, {"response", response}}
                     .dump()
              << '\n';
        }
      }
      if (!out) throw util::Error(util::cat("cannot write ", args->dump_workload));
      *exit_code = 0;
      return;
    }
    if (args->endpoint.empty() == args->config.empty()) {
      throw util::InputError("give --config (in process) or --endpoint (a running service)");
    }
    *exit_code = args->endpoint.empty() ? run_in_process(*args) : run_through_service(*args);
  });
}

}  // namespace safrl::cli
