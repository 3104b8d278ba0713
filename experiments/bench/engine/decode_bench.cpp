// Cost of one guard decode step against its bound, on a model with real shapes and random weights.
//
//   decode_bench CONFIG.json [--seqs 24] [--group 8] [--head 120] [--prefix 400] [--own 116]
//                [--steps 6] [--trace FILE]
//
// The caches are shaped as the guard's: one template head shared by every sequence, one prompt
// prefix per group of `group` sequences (a GRPO group), and each sequence's own tokens; the
// defaults give the 24 conversations of 636 tokens of issue 29's workload. Then `steps` decode
// steps of one token per sequence, with the LM head on every row as the guard's. Each figure is
// the median over the steps, in processor seconds; the bound is `seqs` prefilled tokens (their
// share of a 1024-token prefill) plus `seqs` LM-head rows plus one read of every weight. --trace
// writes one step's operations as a chrome trace (LibTorch's legacy profiler).
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/profiler_legacy.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "io/model_config.h"
#include "util/mapped_file.h"
#include "util/process_memory.h"

namespace {

// Processor seconds of the whole process (every thread), not wall time: on a shared machine the
// time spent waiting for a core would otherwise swamp the differences measured.
double median_seconds(int repeats, const std::function<void()>& run) {
  std::vector<double> times;
  for (int r = 0; r < repeats; ++r) {
    const std::clock_t start = std::clock();
    run();
    times.push_back(static_cast<double>(std::clock() - start) / CLOCKS_PER_SEC);
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

std::vector<int32_t> random_ids(std::mt19937& rng, int64_t count) {
  std::vector<int32_t> ids(count);
  for (auto& id : ids) id = static_cast<int32_t>(rng() % 151000);
  return ids;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: %s CONFIG.json [--seqs N] [--group G] [--head H] [--prefix P] [--own O] "
                 "[--steps S] [--trace FILE]\n",
                 argv[0]);
    return 2;
  }
  safrl::util::keep_freed_memory_for_reuse();  // as the safrl program does
  int64_t seqs = 24, group = 8, head = 120, prefix = 400, own = 116;
  int steps = 6;
  std::string trace;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--seqs") seqs = std::stoll(value);
    if (flag == "--group") group = std::stoll(value);
    if (flag == "--head") head = std::stoll(value);
    if (flag == "--prefix") prefix = std::stoll(value);
    if (flag == "--own") own = std::stoll(value);
    if (flag == "--steps") steps = std::stoi(value);
    if (flag == "--trace") trace = value;
  }
  c10::InferenceMode inference;
  const auto config = safrl::io::parse_model_config(safrl::util::read_text_file(argv[1]), argv[1]);
  safrl::model::RunOptions options;
  safrl::model::QwenWithHead model(config, options.storage_dtype);
  at::manual_seed(0);
  for (auto& p : model->parameters()) p.normal_(0.0, 0.02);
  safrl::engine::Engine engine(model, options);
  std::mt19937 rng(1);

  // The bound's pieces: a prefilled token's share of a 1024-token packed prefill (no cache, one
  // head row per sequence), the head's rows, and one pass over every weight.
  constexpr int64_t kPacked = 1024;
  std::vector<std::vector<int32_t>> packed;
  for (int i = 0; i < 4; ++i) packed.push_back(random_ids(rng, kPacked / 4));
  std::vector<safrl::engine::SequenceInput> packed_inputs;
  for (const auto& ids : packed) packed_inputs.push_back({ids});
  engine.last_logits(packed_inputs);
  const double per_token = median_seconds(1, [&] { engine.last_logits(packed_inputs); }) / kPacked;
  const at::Tensor rows = at::randn({seqs, config.hidden_size});
  model->logits(rows);
  const double head_rows = median_seconds(5, [&] { model->logits(rows); });
  double sink = 0;
  const double weight_read = median_seconds(5, [&] {
    for (const auto& p : model->parameters()) sink += p.sum().item<double>();
  });

  // The guard's caches: head -> group prefix -> own tokens, prefilled as the guard does.
  safrl::model::KvCache head_cache = engine.new_cache();
  const auto head_ids = random_ids(rng, head);
  engine.hidden_states({{head_ids, &head_cache}});
  std::vector<std::unique_ptr<safrl::model::KvCache>> caches;
  std::vector<std::vector<int32_t>> own_ids;
  for (int64_t g = 0; g * group < seqs; ++g) {
    safrl::model::KvCache group_cache = head_cache.fork();
    const auto prefix_ids = random_ids(rng, prefix);
    engine.hidden_states({{prefix_ids, &group_cache}});
    for (int64_t s = g * group; s < std::min(seqs, (g + 1) * group); ++s) {
      caches.push_back(std::make_unique<safrl::model::KvCache>(group_cache.fork()));
      own_ids.push_back(random_ids(rng, own));
    }
  }
  std::vector<safrl::engine::SequenceInput> inputs;
  for (int64_t s = 0; s < seqs; ++s) inputs.push_back({own_ids[s], caches[s].get()});
  engine.last_logits(inputs);

  std::vector<std::vector<int32_t>> step_ids(seqs, std::vector<int32_t>(1));
  auto next_inputs = [&] {
    std::vector<safrl::engine::SequenceInput> step;
    for (int64_t s = 0; s < seqs; ++s) {
      step_ids[s][0] = static_cast<int32_t>(rng() % 151000);
      step.push_back({step_ids[s], caches[s].get()});
    }
    return step;
  };
  // The same step without a cache: the linear layers and the per-sequence work, no attention
  // over a past.
  auto no_cache_inputs = [&] {
    std::vector<safrl::engine::SequenceInput> step;
    for (int64_t s = 0; s < seqs; ++s) step.push_back({step_ids[s]});
    return step;
  };
  engine.last_logits(next_inputs());
  const double step = median_seconds(steps, [&] { engine.last_logits(next_inputs()); });
  const double body = median_seconds(steps, [&] { engine.hidden_states(next_inputs()); });
  const double body_no_cache =
      median_seconds(steps, [&] { engine.hidden_states(no_cache_inputs()); });
  if (!trace.empty()) {
    torch::autograd::profiler::RecordProfile profile(trace);
    engine.last_logits(next_inputs());
  }
  const double bound = seqs * per_token + head_rows + weight_read;
  std::printf("threads %d, %lld sequences of %lld tokens (head %lld, group prefix %lld x %lld)\n",
              at::get_num_threads(), static_cast<long long>(seqs),
              static_cast<long long>(head + prefix + own), static_cast<long long>(head),
              static_cast<long long>(prefix), static_cast<long long>(group));
  std::printf("prefilled token %.2f ms, %lld head rows %.1f ms, weight read %.1f ms%s\n",
              per_token * 1e3, static_cast<long long>(seqs), head_rows * 1e3, weight_read * 1e3,
              sink == 0 ? " (weights all zero?)" : "");
  std::printf("step %.1f ms = %.1f prefilled tokens; bound %.1f ms; step / bound %.2f\n",
              step * 1e3, step / per_token, bound * 1e3, step / bound);
  std::printf(
      "  layers %.1f ms (of which attention over the cache %.1f ms), head and its "
      "reductions %.1f ms\n",
      body * 1e3, (body - body_no_cache) * 1e3, (step - body) * 1e3);
  return 0;
}
