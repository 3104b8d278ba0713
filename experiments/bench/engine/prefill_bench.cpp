// Prefill throughput of the engine on a model with real shapes and random weights, against the
// machine's float32 matrix-product rate measured in the same run.
//
//   prefill_bench CONFIG.json [--tokens 512,1024,2048,4096] [--repeats 2] [--storage float32]
//                 [--device cpu|cuda] [--dtype float32|bfloat16]
//
// Each batch packs sequences of spread lengths (64..512 tokens, like guard prompts) up to the
// token total, and asks for logits at each sequence's last token only, as the guard does.
// FLOPs counted by the engine (engine/work.h): 2 x (linear weights) per token, causal attention
// (QK^T and PV over the keys each query sees), and the LM head at one row per sequence.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/matmul_rate.h"
#include "io/model_config.h"
#include "util/mapped_file.h"
#include "util/process_memory.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::vector<int64_t> parse_list(const std::string& text) {
  std::vector<int64_t> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) out.push_back(std::stoll(item));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(
        stderr,
        "usage: %s CONFIG.json [--tokens a,b,c] [--repeats N] [--storage float32|bfloat16] "
        "[--device cpu|cuda] [--dtype float32|bfloat16]\n",
        argv[0]);
    return 2;
  }
  safrl::util::keep_freed_memory_for_reuse();  // as the safrl program does
  std::vector<int64_t> totals = {512, 1024, 2048, 4096};
  int repeats = 2;
  std::string storage = "float32", device = "cpu", dtype = "float32";
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--tokens")
      totals = parse_list(argv[i + 1]);
    else if (flag == "--repeats")
      repeats = std::stoi(argv[i + 1]);
    else if (flag == "--storage")
      storage = argv[i + 1];
    else if (flag == "--device")
      device = argv[i + 1];
    else if (flag == "--dtype")
      dtype = argv[i + 1];
  }
  c10::InferenceMode inference;
  const auto config = safrl::io::parse_model_config(safrl::util::read_text_file(argv[1]), argv[1]);
  safrl::model::RunOptions options;
  options.storage_dtype = safrl::engine::parse_dtype(storage);
  options.compute_dtype = safrl::engine::parse_dtype(dtype);
  options.device = safrl::engine::parse_device(device);
  safrl::model::QwenWithHead model(config, options.storage_dtype);
  at::manual_seed(0);
  for (auto& p : model->parameters()) p.normal_(0.0, 0.02);
  model->to(options.device);
  safrl::engine::Engine engine(model, options);

  const int64_t h = config.hidden_size, inner = config.intermediate_size;
  // The largest products of prefill: 2048 tokens x hidden x MLP width.
  const double peak = safrl::engine::matmul_gflops(options, 2048, h, inner);
  std::printf("intra-op threads %d, %s %s matmul 2048x%lldx%lld: %.1f GFLOP/s\n",
              at::get_num_threads(), device.c_str(), dtype.c_str(), static_cast<long long>(h),
              static_cast<long long>(inner), peak);
  std::printf("%8s %6s %10s %10s %9s %7s\n", "tokens", "seqs", "seconds", "tokens/s", "GFLOP/s",
              "ratio");
  std::mt19937 rng(1);
  for (int64_t total : totals) {
    std::vector<std::vector<int32_t>> sequences;
    for (int64_t used = 0; used < total;) {
      int64_t length = std::min<int64_t>(64 + rng() % 449, total - used);
      std::vector<int32_t> ids(length);
      for (auto& id : ids) id = static_cast<int32_t>(rng() % 151000);
      sequences.push_back(std::move(ids));
      used += length;
    }
    std::vector<safrl::engine::SequenceInput> inputs;
    for (const auto& ids : sequences) inputs.push_back({ids});
    engine.last_logits(inputs).cpu();  // warm-up (cpu(): waits for a GPU)
    const safrl::engine::Work before = engine.work();
    auto start = Clock::now();
    for (int r = 0; r < repeats; ++r) engine.last_logits(inputs).cpu();
    const double seconds = seconds_since(start) / repeats;
    const double gflops = (engine.work() - before).flops() / repeats / seconds / 1e9;
    std::printf("%8lld %6zu %10.3f %10.1f %9.1f %7.2f\n", static_cast<long long>(total),
                sequences.size(), seconds, total / seconds, gflops, gflops / peak);
  }
  return 0;
}
